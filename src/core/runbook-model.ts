// The runbook as the engine uses it, without the loader: its type, the graph helpers, inputs and alert matching.
// Nothing here loads the YAML parser, zod or the action registry, so a worker that received its runbooks already
// validated (src/cli/serve-world.ts) never holds them; src/core/runbook.ts parses and validates, and re-exports this.
import { ValidationError, type ValidationIssue } from './errors.js';
import { evaluate } from './expr.js';
import type { Alert, Json } from './types.js';
import type { InputDef, MatchRule, StepDef } from './runbook.js';

export interface Runbook {
  id: string;
  title: string;
  description?: string;
  match: { any?: MatchRule[]; all?: MatchRule[] };
  policy: { targetLock: 'wait' | 'refuse'; throttleMs?: number; approvers?: string[]; pushToBranch?: boolean };
  inputs: Record<string, InputDef>;
  start: string;
  steps: StepDef[];
  stepMap: Map<string, StepDef>;
  /** sha256 of the file's bytes: recorded with every run. */
  hash: string;
  file: string;
  source: string;
  /** What still works but will not for long (a deprecated param), with file, line and step; `runwright validate` prints them. */
  warnings: ValidationIssue[];
}

/** What the loader needs to know about actions: existence and required static params. */
export interface ActionCatalog {
  has(name: string): boolean;
  requiredParams?(name: string): string[] | undefined;
  /** Every known action name, listed when a runbook names an unknown one. */
  names?(): string[];
  /** Params still accepted but deprecated, with what to write instead. */
  deprecatedParams?(name: string): Record<string, string> | undefined;
}

export function stepKind(s: StepDef): 'action' | 'switch' | 'approval' | 'end' {
  if (s.approval) return 'approval';
  if (s.switch) return 'switch';
  if (s.end) return 'end';
  return 'action';
}

/** Edges out of a step, with the field they come from. */
export function edges(s: StepDef): { to: string; field: string }[] {
  const out: { to: string; field: string }[] = [];
  if (s.next) out.push({ to: s.next, field: 'next' });
  s.branches?.forEach((b, i) => out.push({ to: b.next, field: `branches[${i}].next` }));
  s.switch?.forEach((b, i) => out.push({ to: b.next, field: `switch[${i}].next` }));
  if (s.onError) out.push({ to: s.onError, field: 'onError' });
  if (s.onExhausted) out.push({ to: s.onExhausted, field: 'onExhausted' });
  if (s.onReject) out.push({ to: s.onReject, field: 'onReject' });
  return out;
}

export function parseDurationMs(v: string | number): number {
  if (typeof v === 'number') return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(v);
  if (!m) throw new Error(`bad duration ${v}`);
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms'];
  return Math.round(Number(m[1]) * mult);
}

export function typeMatches(type: InputDef['type'], v: unknown): boolean {
  if (type === 'array') return Array.isArray(v);
  if (type === 'object') return v !== null && typeof v === 'object' && !Array.isArray(v);
  return typeof v === type;
}

/**
 * Deny by default: every approval step must have someone allowed to decide it — the runbook's policy.approvers, the
 * step's approvers, or (for each target it can run on) the target's approvers, or the fallback list (SLACK_APPROVERS).
 * With adminsDecide (RUNWRIGHT_APPROVAL_DEFAULT=admins) a gate nobody is named for is decided by admins only.
 * Returns one issue per uncovered approval step, at its file and line.
 */
export function approvalCoverage(
  runbooks: Iterable<Runbook>,
  targets: Iterable<{ name: string; approvers?: string[] }>,
  opts: { fallback: string[]; adminsDecide: boolean },
): ValidationIssue[] {
  if (opts.fallback.length || opts.adminsDecide) return [];
  const open = [...targets].filter((t) => !t.approvers?.length).map((t) => t.name);
  if (!open.length) return [];
  const issues: ValidationIssue[] = [];
  for (const rb of runbooks) {
    if (rb.policy.approvers?.length) continue;
    for (const s of rb.steps) {
      if (!s.approval || s.approval.approvers?.length) continue;
      issues.push({
        file: rb.file,
        line: s.line,
        step: s.id,
        path: `steps.${s.id}.approval.approvers`,
        message: `nobody may decide approval step '${s.id}' on target${open.length > 1 ? 's' : ''} ${open.join(', ')}: name approvers (policy.approvers, the step's approval.approvers, the target's approvers or SLACK_APPROVERS), or set RUNWRIGHT_APPROVAL_DEFAULT=admins to let admins decide`,
      });
    }
  }
  return issues;
}

/** Resolve a run's inputs: defaults applied, required ones present, types and enums checked. */
export function resolveInputs(rb: Runbook, given: Record<string, unknown> = {}): Record<string, Json> {
  const issues: ValidationIssue[] = [];
  const out: Record<string, Json> = {};
  for (const k of Object.keys(given)) if (!Object.hasOwn(rb.inputs, k)) issues.push({ path: `inputs.${k}`, message: `runbook '${rb.id}' has no input '${k}'` });
  for (const [name, def] of Object.entries(rb.inputs)) {
    let v = given[name];
    if (v === undefined) v = def.default;
    if (v === undefined) {
      if (def.required !== false) issues.push({ path: `inputs.${name}`, message: `missing required input '${name}' (${def.type})` });
      continue;
    }
    if (def.type === 'number' && typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) v = Number(v);
    if (def.type === 'boolean' && (v === 'true' || v === 'false')) v = v === 'true';
    if (!typeMatches(def.type, v)) issues.push({ path: `inputs.${name}`, message: `input '${name}' must be a ${def.type}` });
    else if (def.enum && !def.enum.includes(v)) issues.push({ path: `inputs.${name}`, message: `input '${name}' must be one of ${JSON.stringify(def.enum)}` });
    else out[name] = v as Json;
  }
  if (issues.length) throw new ValidationError(issues);
  return out;
}

// A rule's pattern compiled once (rule objects live as long as their runbook; 'i' without 'g': test() keeps no state).
const patterns = new WeakMap<MatchRule, RegExp>();
function patternOf(r: MatchRule): RegExp {
  let re = patterns.get(r);
  if (!re) patterns.set(r, (re = new RegExp(r.pattern!, 'i')));
  return re;
}

async function ruleMatches(r: MatchRule, alert: Alert): Promise<boolean> {
  const text = alert.text ?? '';
  if (r.text !== undefined && !text.toLowerCase().includes(r.text.toLowerCase())) return false;
  if (r.pattern !== undefined && !patternOf(r).test(text)) return false;
  if (r.labels) {
    const labels = { ...(alert.resource?.labels ?? {}), ...alert.labels };
    for (const [k, v] of Object.entries(r.labels)) if (labels[k] !== v) return false;
  }
  if (r.expr !== undefined && (await evaluate(r.expr, { alert })) !== true) return false;
  return true;
}

/** Does this alert select this runbook? (text rules are case-insensitive substrings; patterns are the author's regexes.) */
export async function matchesAlert(rb: Runbook, alert: Alert): Promise<boolean> {
  if (rb.match.all?.length) {
    for (const r of rb.match.all) if (!(await ruleMatches(r, alert))) return false;
  }
  if (rb.match.any?.length) {
    for (const r of rb.match.any) if (await ruleMatches(r, alert)) return true;
    return false;
  }
  return true;
}
