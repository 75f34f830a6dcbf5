// The CLI commands that read runbooks and alerts in this process: validate, run, report (and the helpers they
// share). main.ts imports this module only for them, so `serve --role worker` never loads the YAML parser, zod or
// the action registry in its main thread.
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { loadTargets, matchTargets } from '../config/targets.js';
import type { Config } from '../config/config.js';
import { loadRunbookFiles, matchesAlert, parseRunbook, type Runbook } from '../core/runbook.js';
import { ValidationError, formatIssue } from '../core/errors.js';
import type { RunRecord, StepEvent, Target } from '../core/types.js';
import { defaultRegistry } from '../actions/index.js';
import { Engine } from '../engine/engine.js';
import { createLogger, silentLogger } from '../logging.js';
import { alertFromText } from './alert-file.js';
import { formatEvent } from './format.js';
import { EXIT, UsageError, checkRedis } from './preflight.js';
import { cliConfig } from './cli-config.js';
import { nextSteps, incidentReport, runPageUrl } from '../core/report.js';
import { statusTone } from '../core/step-summary.js';
import { RunStore } from '../engine/store.js';

function runbookFiles(args: string[], dir: string): string[] {
  if (args.length) return args;
  if (!existsSync(dir)) throw new UsageError(`no runbooks folder at ${dir}`);
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

export async function cmdValidate(files: string[], opts: { json?: boolean }): Promise<number> {
  const config = cliConfig();
  const registry = defaultRegistry();
  const list = runbookFiles(files, config.runbooksDir);
  let bad = 0;
  const results: unknown[] = [];
  for (const f of list) {
    try {
      if (!existsSync(f)) throw new ValidationError([{ file: f, message: 'file not found' }]);
      const rb = parseRunbook(readFileSync(f, 'utf8'), f, registry.catalog());
      results.push({ file: f, ok: true, id: rb.id, steps: rb.steps.length, hash: rb.hash, ...(rb.warnings.length ? { warnings: rb.warnings } : {}) });
      if (!opts.json) process.stdout.write(`ok    ${f}  (${rb.id}: ${rb.steps.length} steps, sha256 ${rb.hash.slice(0, 12)})\n`);
      if (!opts.json) for (const w of rb.warnings) process.stderr.write(`warning ${formatIssue(w)}\n`);
    } catch (e) {
      bad++;
      const issues = e instanceof ValidationError ? e.issues : [{ file: f, message: (e as Error).message }];
      results.push({ file: f, ok: false, issues });
      if (!opts.json) for (const i of issues) process.stderr.write(`error ${formatIssue(i)}\n`);
    }
  }
  if (opts.json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  return bad ? EXIT.failed : EXIT.ok;
}

/** The alert file's text; a missing or unreadable file is bad usage naming the file. */
function readAlert(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'not found' : code === 'EISDIR' ? 'is a folder, not a file' : code === 'EACCES' ? 'not readable (permission denied)' : (e as Error).message;
    throw new UsageError(`alert file ${file === '-' ? '(stdin)' : file}: ${why}`);
  }
}

export interface RunOpts {
  alert?: string;
  target?: string;
  targets?: string;
  platform?: 'local' | 'gcp';
  dryRun?: boolean;
  autoApprove?: boolean;
  json?: boolean;
  input?: string[];
  timeout?: string;
}

function loadRunbookArg(arg: string, config: Config): Runbook {
  const registry = defaultRegistry();
  if (/\.ya?ml$/.test(arg) && existsSync(arg)) return loadRunbookFiles([arg], registry.catalog()).values().next().value!;
  const dir = config.runbooksDir;
  const files = existsSync(dir) ? runbookFiles([], dir) : [];
  const all = loadRunbookFiles(files, registry.catalog());
  const rb = all.get(arg);
  if (!rb) throw new UsageError(`unknown runbook '${arg}' (known: ${[...all.keys()].join(', ') || 'none'} in ${dir})`);
  return rb;
}

export async function cmdRun(runbookArg: string | undefined, opts: RunOpts): Promise<number> {
  const config = cliConfig();
  if (!runbookArg) {
    const dir = config.runbooksDir;
    const known = existsSync(dir) ? runbookFiles([], dir).map((f) => path.basename(f).replace(/\.ya?ml$/, '')) : [];
    throw new UsageError(`which runbook? runwright run <runbook> --alert FILE (runbooks in ${dir}: ${known.join(', ') || 'none'})`);
  }
  if (!opts.alert) throw new UsageError(`no alert: runwright run ${runbookArg} --alert FILE (a JSON alert or log entry, or the error text; - reads stdin)`);
  const rb = loadRunbookArg(runbookArg, config);
  for (const w of rb.warnings) process.stderr.write(`warning ${formatIssue(w)}\n`);
  const targetsFile = opts.targets ?? config.targetsFile;
  if (!existsSync(targetsFile)) throw new UsageError(`targets file not found: ${targetsFile} (use --targets FILE or RUNWRIGHT_TARGETS; see runwright.targets.yaml.example)`);
  const targets = loadTargets(targetsFile);
  const content = readAlert(opts.alert);
  let alert: ReturnType<typeof alertFromText>;
  try {
    alert = alertFromText(content);
  } catch (e) {
    throw new UsageError(`alert file ${opts.alert === '-' ? '(stdin)' : opts.alert}: ${(e as Error).message.replace(/^alert file /, '')}`);
  }
  if (!(await matchesAlert(rb, alert))) process.stderr.write(`warning: the alert does not match runbook ${rb.id}'s match rules; running it anyway as asked\n`);
  let target: Target | undefined;
  if (opts.target) {
    target = targets.get(opts.target);
    if (!target) throw new UsageError(`unknown target '${opts.target}' (known: ${[...targets.keys()].join(', ')})`);
  } else {
    const m = matchTargets(targets.values(), alert);
    if (m.length !== 1) throw new UsageError(m.length ? `the alert matches several targets (${m.map((t) => t.name).join(', ')}): pick one with --target` : 'no target matches the alert\'s labels: name one with --target');
    target = m[0]!;
  }
  if (opts.platform) target = { ...target, platform: opts.platform };
  const inputs: Record<string, string> = {};
  for (const kv of opts.input ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new UsageError(`--input takes name=value, got '${kv}'`);
    inputs[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const logger = process.env.LOG_LEVEL ? createLogger({ level: process.env.LOG_LEVEL }) : silentLogger();
  const registry = defaultRegistry();
  await checkRedis(config.redisUrl);
  const engine = await Engine.create({ config, runbooks: new Map([[rb.id, rb]]), targets, registry, logger });
  const out = opts.json ? process.stderr : process.stdout;
  let offWorker = false;
  try {
    if ((await engine.workersAlive()) === 0) {
      await engine.startWorker();
      offWorker = true;
      out.write(`(no worker was running: started one in this process)\n`);
    }
    // Follow: buffer live events until we know the run id, then print history + live, in stream order.
    let runId: string | undefined;
    let lastId = '';
    const pending: StepEvent[] = [];
    const print = (ev: StepEvent) => {
      if (!runId || ev.runId !== runId || !ev.id || cmpId(ev.id, lastId) <= 0) return;
      lastId = ev.id;
      out.write(formatEvent(ev, { dryRun: opts.dryRun }) + '\n');
    };
    const off = await engine.store.subscribe((ev) => (runId ? print(ev) : pending.push(ev)));
    const res = await engine.submit({ runbookId: rb.id, alert, target, inputs, dryRun: opts.dryRun, autoApprove: opts.autoApprove });
    if (res.result === 'throttled') throw new UsageError('throttled');
    runId = res.run.id;
    out.write(`run ${runId}: runbook ${rb.id} (sha256 ${rb.hash.slice(0, 12)}) on target ${target.name} [${target.platform}]${opts.dryRun ? ' — DRY RUN, nothing written' : ''}\n`);
    for (const ev of await engine.store.events(runId)) print(ev);
    for (const ev of pending.splice(0)) print(ev);
    const timeoutMs = opts.timeout ? Number(opts.timeout) * 1000 : 30 * 60_000;
    const end = await engine.waitFor(runId, (r) => ['succeeded', 'failed', 'escalated', 'cancelled', 'refused'].includes(r.status) || (r.status === 'waiting_approval' && !opts.autoApprove && !opts.dryRun) || (r.status === 'waiting_lock' && !offWorker), timeoutMs);
    for (const ev of await engine.store.events(runId)) print(ev);
    await off();
    if (opts.json) process.stdout.write(JSON.stringify({ ...end, events: await engine.store.events(runId) }, null, 2) + '\n');
    else out.write(summary(end, await engine.store.events(runId)));
    if (end.status === 'succeeded') return EXIT.ok;
    if (end.status === 'waiting_approval' || end.status === 'waiting_lock') return EXIT.parked;
    return EXIT.failed;
  } finally {
    await engine.close();
  }
}

function cmpId(a: string, b: string): number {
  if (!b) return 1;
  const [a1, a2] = a.split('-').map(Number);
  const [b1, b2] = b.split('-').map(Number);
  return a1! - b1! || a2! - b2!;
}

function summary(r: RunRecord, events: StepEvent[]): string {
  const mark = { good: '✓', bad: '✗', warn: '⚑', neutral: '●' }[statusTone(r.status)];
  const lines = [`\n${mark} run ${r.id} ${r.status.toUpperCase()}${r.dryRun ? ' (DRY RUN: nothing was written)' : ''}${r.outcome ? ` — ${r.outcome.trim()}` : ''}`];
  if (r.status === 'waiting_approval') lines.push(`waiting for approval at step '${r.currentStep}': approve with the API or dashboard (exit 3)`);
  const next = nextSteps(r, events);
  if (next.length) lines.push('what to look at:', ...next.map((n) => `  - ${n}`));
  lines.push(`incident report: runwright report ${r.id}`);
  return lines.join('\n') + '\n';
}

export async function cmdReport(runId: string, opts: { json?: boolean }): Promise<number> {
  const config = cliConfig();
  await checkRedis(config.redisUrl);
  const store = new RunStore(config.redisUrl, config.prefix);
  try {
    const run = await store.get(runId);
    if (!run) throw new UsageError(`no run '${runId}' under prefix ${config.prefix} at ${config.redisUrl.replace(/\/\/[^@/]*@/, '//***@')} (REDIS_URL, RUNWRIGHT_PREFIX)`);
    const events = await store.events(runId);
    let title: string | undefined;
    try {
      title = loadRunbookArg(run.runbookId, config).title;
    } catch {
      title = undefined; // the runbook may have been removed since; the id still names it
    }
    const md = incidentReport(run, events, { runbookTitle: title, dashboardUrl: runPageUrl(config.api.dashboardUrl ?? config.http.publicUrl, run.id) });
    process.stdout.write(opts.json ? JSON.stringify({ runId, status: run.status, markdown: md }) + '\n' : md);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

