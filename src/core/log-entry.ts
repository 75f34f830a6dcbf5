// The text a person reads in a structured log record: one function for the CLI (`--alert FILE`) and the HTTP
// intake (Pub/Sub push), so an alert reads the same whichever way it came in. Pure: no SDK, no I/O.
//
// Shapes: a Cloud Logging LogEntry (textPayload / jsonPayload / protoPayload), a Pub/Sub push envelope whose
// message.data is a base64 LogEntry, a list of entries (`gcloud logging read --format=json`), and the
// jsonPayload field names of the usual Python loggers: python-json-logger (`message` + `exc_info`), structlog
// (`event` + `exception`), Java/Go style (`stack_trace`, `stackTrace`, `error.stack`), and a `traceback` field.

/** Fields that carry the message, then fields that carry the traceback, in reading order. */
const MESSAGE_FIELDS = ['message', 'msg', 'event', 'error', 'err'] as const;
const TRACE_FIELDS = ['exception', 'exc_info', 'exc_text', 'stack_trace', 'stackTrace', 'stack', 'traceback', 'trace_back'] as const;

export interface LogEntryLike {
  textPayload?: unknown;
  jsonPayload?: unknown;
  protoPayload?: unknown;
}

function str(v: unknown, depth = 0): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && depth < 3) {
    const parts = v.map((x) => str(x, depth + 1)).filter((x): x is string => !!x);
    return parts.length ? parts.join('\n') : undefined;
  }
  // {message, stack} / {type, value, traceback} objects some loggers nest under `error` or `exception`
  if (v && typeof v === 'object' && depth < 3) return payloadText(v as Record<string, unknown>, depth + 1) || undefined;
  return undefined;
}

function join(parts: (string | undefined)[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const p of parts) {
    const t = p?.trim();
    // a traceback that already contains the message (or the other way round) is said once
    if (!t || seen.has(t) || out.some((o) => o.includes(t))) continue;
    for (let i = out.length - 1; i >= 0; i--) if (t.includes(out[i]!)) out.splice(i, 1);
    seen.add(t);
    out.push(t);
  }
  return out.join('\n');
}

/** A structured payload's message plus its separate traceback field(s); '' when it has none of them. */
export function payloadText(j: Record<string, unknown>, depth = 0): string {
  const fields = [...MESSAGE_FIELDS, 'value', 'type', ...TRACE_FIELDS];
  return join(fields.map((f) => (f in j ? str(j[f], depth) : undefined)));
}

/** The text of one LogEntry: textPayload, or jsonPayload's message plus its traceback, or protoPayload's status. */
export function logEntryText(e: LogEntryLike): string {
  if (typeof e.textPayload === 'string') return e.textPayload;
  if (e.jsonPayload && typeof e.jsonPayload === 'object' && !Array.isArray(e.jsonPayload)) {
    const j = e.jsonPayload as Record<string, unknown>;
    return payloadText(j) || JSON.stringify(j);
  }
  if (e.protoPayload && typeof e.protoPayload === 'object') {
    const p = e.protoPayload as { status?: { message?: string }; methodName?: string; resourceName?: string };
    return join([p.status?.message, p.methodName, p.resourceName]) || JSON.stringify(p);
  }
  return '';
}

export function isLogEntry(v: unknown): v is LogEntryLike {
  return !!v && typeof v === 'object' && !Array.isArray(v) && ('textPayload' in v || 'jsonPayload' in v || 'protoPayload' in v);
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** A Pub/Sub push envelope's data, decoded (undefined when it is not one, or its data is not base64 JSON). */
export function pubsubData(v: unknown): unknown {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const m = (v as { message?: unknown }).message;
  if (!m || typeof m !== 'object' || typeof (m as { data?: unknown }).data !== 'string') return undefined;
  const compact = ((m as { data: string }).data).replace(/\s+/g, '');
  if (!compact || !BASE64.test(compact)) return undefined;
  try {
    return JSON.parse(Buffer.from(compact, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * The alert text of any structured record: a Pub/Sub envelope (unwrapped), a LogEntry, a list of LogEntries,
 * or a bare structured log line (python-json-logger / structlog output). undefined when the value is none of these.
 */
export function structuredLogText(v: unknown): string | undefined {
  const inner = pubsubData(v);
  if (inner !== undefined) return structuredLogText(inner);
  if (isLogEntry(v)) return logEntryText(v);
  if (Array.isArray(v) && v.length && v.every(isLogEntry)) return join(v.slice(0, 200).map((e) => logEntryText(e)));
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const j = v as Record<string, unknown>;
    const hasTrace = TRACE_FIELDS.some((f) => f in j);
    if (hasTrace || typeof j.event === 'string') return payloadText(j) || undefined;
  }
  return undefined;
}
