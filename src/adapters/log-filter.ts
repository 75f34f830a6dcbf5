// One definition of "which log entries count" for both logs adapters: the gcp adapter sends the filter string to
// Cloud Logging, the local adapter applies the same semantics to captured job lines and reports the same string.
import type { LogEntry, LogQuery } from '../ports/index.js';
import { PermanentError } from '../core/errors.js';

/** Cloud Logging's LogSeverity, in order. */
export const SEVERITIES = ['DEFAULT', 'DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL', 'ALERT', 'EMERGENCY'] as const;
export type Severity = (typeof SEVERITIES)[number];

export function severityRank(s: string | undefined): number {
  const i = SEVERITIES.indexOf(String(s ?? 'DEFAULT').toUpperCase() as Severity);
  return i < 0 ? 0 : i;
}

/** A severity name (any case, WARN/FATAL aliases) or LogSeverity number (0, 100 … 800) → its name; unknown → DEFAULT. */
export function normalizeSeverity(s: string | number | undefined): Severity {
  if (typeof s === 'number') return SEVERITIES[Math.min(Math.max(Math.floor(s / 100), 0), SEVERITIES.length - 1)]!;
  const up = String(s ?? '').toUpperCase();
  if (up === 'WARN') return 'WARNING';
  if (up === 'FATAL') return 'CRITICAL';
  return (SEVERITIES as readonly string[]).includes(up) ? (up as Severity) : 'DEFAULT';
}

/** A string literal in the Logging query language: quotes and backslashes escaped, so no term can end the literal. */
export function quote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r')}"`;
}

/** RFC 3339 in UTC; refuses anything that is not a date (the value ends up inside the filter). */
export function isoTimestamp(since: string): string {
  const d = new Date(since);
  if (Number.isNaN(d.getTime())) throw new PermanentError(`not a timestamp: ${JSON.stringify(since)}`, 'bad_timestamp');
  return d.toISOString();
}

export interface JobScope {
  resourceType: string;
  /** resource.labels restrictions, e.g. { job_name, location } */
  resourceLabels: Record<string, string>;
  /** the entry label that names the execution */
  executionLabel: string;
}

/**
 * The Logging query: every clause ANDed; text terms are ORed (an entry matches when it mentions any term,
 * case-insensitively, in any field). The timestamp bound is always present, which also stops the Node client
 * from adding its own 24-hour window.
 */
export function buildLogFilter(scope: JobScope, q: LogQuery): string {
  const clauses = [`resource.type=${quote(scope.resourceType)}`];
  for (const [k, v] of Object.entries(scope.resourceLabels)) clauses.push(`resource.labels.${k}=${quote(v)}`);
  if (q.execution) clauses.push(`labels.${quote(scope.executionLabel)}=${quote(q.execution)}`);
  if (q.minSeverity && severityRank(normalizeSeverity(q.minSeverity)) > 0) clauses.push(`severity>=${normalizeSeverity(q.minSeverity)}`);
  clauses.push(`timestamp>=${quote(isoTimestamp(q.since))}`);
  const terms = (q.textFilter ?? []).filter((t) => t.length > 0);
  if (terms.length === 1) clauses.push(quote(terms[0]!));
  else if (terms.length > 1) clauses.push(`(${terms.map(quote).join(' OR ')})`);
  return clauses.join(' AND ');
}

/** The same semantics applied in memory (local platform): a predicate over entries. */
export function entryMatcher(q: LogQuery): (e: LogEntry) => boolean {
  const since = Date.parse(isoTimestamp(q.since));
  const min = q.minSeverity ? severityRank(normalizeSeverity(q.minSeverity)) : 0;
  const terms = (q.textFilter ?? []).filter((t) => t.length > 0).map((t) => t.toLowerCase());
  return (e) => {
    if (Date.parse(e.timestamp) < since) return false;
    if (q.execution && e.execution !== q.execution) return false;
    if (severityRank(e.severity) < min) return false;
    if (terms.length === 0) return true;
    const hay = [e.text, ...Object.values(e.labels ?? {})].join('\n').toLowerCase();
    return terms.some((t) => hay.includes(t));
  };
}
