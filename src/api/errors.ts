// One error shape for every 4xx/5xx: { error: <code>, message: <what is wrong, naming the field>, field?, issues? }.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RunwrightError, ValidationError } from '../core/errors.js';
import { IntakeError } from './intake/common.js';

export class HttpError extends Error {
  /** retryAfterSec: sent as Retry-After (429 and 503 answers). */
  constructor(readonly statusCode: number, readonly code: string, message: string, readonly field?: string, readonly retryAfterSec?: number) {
    super(message);
    this.name = 'HttpError';
  }
}

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'machine-readable code, e.g. bad_request, unauthorized, not_found, conflict' },
    message: { type: 'string', description: 'what is wrong, naming the field or header' },
    field: { type: 'string' },
    issues: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
  },
} as const;

interface Body {
  error: string;
  message: string;
  field?: string;
  issues?: { path?: string; message: string }[];
}

/** Turn a fastify/ajv validation error into "body.alerts[0].labels: must be object". */
function validationBody(err: FastifyError): Body {
  const v = err.validation?.[0] as { instancePath?: string; params?: Record<string, unknown>; message?: string } | undefined;
  const where = err.validationContext ?? 'body';
  let path = (v?.instancePath ?? '').split('/').filter(Boolean).map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)).join('');
  if (v?.params?.missingProperty) path += `.${String(v.params.missingProperty)}`;
  if (v?.params?.additionalProperty) path += `.${String(v.params.additionalProperty)}`;
  const field = `${where}${path}`;
  let msg = v?.message ?? err.message;
  if (v?.params?.missingProperty) msg = 'is required';
  else if (v?.params?.additionalProperty) msg = 'is not a known field';
  else if (v?.params?.allowedValue !== undefined) msg = `must be ${JSON.stringify(v.params.allowedValue)}`;
  else if (Array.isArray(v?.params?.allowedValues)) msg = `must be one of ${(v!.params!.allowedValues as unknown[]).map((x) => JSON.stringify(x)).join(', ')}`;
  return { error: 'bad_request', message: `${field}: ${msg}`, field: field.replace(/^body\.?/, '') || 'body' };
}

export function toErrorReply(err: unknown, req: FastifyRequest): { status: number; body: Body } {
  if (err instanceof HttpError) return { status: err.statusCode, body: { error: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) } };
  if (err instanceof IntakeError) return { status: 400, body: { error: 'bad_request', message: err.message, field: err.field } };
  if (err instanceof ValidationError) {
    const first = err.issues[0];
    return { status: 400, body: { error: 'bad_request', message: err.issues.map((i) => `${i.path ?? 'input'}: ${i.message}`).join('; '), field: first?.path, issues: err.issues.map((i) => ({ path: i.path, message: i.message })) } };
  }
  if (err instanceof RunwrightError) {
    if (err.code === 'not_found') return { status: 404, body: { error: 'not_found', message: err.message } };
    if (['conflict', 'not_waiting', 'already_decided', 'not_cancellable', 'not_retryable', 'target_busy'].includes(err.code)) return { status: 409, body: { error: err.code, message: err.message } };
  }
  const fe = err as FastifyError;
  if (fe?.validation) return { status: 400, body: validationBody(fe) };
  switch (fe?.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: { error: 'unsupported_media_type', message: `Content-Type '${String(req.headers['content-type'] ?? '(none)').slice(0, 100)}' is not accepted here; send application/json`, field: 'content-type' } };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, body: { error: 'bad_request', message: 'Content-Length does not match the body', field: 'content-length' } };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: { error: 'payload_too_large', message: `body is larger than the ${req.routeOptions.bodyLimit ?? ''} byte limit`.replace('  ', ' '), field: 'body' } };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, body: { error: 'bad_request', message: 'body is empty; send a JSON object', field: 'body' } };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, body: { error: 'malformed_json', message: `body is not valid JSON: ${fe.message}`, field: 'body' } };
  }
  if (err instanceof SyntaxError || (fe?.statusCode === 400 && /JSON/i.test(fe.message))) {
    return { status: 400, body: { error: 'malformed_json', message: `body is not valid JSON: ${(err as Error).message}`, field: 'body' } };
  }
  if (fe?.statusCode === 429) return { status: 429, body: { error: 'rate_limited', message: fe.message } };
  if (fe?.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) return { status: fe.statusCode, body: { error: 'bad_request', message: fe.message } };
  return { status: 500, body: { error: 'internal', message: 'internal error (see the server log for the request id)' } };
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const { status, body } = toErrorReply(err, req);
    if (err instanceof HttpError && err.retryAfterSec !== undefined) reply.header('retry-after', String(err.retryAfterSec));
    if (status >= 500 && !(err instanceof HttpError)) req.log.error({ err, runId: req.runId }, 'request failed');
    else req.log.info({ status, error: body.error, field: body.field, runId: req.runId }, body.message.slice(0, 300));
    return reply.status(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` }));
}
