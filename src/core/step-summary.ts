// What a step found or did, in one line, and whether that is good news — shared by the CLI, the dashboard, Slack
// and the incident report so an outcome reads (and is coloured) the same everywhere. No SDK, no DOM.
import type { Json, StepEvent, StepState } from './types.js';

/** good = green, bad = red, warn = amber (escalated: a person must act), neutral = no verdict (a plan, a wait). */
export type Tone = 'good' | 'bad' | 'warn' | 'neutral';

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);
const sha = (v: unknown): string => (typeof v === 'string' ? v.slice(0, 12) : '?');

/** The end status an `end:` step reached ('succeeded' | 'failed' | 'escalated'), from its state or its event. */
export function endStatus(x: { output?: Json; message?: string } | undefined): 'succeeded' | 'failed' | 'escalated' | undefined {
  if (!x) return undefined;
  const o: unknown = x.output;
  if (isObj(o) && typeof o.end === 'string' && 'outcome' in o && ['succeeded', 'failed', 'escalated'].includes(o.end)) return o.end as 'succeeded';
  const m = typeof x.message === 'string' ? /^end: (succeeded|failed|escalated)\b/.exec(x.message) : null;
  return (m?.[1] as 'succeeded' | undefined) ?? undefined;
}

/** A step that finished without throwing may still report bad news (a deploy whose execution failed). */
function outputTone(o: unknown): Tone {
  if (!isObj(o)) return 'good';
  if (o.dryRun === true) return 'neutral';
  const end = endStatus({ output: o });
  if (end) return end === 'succeeded' ? 'good' : end === 'failed' ? 'bad' : 'warn';
  if ('executionName' in o && typeof o.status === 'string' && o.status !== 'succeeded') return 'bad';
  if (o.passed === false || o.ok === false) return 'bad';
  return 'good';
}

/** The tone of a step by its state (dashboard nodes, reports). */
export function stateTone(st: StepState | undefined): Tone {
  if (!st) return 'neutral';
  if (st.status === 'failed') return 'bad';
  if (st.status === 'succeeded') return outputTone(st.output);
  return 'neutral';
}

/** The tone of one event (CLI lines, timelines). */
export function eventTone(ev: StepEvent): Tone {
  if (ev.kind === 'failed' || ev.kind === 'rejected') return 'bad';
  if (ev.kind === 'approved') return 'good';
  if (ev.kind === 'succeeded') {
    const end = endStatus(ev);
    if (end) return end === 'succeeded' ? 'good' : end === 'failed' ? 'bad' : 'warn';
    return outputTone(ev.output);
  }
  if (ev.kind === 'run') {
    const out: unknown = ev.output;
    const s = isObj(out) ? out.status : undefined;
    if (s === 'succeeded') return 'good';
    if (s === 'failed' || s === 'cancelled' || s === 'refused') return 'bad';
    if (s === 'escalated') return 'warn';
  }
  return 'neutral';
}

/** The word for what happened: a step that ran but reported bad news "finished" (it did not succeed), an end step
 * says which end, a dry-run plan was "planned". */
export function eventWord(ev: StepEvent): string {
  if (ev.kind !== 'succeeded') return ev.kind;
  const end = endStatus(ev);
  if (end) return `end ${end}`;
  const tone = eventTone(ev);
  return tone === 'bad' ? 'finished' : tone === 'neutral' ? 'planned' : 'succeeded';
}

/** The tone of a run status. */
export function statusTone(status: string): Tone {
  if (status === 'succeeded') return 'good';
  if (status === 'failed' || status === 'cancelled' || status === 'refused') return 'bad';
  if (status === 'escalated') return 'warn';
  return 'neutral';
}

function firstLine(s: string, max = 200): string {
  const line = s.split(/\r?\n/).find((l) => l.trim())?.trim() ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** Fields that are plumbing (scratch paths, whole texts), never the news. */
const SKIP = new Set(['dir', 'diff', 'body', 'message', 'base', 'artifactDir']);

/** One line saying what a step found or did, read from its output (known shapes first, then a compact fallback). */
export function summarizeOutput(o: Json | unknown, max = 200): string {
  if (o === undefined || o === null) return '';
  if (!isObj(o)) return firstLine(JSON.stringify(o), max);
  const pre = o.dryRun === true ? 'DRY RUN, would ' : '';
  if (o.dryRun === true && typeof o.plan === 'string') return firstLine(`${pre}${o.plan.replace(/^\w/, (c) => c.toLowerCase())}`, max);
  const end = endStatus({ output: o });
  if (end) return firstLine(`end: ${end}${o.outcome ? ` — ${String(o.outcome)}` : ''}`, max);
  if (typeof o.summary === 'string' && o.summary.trim()) return firstLine(o.summary, max);
  const fix = typeof o.fix === 'string' ? `fix ${o.fix}` : '';
  if (Array.isArray(o.summary) && o.summary.length) return firstLine(`${fix ? `${fix}: ` : ''}${o.summary.map(String).join('; ')}`, max);
  if (fix && typeof o.reason === 'string') return firstLine(`${fix}${o.needsPerson ? ' (a person decides)' : ''}: ${o.reason}`, max);
  if (Array.isArray(o.relationships)) {
    const rels = o.relationships.filter(isObj);
    const bad = rels.filter((r) => r.verdict && r.verdict !== 'ok');
    const named = bad.slice(0, 3).map((r) => `${r.relationship}${Array.isArray(r.problems) && r.problems.length ? ` (${r.problems.join(', ')})` : ''}`);
    return firstLine(`${rels.length} relationship${rels.length === 1 ? '' : 's'} inspected, ${bad.length} broken${named.length ? `: ${named.join(', ')}${bad.length > 3 ? ', …' : ''}` : ''}`, max);
  }
  if (typeof o.decision === 'string' && typeof o.actor === 'string') return firstLine(`${o.decision} by ${o.actor}${o.choice ? ` (option ${o.choice})` : ''}${o.comment ? `: ${o.comment}` : ''}`, max);
  if ('executionName' in o && typeof o.status === 'string') {
    const t = isObj(o.taskCounts) ? ` (tasks: ${o.taskCounts.succeeded ?? 0} succeeded, ${o.taskCounts.failed ?? 0} failed)` : '';
    return firstLine(`execution ${o.executionName} ${o.status.toUpperCase()}${t}${o.image ? `, image ${sha(o.image)}` : ''}`, max);
  }
  if ('buildId' in o) return firstLine(`build ${o.buildId} of ${sha(o.commit)}${o.image && o.image !== o.commit ? `, image ${o.image}` : ''}`, max);
  if ('branch' in o && 'pushed' in o) {
    const where = `${o.branch}${o.remote ? ` of ${o.remote}` : ''}`;
    return firstLine(o.pushed ? `pushed ${sha(o.sha)} to ${where}` : `${sha(o.sha)} already on ${where} (nothing new pushed)${o.note ? `; ${o.note}` : ''}`, max);
  }
  if ('filter' in o && 'count' in o) return firstLine(`${o.count} matching log entr${o.count === 1 ? 'y' : 'ies'} since the deploy${o.executionStatus ? ` (execution ${o.executionStatus})` : ''}`, max);
  if (typeof o.sha === 'string' && 'created' in o) {
    const files = Array.isArray(o.files) ? `${o.files.length} file${o.files.length === 1 ? '' : 's'}` : '';
    return firstLine(`${o.created ? 'committed' : 'commit already there:'} ${sha(o.sha)} ${files}${o.subject ? ` — ${o.subject}` : ''}`, max);
  }
  if (typeof o.head === 'string' && (typeof o.checkout === 'string' || typeof o.dir === 'string')) return firstLine(`checked out ${o.branch ?? ''} at ${sha(o.head)}`.replace('  ', ' '), max);
  if ('image' in o && 'target' in o && 'platform' in o) return firstLine(`rolled ${o.target} back to ${o.image}`, max);
  const parts: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (v === null || v === undefined || typeof v === 'object' || SKIP.has(k) || (typeof v === 'string' && (v.startsWith('/') || v.includes('\n')))) continue;
    const s = typeof v === 'string' ? (v.length > 40 ? `${v.slice(0, 39)}…` : v) : String(v);
    parts.push(`${k}=${s}`);
    if (parts.join(' ').length > max) break;
  }
  return firstLine(parts.join(' ') || `{${Object.keys(o).slice(0, 6).join(', ')}}`, max);
}
