// Shared pieces of the intake normalizers: pure functions, no I/O.
import { createHash } from 'node:crypto';
import type { Alert } from '../../core/types.js';

/** A payload problem, named by the field it concerns: answered 400 and nothing is enqueued. */
export class IntakeError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'IntakeError';
    this.field = field;
  }
}

/** What a normalizer returns: alerts to match, and entries it deliberately did not turn into alerts (e.g. resolved). */
export interface Normalized {
  alerts: Alert[];
  skipped: { fingerprint?: string; reason: string }[];
  /** Alertmanager's groupKey: the alerts of one group and target make one run (the receiver's own dedup unit). */
  groupKey?: string;
}

/** Only string values survive (numbers and booleans are stringified); anything else is dropped. */
export function stringRecord(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!v || typeof v !== 'object' || Array.isArray(v)) return out;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (typeof x === 'string') out[k] = x;
    else if (typeof x === 'number' || typeof x === 'boolean') out[k] = String(x);
  }
  return out;
}

/** Stable hash of JSON-able parts (object keys sorted), hex, 32 chars. */
export function stableHash(...parts: unknown[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(stableStringify(p)).update('\u0000');
  return h.digest('hex').slice(0, 32);
}

function stableStringify(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  const keys = Object.keys(v as object).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify((v as Record<string, unknown>)[k])}`).join(',')}}`;
}

const SEVERITIES: Record<string, string> = {
  emergency: 'critical', alert: 'critical', critical: 'critical', crit: 'critical', fatal: 'critical', page: 'critical',
  error: 'error', err: 'error', high: 'error',
  warning: 'warning', warn: 'warning', medium: 'warning',
  notice: 'info', info: 'info', informational: 'info', low: 'info', debug: 'info', default: 'info',
};

/** Normalise a severity word to critical | error | warning | info (unknown words kept lower-cased). */
export function normSeverity(v: unknown, fallback = 'warning'): string {
  if (typeof v !== 'string' || !v.trim()) return fallback;
  const k = v.trim().toLowerCase();
  if (k === 'no severity') return fallback;
  return SEVERITIES[k] ?? k.slice(0, 40);
}

/** ISO time from an RFC3339 string or epoch seconds; undefined when unusable. */
export function isoTime(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) {
    // Past year 275760 (8.64e12 s) the Date is invalid and toISOString() throws a RangeError (answered 500).
    const d = new Date(v * 1000);
    return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
  }
  if (typeof v === 'string' && v) {
    const d = new Date(v);
    if (!Number.isNaN(d.getTime()) && d.getUTCFullYear() > 1) return d.toISOString();
  }
  return undefined;
}

export function joinText(parts: unknown[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const p of parts) {
    if (typeof p !== 'string') continue;
    const t = p.trim();
    if (t && !seen.has(t)) {
      seen.add(t);
      out.push(t);
    }
  }
  return out.join('\n');
}
