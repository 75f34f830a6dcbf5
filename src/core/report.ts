// The incident report of a run, in markdown, from the run record and its events alone — what the seed documents
// are by hand: the symptom, the cause found, the fix and its diff, how it was verified, who approved, the timeline,
// and (when a person must act) what to look at first. Also the "what next" lines the CLI prints at the end.
import type { Json, RunRecord, StepEvent, StepState } from './types.js';
import { endStatus, eventTone, eventWord, stateTone, statusTone, summarizeOutput, type Tone } from './step-summary.js';

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);
const short = (v: unknown) => (typeof v === 'string' ? v.slice(0, 12) : '');
const MARK: Record<Tone, string> = { good: '✅', bad: '❌', warn: '⚠️', neutral: '•' };

/** Steps in the order they were first reached (events carry the order; the record's map does not). */
function stepOrder(run: RunRecord, events: StepEvent[]): string[] {
  const seen: string[] = [];
  for (const ev of events) if (ev.step && ev.kind !== 'run' && !seen.includes(ev.step)) seen.push(ev.step);
  for (const id of Object.keys(run.steps)) if (!seen.includes(id)) seen.push(id);
  return seen;
}

function outputs(run: RunRecord, order: string[]): [string, StepState, Obj][] {
  return order.flatMap((id) => {
    const st = run.steps[id];
    const o: unknown = st?.output;
    return st && isObj(o) ? [[id, st, o] as [string, StepState, Obj]] : [];
  });
}

/** The error a check's output ends with: the last `SomeError: …` line (a Python traceback's own exception), else
 * the first line mentioning an error, else the last line. */
export function checkErrorLine(text: string): string {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const exc = lines.filter((l) => /^\w[\w.]*(Error|Exception)\b.*:/.test(l));
  return exc[exc.length - 1] ?? lines.find((l) => /error|exception/i.test(l) && !/^File "/.test(l)) ?? lines[lines.length - 1] ?? '';
}

interface Facts {
  commits: { step: string; sha: string; subject?: string; files: string[]; diff?: string }[];
  pushes: { step: string; branch: string; sha: string; remote?: string; pushed: boolean; dryRun: boolean }[];
  builds: { step: string; id: string; logUrl?: string; image?: string }[];
  executions: { step: string; name: string; status: string; previousImage?: string; image?: string }[];
  rollbacks: { step: string; image: string; dryRun: boolean }[];
  failedChecks: { step: string; line: string }[];
  files: string[];
  logs: { step: string; filter: string; count: number }[];
}

function facts(run: RunRecord, order: string[]): Facts {
  const f: Facts = { commits: [], pushes: [], builds: [], executions: [], rollbacks: [], failedChecks: [], files: [], logs: [] };
  const addFiles = (xs: unknown) => {
    if (Array.isArray(xs)) for (const x of xs) if (typeof x === 'string' && !f.files.includes(x)) f.files.push(x);
  };
  for (const [step, st, o] of outputs(run, order)) {
    if (st.status !== 'succeeded') continue;
    const dry = o.dryRun === true;
    if (typeof o.sha === 'string' && 'created' in o) f.commits.push({ step, sha: o.sha, subject: o.subject, files: Array.isArray(o.files) ? o.files : [], diff: typeof o.diff === 'string' ? o.diff : undefined });
    if ('branch' in o && 'pushed' in o && typeof o.sha === 'string') f.pushes.push({ step, branch: String(o.branch), sha: o.sha, remote: o.remote, pushed: o.pushed === true && !dry, dryRun: dry });
    if ('buildId' in o && !dry) f.builds.push({ step, id: String(o.buildId), logUrl: o.logUrl, image: o.image });
    if ('executionName' in o && typeof o.status === 'string' && !dry) f.executions.push({ step, name: String(o.executionName), status: o.status, previousImage: o.previousImage, image: o.image });
    if ('image' in o && 'platform' in o && 'target' in o) f.rollbacks.push({ step, image: String(o.image), dryRun: dry });
    if ('filter' in o && 'count' in o) f.logs.push({ step, filter: String(o.filter), count: Number(o.count) });
    addFiles(o.touched);
    addFiles(o.files);
    const check: unknown = o.check;
    if (isObj(check) && check.passed === false && typeof check.output === 'string') f.failedChecks.push({ step, line: checkErrorLine(check.output) });
  }
  for (const [step, st] of Object.entries(run.steps)) {
    const d: unknown = st.error?.details;
    if (st.status === 'failed' && isObj(d) && typeof d.filter === 'string') f.logs.push({ step, filter: d.filter, count: Number(d.count ?? 0) });
  }
  return f;
}

/**
 * What a person should look at when the run did not succeed: the check's first error line, the files, the review
 * branch if one was pushed ("Nothing pushed" only when true), and for a fix that did not cure whether it was rolled back.
 */
export function nextSteps(run: RunRecord, events: StepEvent[] = []): string[] {
  if (run.status === 'succeeded' || !['failed', 'escalated', 'cancelled', 'refused', 'waiting_approval'].includes(run.status)) return [];
  const order = stepOrder(run, events);
  const f = facts(run, order);
  const out: string[] = [];
  const failed = order.map((id) => [id, run.steps[id]] as const).filter(([, st]) => st?.status === 'failed');
  for (const [id, st] of failed) {
    const o: unknown = st!.output;
    // A rejected approval is recorded as a failed step without an error: say who rejected it.
    if (isObj(o) && o.decision === 'rejected') out.push(`approval '${id}' rejected by ${String(o.actor)}${typeof o.comment === 'string' && o.comment ? `: ${o.comment.split('\n')[0]}` : ''}`);
    else out.push(`step '${id}' failed: ${(st!.error?.message ?? '').split('\n')[0]}`);
  }
  // Once a fix was committed, the check that matters is the one after it (the original failure was the symptom).
  const lastCommit = f.commits.length ? order.indexOf(f.commits[f.commits.length - 1]!.step) : -1;
  for (const c of f.failedChecks.filter((x) => order.indexOf(x.step) > lastCommit)) out.push(`the check (step '${c.step}') fails with: ${c.line}`);
  if (f.files.length) out.push(`files involved: ${f.files.join(', ')}`);
  const pushed = f.pushes.filter((p) => p.pushed);
  const toTarget = pushed.filter((p) => p.branch === run.target.branch);
  const review = pushed.filter((p) => p.branch !== run.target.branch);
  for (const p of review) out.push(`review branch ${p.branch} (commit ${short(p.sha)}) pushed to ${p.remote ?? run.target.repo}`);
  for (const p of toTarget) out.push(`${short(p.sha)} was pushed to ${p.branch}${f.rollbacks.some((r) => !r.dryRun) ? '' : ': revert it if it made things worse'}`);
  if (!pushed.length) out.push(run.dryRun ? 'Nothing pushed (dry run).' : 'Nothing pushed: the target repository is unchanged.');
  const deployedBad = f.executions.filter((e) => e.status !== 'succeeded');
  if (deployedBad.length || (f.executions.length && run.status !== 'waiting_approval')) {
    const rb = f.rollbacks.filter((r) => !r.dryRun);
    if (rb.length) out.push(`rolled back: the job runs ${rb[rb.length - 1]!.image} again`);
    else {
      const prev = f.executions.find((e) => e.previousImage)?.previousImage;
      out.push(`not rolled back: the job still runs the fix${prev ? ` (previous image ${prev})` : ''}`);
    }
  }
  for (const l of f.logs.filter((x) => x.count > 0)) out.push(`logs (step '${l.step}'): ${l.count} matching entries for ${l.filter}`);
  return out;
}

const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const list = (xs: string[], n = 4) => (xs.length > n ? `${xs.slice(0, n).join(', ')} and ${xs.length - n} more` : xs.join(', '));
const firstLine = (s: unknown, n = 240) => {
  const l = typeof s === 'string' ? (s.split('\n').find((x) => x.trim()) ?? '').trim() : '';
  return l.length > n ? `${l.slice(0, n - 1)}…` : l;
};
const where = (path: unknown, line: unknown) => (typeof path === 'string' && path ? ` (${path}${typeof line === 'number' ? `:${line}` : ''})` : '');

/** One SQLAlchemy relationship problem (sqlalchemy.inspect's `problems[]`) in a line. */
function problemLine(p: Obj): string {
  const rel = typeof p.class === 'string' && typeof p.attr === 'string' ? `${p.class}.${p.attr}` : undefined;
  const target = typeof p.target === 'string' ? p.target : undefined;
  let what: string;
  if (p.kind === 'missing_class' && target) what = `relationship('${target}') names a class that does not exist${strs(p.close_to).length ? ` (close: ${list(strs(p.close_to))})` : ''}`;
  else if (p.kind === 'misspelled_class' && target) what = `relationship('${target}') names a class that does not exist; the only close class is ${strs(p.close_to)[0] ?? '?'}`;
  else what = firstLine(p.message).replace(rel ? new RegExp(`^${rel.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*:?\\s*`) : /^$/, '') || String(p.kind ?? 'a broken relationship');
  return `${rel ? `${rel}: ` : ''}${what}${where(p.path, p.line)}`;
}

/**
 * The cause in one line, distilled from the structured outputs of the diagnosis steps (found by their shape, as the
 * facts are): the inspected relationship problems the plan tied to the failure, else where SQLAlchemy failed in the
 * check; for Alembic the classified cause with what the fix step found (reserved names, missing model imports, the
 * driver mismatch, the database). Undefined when nothing structured says it (the step summaries then stand alone).
 */
export function causeFound(run: RunRecord, events: StepEvent[] = []): string | undefined {
  const outs = outputs(run, stepOrder(run, events)).filter(([, st]) => st.status === 'succeeded').map(([, , o]) => o);
  const find = (pred: (o: Obj) => boolean) => outs.find(pred);
  // SQLAlchemy mapper failures (sqlalchemy.identify → confirm → inspect → plan_fix).
  const confirm = find((o) => 'agreesWithAlert' in o || 'localisation' in o);
  const inspect = find((o) => Array.isArray(o.problems) && Array.isArray(o.relationships));
  const plan = find((o) => Array.isArray(o.tied) && 'sequence' in o);
  if (confirm?.healthy === true) return `the check passes at ${short(confirm.head) || 'the base'}: the alert is stale (nothing is broken now)`;
  if (inspect) {
    const problems = (inspect.problems as unknown[]).filter(isObj);
    const tied = strs(plan?.tied);
    const chosen = tied.length ? problems.filter((p) => tied.includes(`${p.class}.${p.attr}`)) : problems.filter((p) => strs(inspect.explained).includes(`${p.class}.${p.attr}`));
    const shown = chosen.length ? chosen : problems;
    if (shown.length) return shown.slice(0, 3).map(problemLine).join('; ') + (shown.length > 3 ? `; and ${shown.length - 3} more` : '');
  }
  if (confirm && typeof confirm.localisation === 'string' && confirm.localisation) return firstLine(confirm.localisation, 300);
  if (confirm && isObj(confirm.failure) && typeof confirm.failure.message === 'string') {
    const f = confirm.failure;
    return `${typeof f.property === 'string' ? `${f.property}: ` : ''}${typeof f.exceptionClass === 'string' ? `${f.exceptionClass}: ` : ''}${firstLine(f.message, 240)}${where(f.file, f.line)}`;
  }
  // Alembic autogenerate failures (alembic.reproduce / alembic.classify, then the fix step for the cause).
  const reproduce = find((o) => 'placed' in o && 'primary' in o && 'stage' in o);
  if (reproduce?.healthy === true) return `alembic autogenerate passes at ${short(reproduce.head) || 'the base'}: the alert is stale (nothing is broken now)`;
  const classify = reproduce ?? find((o) => 'primary' in o && isObj(o.has));
  if (classify) {
    const causes = strs(classify.causes);
    const lines: string[] = [];
    for (const cause of causes.length ? causes : [String(classify.primary ?? 'unknown')]) {
      if (cause === 'reserved_attr') {
        const fix = find((o) => Array.isArray(o.renamed) && 'reservedNames' in o);
        const renamed = (Array.isArray(fix?.renamed) ? fix!.renamed : []).filter(isObj);
        const names = renamed.length ? renamed.map((r) => `${r.class}.${r.attribute}`) : strs(classify.reservedAttributes);
        const reserved = [...new Set(renamed.length ? renamed.map((r) => String(r.attribute)) : strs(classify.reservedAttributes))];
        const files = [...new Set(renamed.map((r) => r.file).filter((x): x is string => typeof x === 'string'))];
        lines.push(`${list(names) || 'a model attribute'}: ${reserved.length ? reserved.map((n) => `'${n}'`).join(', ') : 'the name'} ${reserved.length > 1 ? 'are names' : 'is a name'} SQLAlchemy reserves on declarative classes${files.length ? ` (${list(files)})` : ''}`);
      } else if (cause === 'missing_imports') {
        const fix = find((o) => Array.isArray(o.missing) && 'envPy' in o);
        const missing = strs(fix?.missing);
        const dropped = strs(reproduce?.removedDeclared);
        lines.push(`${typeof fix?.envPy === 'string' ? fix.envPy : 'alembic/env.py'} does not import ${missing.length ? list(missing) : 'every model module'} before target_metadata${dropped.length ? `: autogenerate would drop ${list(dropped)}` : ''}`);
      } else if (cause === 'async_driver') {
        const fix = find((o) => 'envPy' in o && ('direction' in o || 'analysis' in o));
        lines.push(`${typeof fix?.envPy === 'string' ? fix.envPy : 'alembic/env.py'} and the database driver disagree (async vs sync)${typeof fix?.direction === 'string' ? `: ${fix.direction}` : ''}${typeof classify.driver === 'string' ? ` (driver ${classify.driver})` : ''}`);
      } else if (cause === 'db_unavailable') {
        const wait = find((o) => 'available' in o && 'attempts' in o);
        lines.push(`the database did not answer${wait && typeof wait.lastError === 'string' ? `: ${firstLine(wait.lastError, 200)}` : ''}${wait?.available === true ? ' (it answers now)' : ''}`);
      } else {
        const hit = (Array.isArray(classify.hits) ? classify.hits : []).find(isObj);
        const text = typeof reproduce?.failureText === 'string' ? checkErrorLine(reproduce.failureText) : '';
        lines.push(`alembic fails${typeof reproduce?.stage === 'string' ? ` at ${reproduce.stage}` : ''}${hit && typeof hit.signal === 'string' ? `: ${hit.signal}` : text ? `: ${firstLine(text, 240)}` : ' for a reason runwright does not classify'}`);
      }
    }
    return lines.join('; ');
  }
  const identify = find((o) => 'route' in o && 'signatures' in o);
  if (identify && identify.route !== 'proceed' && typeof identify.why === 'string') return firstLine(identify.why);
  return undefined;
}

/** A step worth a line of its own: it ran an action (not an end, a switch or an approval). */
function reported(st: StepState | undefined): st is StepState {
  if (!st || (st.status !== 'succeeded' && st.status !== 'failed') || endStatus(st)) return false;
  const o: unknown = st.output;
  return !(isObj(o) && (typeof o.decision === 'string' || 'chose' in o));
}

function mdEscape(s: string): string {
  return s.replace(/([\\`*[\]|<>])/g, '\\$1');
}

function fence(text: string, lang = ''): string {
  const longest = Math.max(2, ...(text.match(/`+/g) ?? []).map((m) => m.length));
  const f = '`'.repeat(longest + 1);
  return `${f}${lang}\n${text.replace(/\n$/, '')}\n${f}`;
}

function dur(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = Math.round(ms / 100) / 10;
  return s < 120 ? `${s} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** The run's dashboard page under a base URL (the service's public URL, or the dashboard's own). */
export function runPageUrl(base: string | undefined, runId: string): string | undefined {
  if (!base) return undefined;
  const b = base.replace(/\/+$/, '');
  return `${/\/dashboard$/.test(b) ? b : `${b}/dashboard`}/runs/${encodeURIComponent(runId)}`;
}

export interface ReportOptions {
  runbookTitle?: string;
  /** Link to the run's dashboard page. */
  dashboardUrl?: string;
}

/** The markdown incident report of one run. */
export function incidentReport(run: RunRecord, events: StepEvent[], opts: ReportOptions = {}): string {
  const order = stepOrder(run, events);
  const f = facts(run, order);
  const L: string[] = [];
  const tone = statusTone(run.status);
  const title = opts.runbookTitle ?? run.runbookId;
  L.push(`# Incident report: ${mdEscape(title)} on ${mdEscape(run.target.name)}${run.dryRun ? ' (DRY RUN)' : ''}`);
  L.push('');
  L.push(`**Status:** ${MARK[tone]} **${run.status.toUpperCase()}**${run.outcome ? ` — ${mdEscape(run.outcome.trim())}` : ''}  `);
  if (run.dryRun) L.push('**Dry run:** every side-effecting step was planned, not done; nothing was written.  ');
  L.push(`**Run:** \`${run.id}\` · runbook \`${run.runbookId}\` (sha256 \`${run.runbookHash.slice(0, 12)}\`) · target \`${run.target.name}\` (${run.target.platform}, ${mdEscape(run.target.repo)} ${run.target.branch})  `);
  const end = run.finishedAt ?? run.updatedAt;
  L.push(`**Started:** ${run.createdAt} · **${run.finishedAt ? 'Finished' : 'Last update'}:** ${end} (${dur(Date.parse(end) - Date.parse(run.createdAt))})  `);
  if (opts.dashboardUrl) L.push(`**Dashboard:** ${opts.dashboardUrl}  `);
  L.push('');

  L.push('## Symptom', '');
  L.push(`Alert from \`${run.alert.source}\` (severity ${run.alert.severity}, fingerprint \`${run.alert.fingerprint}\`) received ${run.alert.receivedAt}${run.alertCount && run.alertCount > 1 ? `; ${run.alertCount} alerts attached, last ${run.lastSeenAt}` : ''}.`);
  const labels = Object.entries({ ...(run.alert.resource?.labels ?? {}), ...run.alert.labels });
  if (labels.length) L.push(`Labels: ${labels.map(([k, v]) => `\`${k}=${v}\``).join(', ')}.`);
  L.push('', fence(run.alert.text.length > 4000 ? `${run.alert.text.slice(0, 4000)}\n[…]` : run.alert.text), '');

  // Diagnosis: what the steps found before anything was changed.
  const firstChange = order.findIndex((id) => f.commits.some((c) => c.step === id) || isObj(run.steps[id]?.output) && (Array.isArray((run.steps[id]!.output as Obj).touched)));
  const diagnosis = order.slice(0, firstChange < 0 ? order.length : firstChange).filter((id) => {
    const st = run.steps[id];
    return reported(st);
  });
  L.push('## Cause found', '');
  const cause = causeFound(run, events);
  if (cause) L.push(`**${mdEscape(cause)}**`, '');
  if (!diagnosis.length) L.push('No diagnosis step ran.');
  for (const id of diagnosis) {
    const st = run.steps[id]!;
    const line = st.status === 'failed' ? `failed: ${(st.error?.message ?? '').split('\n')[0]}` : summarizeOutput(st.output, 400);
    L.push(`- ${MARK[stateTone(st)]} **${id}**: ${mdEscape(line)}`);
  }
  for (const c of f.failedChecks.filter((x) => diagnosis.includes(x.step))) L.push(`- the target's own check fails with: \`${c.line.replace(/`/g, "'")}\``);
  L.push('');

  L.push('## Fix', '');
  const changeSteps = order.filter((id) => {
    const o: unknown = run.steps[id]?.output;
    return isObj(o) && (Array.isArray(o.touched) || (typeof o.sha === 'string' && 'created' in o));
  });
  if (!changeSteps.length) L.push('No change was made to the repository.');
  for (const id of changeSteps) L.push(`- **${id}**: ${mdEscape(summarizeOutput(run.steps[id]!.output, 400))}`);
  for (const c of f.commits) {
    L.push('', `Commit \`${c.sha.slice(0, 12)}\`${c.subject ? ` — ${mdEscape(c.subject)}` : ''}${c.files.length ? ` (${c.files.map((x) => `\`${x}\``).join(', ')})` : ''}`);
    if (c.diff) L.push('', fence(c.diff.length > 20_000 ? `${c.diff.slice(0, 20_000)}\n[diff truncated]` : c.diff, 'diff'));
  }
  if (f.pushes.length) {
    L.push('');
    for (const p of f.pushes) L.push(`- ${p.dryRun ? 'would push (dry run)' : p.pushed ? 'pushed' : 'already on the remote'} \`${p.sha.slice(0, 12)}\` → \`${p.branch}\`${p.remote ? ` of ${mdEscape(p.remote)}` : ''} (step ${p.step})`);
  }
  L.push('');

  L.push('## Verification', '');
  const after = changeSteps.length ? order.slice(order.indexOf(changeSteps[changeSteps.length - 1]!) + 1) : [];
  const verifySteps = after.filter((id) => {
    return reported(run.steps[id]);
  });
  if (!verifySteps.length) L.push('Nothing was verified after a change (no change was made, or the run stopped before).');
  for (const id of verifySteps) {
    const st = run.steps[id]!;
    const line = st.status === 'failed' ? `failed: ${(st.error?.message ?? '').split('\n')[0]}` : summarizeOutput(st.output, 400);
    L.push(`- ${MARK[stateTone(st)]} **${id}**: ${mdEscape(line)}`);
  }
  for (const b of f.builds) L.push(`- build \`${b.id}\`${b.logUrl ? ` — log ${b.logUrl}` : ''}`);
  for (const e of f.executions) L.push(`- execution \`${e.name}\` ${e.status}`);
  for (const l of f.logs) L.push(`- log query (${l.count} matching): \`${l.filter.replace(/`/g, "'")}\``);
  for (const r of f.rollbacks) L.push(`- ${r.dryRun ? 'would roll back (dry run)' : 'rolled back'} to \`${r.image}\``);
  L.push('');

  L.push('## Approvals', '');
  const approvals = run.approvals ?? (run.approval ? [run.approval] : []);
  if (!approvals.length) L.push('No approval was asked for or given.');
  for (const a of approvals) L.push(`- ${a.decision === 'approved' ? '✅ approved' : '❌ rejected'} by **${mdEscape(a.actor)}** at ${a.at}${a.choice ? `, option ${a.choice}` : ''}${a.comment ? `: ${mdEscape(a.comment)}` : ''}`);
  L.push('');

  const next = nextSteps(run, events);
  if (next.length) {
    L.push('## What a person should look at', '');
    for (const n of next) L.push(`- ${mdEscape(n)}`);
    L.push('');
  }

  L.push('## Timeline', '', '| time (UTC) | step | event | detail |', '|---|---|---|---|');
  for (const ev of events) {
    if (ev.kind === 'progress' || ev.kind === 'started') continue;
    const detail = ev.kind === 'failed' ? (ev.error?.message ?? '') : ev.message ?? summarizeOutput(ev.output as Json | undefined);
    const what = ev.kind === 'run' ? 'run' : eventWord(ev);
    const cell = (s: string) => mdEscape(s.replace(/\s*\n\s*/g, ' ')).slice(0, 300);
    L.push(`| ${ev.at.slice(11, 19)} | ${ev.step || '—'} | ${MARK[eventTone(ev)]} ${what}${ev.attempt > 1 ? ` (attempt ${ev.attempt})` : ''}${ev.durationMs !== undefined ? ` · ${dur(ev.durationMs)}` : ''} | ${cell(detail)}${ev.actor && ev.kind !== 'run' ? ` (by ${cell(ev.actor)})` : ''} |`);
  }
  L.push('', `_Generated by runwright from run ${run.id} at ${new Date().toISOString()}._`, '');
  return L.join('\n');
}
