import { pino } from 'pino';
import type { Logger } from './core/action.js';
import type { TraceContext } from './core/types.js';

export type { TraceContext };

/** Cloud Logging's LogSeverity for each pino level (it reads `severity` from a JSON log line). */
const SEVERITY: Record<string, string> = { trace: 'DEBUG', debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR', fatal: 'CRITICAL' };

/** On Cloud Run (K_SERVICE / K_JOB) or wherever GOOGLE_CLOUD_PROJECT is set, log lines carry `severity`. */
export function onGoogleCloud(env: NodeJS.ProcessEnv = process.env): boolean {
  return !!(env.K_SERVICE || env.K_JOB || env.GOOGLE_CLOUD_PROJECT);
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const CLOUD_TRACE = /^([0-9a-fA-F]{32})(?:\/([0-9]{1,20}))?(?:;o=([0-9]+))?$/;
const zero = (hex: string) => /^0+$/.test(hex);

/** A header given once and of sane length, trimmed. */
const one = (v: string | string[] | undefined) => (typeof v === 'string' && v.length <= 512 ? v.trim() : undefined);

/**
 * The trace of a request from its headers: `traceparent` (W3C Trace Context) first, else `X-Cloud-Trace-Context`
 * (`TRACE_ID/SPAN_ID;o=OPTIONS`). Strict: ids of the right length in hex, not all zero, version ff refused, a span id
 * that fits 64 bits; anything else is no trace (never echoed). A value repeated in the headers is not trusted either.
 */
export function traceFromHeaders(headers: Record<string, string | string[] | undefined>): TraceContext | undefined {
  const tp = one(headers.traceparent);
  if (tp) {
    const m = TRACEPARENT.exec(tp);
    // Version 00 has exactly four fields; a later version may add more (W3C: parse the first four).
    if (m && m[1] !== 'ff' && !(m[1] === '00' && m[5]) && !zero(m[2]!) && !zero(m[3]!)) return { traceId: m[2]!, spanId: m[3]!, sampled: (parseInt(m[4]!, 16) & 1) === 1 };
  }
  const ct = one(headers['x-cloud-trace-context']);
  if (ct) {
    const m = CLOUD_TRACE.exec(ct);
    if (m && !zero(m[1]!)) {
      const t: TraceContext = { traceId: m[1]!.toLowerCase() };
      if (m[2]) {
        const span = BigInt(m[2]);
        if (span > 0n && span < 2n ** 64n) t.spanId = span.toString(16).padStart(16, '0');
      }
      if (m[3] !== undefined) t.sampled = (Number(m[3]) & 1) === 1;
      return t;
    }
  }
  return undefined;
}

/** Is this a TraceContext as traceFromHeaders makes them (a run record's `trace` is checked again before use)? */
export function isTraceContext(v: unknown): v is TraceContext {
  const t = v as TraceContext;
  return !!t && typeof t === 'object' && typeof t.traceId === 'string' && /^[0-9a-f]{32}$/.test(t.traceId) && (t.spanId === undefined || (typeof t.spanId === 'string' && /^[0-9a-f]{16}$/.test(t.spanId))) && (t.sampled === undefined || typeof t.sampled === 'boolean');
}

/** The project whose Cloud Trace the trace ids belong to (Cloud Run does not set it: the deploy files do). */
function projectOf(env: NodeJS.ProcessEnv): string | undefined {
  const p = env.GOOGLE_CLOUD_PROJECT || env.GCLOUD_PROJECT;
  return p && /^[a-z0-9][a-z0-9.:-]{0,99}$/.test(p) ? p : undefined;
}

/**
 * Log fields for a trace: on Google Cloud with a known project, Cloud Logging's special fields
 * (`logging.googleapis.com/trace` = projects/<project>/traces/<id>, `…/spanId`, `…/trace_sampled`), which tie the
 * line to the request's trace; elsewhere plain `traceId`/`spanId`/`traceSampled`.
 */
export function traceFields(t: TraceContext | undefined, env: NodeJS.ProcessEnv = process.env): Record<string, string | boolean> {
  if (!isTraceContext(t)) return {};
  const project = onGoogleCloud(env) ? projectOf(env) : undefined;
  if (project) {
    return {
      'logging.googleapis.com/trace': `projects/${project}/traces/${t.traceId}`,
      ...(t.spanId ? { 'logging.googleapis.com/spanId': t.spanId } : {}),
      ...(t.sampled !== undefined ? { 'logging.googleapis.com/trace_sampled': t.sampled } : {}),
    };
  }
  return { traceId: t.traceId, ...(t.spanId ? { spanId: t.spanId } : {}), ...(t.sampled !== undefined ? { traceSampled: t.sampled } : {}) };
}

/** Keys whose values never reach a log line: at the top of a log object and up to two levels below. */
const SECRET_KEYS = ['token', 'password', 'secret', 'signingSecret', 'authorization', 'apiTokens', 'clientSecret', 'privateKey', 'private_key'];

/** Structured JSON logs. Secrets are redacted by key wherever they appear (top level and two levels down). */
export function createLogger(opts: { level?: string; name?: string; destination?: NodeJS.WritableStream; env?: NodeJS.ProcessEnv } = {}): Logger & pino.Logger {
  const level = opts.level ?? process.env.LOG_LEVEL ?? 'info';
  return pino(
    {
      name: opts.name ?? 'runwright',
      level,
      ...(onGoogleCloud(opts.env) ? { formatters: { level: (label: string, n: number) => ({ severity: SEVERITY[label] ?? 'DEFAULT', level: n }) } } : {}),
      redact: {
        paths: [...SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]), 'req.headers["x-slack-signature"]', 'config.slack.token'],
        censor: '[redacted]',
      },
    },
    (opts.destination as any) ?? pino.destination({ dest: 2, sync: false }),
  ) as any;
}

/** A logger that drops everything (tests, CLI quiet mode). */
export function silentLogger(): Logger & pino.Logger {
  return pino({ level: 'silent' }) as any;
}
