// Shared by the gcp adapters: Google API errors → typed errors, waiting for a long-running operation with a
// bounded timeout, protobuf timestamps and enums as plain values.
import { setTimeout as delay } from 'node:timers/promises';
import { createHash } from 'node:crypto';
import { PermanentError, RetryableError, RunwrightError } from '../../core/errors.js';
import type { GcpSettings } from './auth.js';

/** google.rpc.Code names by number. */
const RPC_CODES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];
/** Codes that trying again cannot change: bad request, missing resource, no permission. */
const PERMANENT = new Set(['INVALID_ARGUMENT', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'FAILED_PRECONDITION', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'UNAUTHENTICATED']);

/** HTTP status → google.rpc.Code name, for REST errors whose body names no status. */
const HTTP_CODES: Record<number, string> = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 409: 'ABORTED', 412: 'FAILED_PRECONDITION', 429: 'RESOURCE_EXHAUSTED', 499: 'CANCELLED', 500: 'INTERNAL', 501: 'UNIMPLEMENTED', 502: 'UNAVAILABLE', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED' };

/**
 * The google.rpc.Code name of a client error. Operation errors carry the numeric code; REST call errors come
 * from the HTTP layer with the HTTP status as `code` and the API's JSON error body ({error: {code, message,
 * status}}) as the message.
 */
export function rpcStatus(e: unknown): { status?: string; message: string } {
  const err = e as { code?: unknown; message?: unknown; response?: { status?: unknown } };
  const message = typeof err?.message === 'string' ? err.message : String(e);
  let body: { error?: { status?: unknown; message?: unknown } } | undefined;
  try {
    body = JSON.parse(message);
  } catch {
    body = undefined;
  }
  if (body?.error && typeof body.error.status === 'string') return { status: body.error.status, message: String(body.error.message ?? message) };
  const code = typeof err?.code === 'number' ? err.code : Number(err?.response?.status);
  if (Number.isInteger(code) && code >= 0 && code < RPC_CODES.length && !err?.response) return { status: RPC_CODES[code], message };
  return { status: HTTP_CODES[Number(err?.response?.status ?? code)], message };
}

/** Wrap an error from a Google client call: NOT_FOUND/PERMISSION_DENIED/... permanent, UNAVAILABLE/DEADLINE/... retryable. */
export function gcpError(e: unknown, what: string, details?: Record<string, unknown>): RunwrightError {
  if (e instanceof RunwrightError) return e;
  const { status, message } = rpcStatus(e);
  const msg = `${what}: ${status ? `${status}: ` : ''}${message}`;
  const info = { ...details, rpcStatus: status ?? null };
  if (status && PERMANENT.has(status)) return new PermanentError(msg, `gcp_${status.toLowerCase()}`, info, e);
  return new RetryableError(msg, status ? `gcp_${status.toLowerCase()}` : 'gcp_transient', info, e);
}

/** Call options for one RPC: the deadline bounds the client's own retries too. */
export function callOptions(s: GcpSettings, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { timeout: s.rpcTimeoutMs, ...extra };
}

/** Call options for an RPC that returns a long-running operation: how often to poll it. */
export function lroCallOptions(s: GcpSettings, totalTimeoutMs: number): Record<string, unknown> {
  return callOptions(s, {
    longrunning: {
      initialRetryDelayMillis: s.pollInitialMs,
      retryDelayMultiplier: 1.5,
      maxRetryDelayMillis: Math.max(s.pollInitialMs, s.pollMaxMs),
      initialRpcTimeoutMillis: s.rpcTimeoutMs,
      rpcTimeoutMultiplier: 1,
      maxRpcTimeoutMillis: s.rpcTimeoutMs,
      totalTimeoutMillis: totalTimeoutMs,
    },
  });
}

/** The part of a google-gax Operation this module uses. */
export interface PollableOperation<R, M> {
  name?: string | null;
  metadata?: M | null;
  on(event: 'complete', cb: (result: R, metadata: M) => void): unknown;
  on(event: 'error', cb: (err: Error) => void): unknown;
  removeAllListeners(): unknown;
}

/**
 * Poll `op` (the client's own polling, with the backoff given at call time) until it completes, fails, runs past
 * `timeoutMs`, or `signal` aborts. A timeout is retryable: the caller re-finds the same work by its key and waits again.
 * Operation errors are rethrown as they come (the caller knows what they mean).
 */
export function waitOperation<R, M>(op: PollableOperation<R, M>, opts: { timeoutMs: number; signal?: AbortSignal; what: string }): Promise<{ result: R; metadata: M | null | undefined }> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      op.removeAllListeners(); // stops the client's polling loop
      fn();
    };
    const timer = setTimeout(
      () => finish(() => reject(new RetryableError(`${opts.what} did not finish within ${opts.timeoutMs} ms`, 'gcp_operation_timeout', { operation: op.name ?? null, timeoutMs: opts.timeoutMs }))),
      opts.timeoutMs,
    );
    const onAbort = () => finish(() => reject(new RetryableError(`${opts.what}: aborted while waiting`, 'aborted', { operation: op.name ?? null })));
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    op.on('error', (err) => finish(() => reject(err)));
    op.on('complete', (result, metadata) => finish(() => resolve({ result, metadata: metadata ?? op.metadata })));
  });
}

/** Poll `probe` with the configured backoff until it returns a value, within `timeoutMs`. */
export async function pollUntil<T>(probe: () => Promise<T | undefined>, s: GcpSettings, opts: { timeoutMs: number; signal?: AbortSignal; what: string }): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let wait = s.pollInitialMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    const left = deadline - Date.now();
    if (left <= 0) throw new RetryableError(`${opts.what} did not finish within ${opts.timeoutMs} ms`, 'gcp_operation_timeout', { timeoutMs: opts.timeoutMs });
    try {
      await delay(Math.min(wait, left), undefined, { signal: opts.signal });
    } catch {
      throw new RetryableError(`${opts.what}: aborted while waiting`, 'aborted');
    }
    wait = Math.min(wait * 1.5, Math.max(s.pollInitialMs, s.pollMaxMs));
  }
}

/** google.protobuf.Timestamp as decoded by the clients ({seconds, nanos}, a Date or an RFC 3339 string) → ISO string. */
export function isoTime(t: unknown): string | undefined {
  if (t === null || t === undefined || t === '') return undefined;
  if (typeof t === 'string') return new Date(t).toISOString();
  if (t instanceof Date) return t.toISOString();
  const o = t as { seconds?: unknown; nanos?: unknown };
  const secs = Number(o.seconds ?? 0);
  const nanos = Number(o.nanos ?? 0);
  if (!secs && !nanos) return undefined;
  return new Date(secs * 1000 + Math.floor(nanos / 1e6)).toISOString();
}

/** A protobuf enum value (number from raw messages, name from decoded results) → its name. */
export function enumName(v: unknown, values: Record<string | number, string | number>): string {
  if (typeof v === 'number') return String(values[v] ?? v);
  return String(v ?? '');
}

/** A short stable token for an idempotency key, safe where Google restricts characters (tags, labels). */
export function keyToken(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 24);
}
