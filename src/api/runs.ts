// The runs API: list/get/events, cancel, retry, approve/reject, start a run by hand, live streams,
// plus read-only views of runbooks, targets and recent intake for the dashboard.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import './types.js';
import type { Engine } from '../engine/engine.js';
import type { RunStatus } from '../core/types.js';
import { stepKind } from '../core/runbook.js';
import { incidentReport, runPageUrl } from '../core/report.js';
import { HttpError } from './errors.js';
import type { ApprovalPolicy } from './approvers.js';
import { toRun, toSummary } from './schemas.js';
import type { EventStreams } from './sse.js';
import type { IntakeLog } from './intake/log.js';
import type { Metrics } from './metrics.js';

export interface RunsDeps {
  engine: Engine;
  streams: EventStreams;
  intakeLog: IntakeLog;
  metrics: Metrics;
  approvals: ApprovalPolicy;
}

const STATUSES: RunStatus[] = ['queued', 'waiting_lock', 'running', 'waiting_approval', 'succeeded', 'failed', 'escalated', 'cancelled', 'refused'];
const err = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, { $ref: 'Error#' }]));
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } } } as const;
const security = [{ bearer: [] }];
const time = { type: 'string', description: 'ISO-8601 time or epoch milliseconds' } as const;

/** Query numbers arrive as strings and bodies are validated without type coercion, so limits are digit strings. */
const limitQuery = (max: number, def: number) => ({ type: 'string', pattern: '^[0-9]{1,6}$', description: `1..${max} (default ${def})` }) as const;
function limitOf(v: string | undefined, def: number, max: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!(n >= 1 && n <= max)) throw new HttpError(400, 'bad_request', `querystring.limit: must be between 1 and ${max}`, 'limit');
  return n;
}

function parseTime(v: string | undefined, field: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n)) throw new HttpError(400, 'bad_request', `querystring.${field}: not a time (use ISO-8601 or epoch ms)`, field);
  return n;
}

export async function runsRoutes(app: FastifyInstance, deps: RunsDeps): Promise<void> {
  const { engine, streams, intakeLog, metrics, approvals } = deps;
  const tags = ['runs'];

  const getRun = async (req: FastifyRequest<{ Params: { id: string } }>) => {
    req.runId = req.params.id;
    req.log = req.log.child({ runId: req.params.id });
    const run = await engine.store.get(req.params.id);
    if (!run) throw new HttpError(404, 'not_found', `no run '${req.params.id}'`, 'id');
    return run;
  };

  app.get<{ Querystring: { status?: RunStatus; runbook?: string; target?: string; since?: string; until?: string; limit?: string; cursor?: string } }>('/api/runs', {
    config: { role: 'viewer', cookieAuth: true },
    schema: {
      tags, security, summary: 'List runs, newest first',
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          status: { type: 'string', enum: STATUSES },
          runbook: { type: 'string', maxLength: 100 },
          target: { type: 'string', maxLength: 100 },
          since: time,
          until: time,
          limit: limitQuery(500, 50),
          cursor: { type: 'string', pattern: '^\\d{1,10}$', description: 'nextCursor of the previous page' },
        },
      },
      response: {
        200: { type: 'object', properties: { runs: { type: 'array', items: { $ref: 'RunSummary#' } }, nextCursor: { type: 'string' }, total: { type: 'integer', description: '-1 when several filters make it unknown' } } },
        ...err(400, 401, 403),
      },
    },
  }, async (req) => {
    const q = req.query;
    const res = await engine.store.list({ status: q.status, runbook: q.runbook, target: q.target, since: parseTime(q.since, 'since'), until: parseTime(q.until, 'until'), limit: limitOf(q.limit, 50, 500), cursor: q.cursor });
    return { runs: res.runs.map(toSummary), nextCursor: res.nextCursor, total: res.total };
  });

  app.get<{ Params: { id: string } }>('/api/runs/:id', {
    config: { role: 'viewer', cookieAuth: true },
    schema: {
      tags, security, summary: 'One run with every step outcome and its event history',
      params: idParams,
      response: { 200: { type: 'object', properties: { run: { $ref: 'Run#' }, events: { type: 'array', items: { $ref: 'StepEvent#' } }, approvers: { type: 'array', items: { type: 'string' } } } }, ...err(401, 403, 404) },
    },
  }, async (req) => {
    const run = await getRun(req);
    return { run: toRun(run), events: await engine.store.events(run.id), approvers: approvals.allowed(run) };
  });

  app.get<{ Params: { id: string } }>('/api/runs/:id/report', {
    config: { role: 'viewer', cookieAuth: true },
    schema: {
      tags, security, summary: 'The incident report of a run (markdown): symptom, cause found, fix and diff, verification, approvals, timeline',
      params: idParams,
      produces: ['text/markdown'],
      response: { 200: { description: 'text/markdown', type: 'string' }, ...err(401, 403, 404) },
    },
  }, async (req, reply) => {
    const run = await getRun(req);
    const md = incidentReport(run, await engine.store.events(run.id), { runbookTitle: engine.runbooks.get(run.runbookId)?.title, dashboardUrl: runPageUrl(`${req.protocol}://${req.host}`, run.id) });
    return reply
      .type('text/markdown; charset=utf-8')
      .header('content-disposition', `inline; filename="incident-${run.id}.md"`)
      .send(md);
  });

  app.get<{ Params: { id: string }; Querystring: { after?: string; limit?: string } }>('/api/runs/:id/events', {
    config: { role: 'viewer', cookieAuth: true },
    schema: {
      tags, security, summary: 'Events of a run (after= an event id to page)',
      params: idParams,
      querystring: { type: 'object', additionalProperties: false, properties: { after: { type: 'string', pattern: '^\\d{1,20}-\\d{1,20}$' }, limit: limitQuery(10000, 1000) } },
      response: { 200: { type: 'object', properties: { events: { type: 'array', items: { $ref: 'StepEvent#' } } } }, ...err(400, 401, 403, 404) },
    },
  }, async (req) => {
    const run = await getRun(req);
    return { events: await engine.store.events(run.id, { after: req.query.after, limit: limitOf(req.query.limit, 1000, 10000) }) };
  });

  const decision = (kind: 'approved' | 'rejected') => async (req: FastifyRequest<{ Params: { id: string }; Body: { comment?: string; choice?: string } | undefined }>) => {
    const run = await getRun(req);
    const p = req.principal!;
    const allowed = approvals.allowed(run);
    if (!(await approvals.may(approvals.identities.fromPrincipal(p), run))) {
      metrics.approvals.inc({ via: 'api', outcome: 'refused' });
      const who = allowed.length ? allowed.join(', ') : approvals.config.api.approvalDefault === 'admins' ? 'admins only' : 'nobody: the runbook, the target and SLACK_APPROVERS name no approver';
      throw new HttpError(403, 'not_an_approver', `'${p.name}' is not an allowed approver for run ${run.id} (allowed: ${who})`);
    }
    const body = req.body ?? {};
    const after = await engine.decide(run.id, { decision: kind, actor: p.name, comment: body.comment, choice: kind === 'approved' ? body.choice : undefined });
    metrics.approvals.inc({ via: 'api', outcome: kind });
    req.log.info({ runId: run.id, actor: p.name, decision: kind, choice: body.choice }, 'approval decided through the API');
    return { run: toRun(after) };
  };
  const decisionSchema = (summary: string, withChoice: boolean) => ({
    tags, security, summary,
    params: idParams,
    body: {
      type: ['object', 'null'],
      additionalProperties: false,
      properties: {
        comment: { type: 'string', maxLength: 2000 },
        ...(withChoice ? { choice: { type: 'string', maxLength: 40, description: 'one of the step options (A/B/C)' } } : {}),
      },
    },
    response: { 200: { type: 'object', properties: { run: { $ref: 'Run#' } } }, ...err(400, 401, 403, 404, 409) },
  });
  app.post('/api/runs/:id/approve', { config: { role: 'approver' }, schema: decisionSchema('Approve the approval step the run waits at', true) }, decision('approved'));
  app.post('/api/runs/:id/reject', { config: { role: 'approver' }, schema: decisionSchema('Reject the approval step the run waits at', false) }, decision('rejected'));

  const control = (summary: string) => ({
    tags, security, summary,
    params: idParams,
    body: { type: ['object', 'null'], additionalProperties: false, properties: { reason: { type: 'string', maxLength: 2000 } } },
    response: { 200: { type: 'object', properties: { run: { $ref: 'Run#' } } }, ...err(400, 401, 403, 404, 409) },
  });
  app.post<{ Params: { id: string }; Body: { reason?: string } | undefined }>('/api/runs/:id/cancel', { config: { role: 'admin' }, schema: control('Cancel a run that has not finished') }, async (req) => {
    const run = await getRun(req);
    const after = await engine.cancel(run.id, req.principal!.name, req.body?.reason);
    req.log.info({ runId: run.id, actor: req.principal!.name }, 'run cancelled through the API');
    return { run: toRun(after) };
  });
  app.post<{ Params: { id: string } }>('/api/runs/:id/retry', { config: { role: 'admin' }, schema: control('Retry a failed run from its failed step') }, async (req) => {
    const run = await getRun(req);
    const after = await engine.retry(run.id, req.principal!.name);
    req.log.info({ runId: run.id, actor: req.principal!.name }, 'run retried through the API');
    return { run: toRun(after) };
  });

  app.post<{ Body: { runbook: string; target: string; text?: string; severity?: string; labels?: Record<string, string>; fingerprint?: string; inputs?: Record<string, unknown>; dryRun?: boolean } }>('/api/runs', {
    // Approvers may start what they could approve (the dashboard's manual trigger); viewers may not.
    config: { role: 'approver' },
    schema: {
      tags, security, summary: 'Start a run by hand (no matching; dedup still applies to the fingerprint)',
      body: {
        type: 'object',
        required: ['runbook', 'target'],
        additionalProperties: false,
        properties: {
          runbook: { type: 'string', maxLength: 100 },
          target: { type: 'string', maxLength: 100 },
          text: { type: 'string', maxLength: 65536 },
          severity: { type: 'string', maxLength: 40 },
          fingerprint: { type: 'string', maxLength: 200 },
          labels: { type: 'object', additionalProperties: { type: 'string' } },
          inputs: { type: 'object' },
          dryRun: { type: 'boolean' },
        },
      },
      response: { 201: { type: 'object', properties: { run: { $ref: 'Run#' }, attached: { type: 'boolean' } } }, ...err(400, 401, 403, 404, 429) },
    },
  }, async (req, reply) => {
    const b = req.body;
    if (!engine.runbooks.has(b.runbook)) throw new HttpError(404, 'unknown_runbook', `runbook: no runbook '${b.runbook}'`, 'runbook');
    if (!engine.targets.has(b.target)) throw new HttpError(404, 'unknown_target', `target: no target '${b.target}'`, 'target');
    const at = new Date().toISOString();
    const alert = { source: 'api', fingerprint: b.fingerprint ?? `api:${req.principal!.name}:${at}`, severity: b.severity ?? 'info', text: b.text ?? `started by ${req.principal!.name}`, labels: b.labels ?? {}, receivedAt: at };
    const res = await engine.submit({ runbookId: b.runbook, target: b.target, alert, inputs: b.inputs, dryRun: b.dryRun, dedupe: true, trace: req.trace });
    if (res.result === 'throttled') throw new HttpError(429, 'throttled', `throttled: run ${res.lastRunId} ran for this fingerprint`);
    req.runId = res.run.id;
    req.log.info({ runId: res.run.id, actor: req.principal!.name }, res.result === 'attached' ? 'attached to an active run' : 'run started through the API');
    return reply.status(201).send({ run: toRun(res.run), attached: res.result === 'attached' });
  });

  const sseSchema = (summary: string, withParams: boolean) => ({
    tags, security, summary,
    description: 'text/event-stream. Each step event is `id: <event id>` + `data: <StepEvent JSON>`; a per-run stream first sends `event: run` (current status) and the history after Last-Event-ID (or after=). Heartbeat comments every 15 s.',
    ...(withParams ? { params: idParams } : {}),
    querystring: { type: 'object', properties: { after: { type: 'string' } } },
    produces: ['text/event-stream'],
    response: { 200: { description: 'an event stream', type: 'string' }, ...err(401, 403, 404) },
  });
  app.get<{ Params: { id: string }; Querystring: { after?: string } }>('/api/runs/:id/stream', { config: { role: 'viewer', cookieAuth: true }, schema: sseSchema('Live events of one run (SSE)', true) }, async (req, reply) => {
    const run = await getRun(req);
    const last = req.headers['last-event-id'];
    await streams.serve(req, reply, { runId: run.id, after: (typeof last === 'string' ? last : undefined) ?? req.query.after });
  });
  app.get<{ Querystring: { after?: string } }>('/api/stream', { config: { role: 'viewer', cookieAuth: true }, schema: sseSchema('Live events of all runs (SSE)', false) }, async (req, reply) => {
    await streams.serve(req, reply, {});
  });

  app.get('/api/runbooks', {
    config: { role: 'viewer', cookieAuth: true },
    schema: {
      tags: ['catalog'], security, summary: 'Loaded runbooks (for filters and run forms)',
      response: {
        200: {
          type: 'object',
          properties: {
            runbooks: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  id: { type: 'string' }, title: { type: 'string' }, description: { type: 'string' }, hash: { type: 'string' }, start: { type: 'string' },
                  inputs: { type: 'object', additionalProperties: true },
                  policy: { type: 'object', properties: { targetLock: { type: 'string' }, throttleMs: { type: 'integer' }, approvers: { type: 'array', items: { type: 'string' } } } },
                  steps: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, kind: { type: 'string' }, action: { type: 'string' }, description: { type: 'string' } } } },
                },
              },
            },
          },
        },
      },
    },
  }, async () => ({
    runbooks: [...engine.runbooks.values()].sort((a, b) => a.id.localeCompare(b.id)).map((rb) => ({
      id: rb.id, title: rb.title, description: rb.description, hash: rb.hash, start: rb.start, inputs: rb.inputs,
      policy: { targetLock: rb.policy.targetLock, throttleMs: rb.policy.throttleMs, approvers: rb.policy.approvers ?? [] },
      steps: rb.steps.map((s) => ({ id: s.id, kind: stepKind(s), action: s.action, description: s.description })),
    })),
  }));

  app.get('/api/targets', {
    config: { role: 'viewer', cookieAuth: true },
    schema: {
      tags: ['catalog'], security, summary: 'Configured targets (names, platform, labels; no commands or env)',
      response: { 200: { type: 'object', properties: { targets: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, platform: { type: 'string' }, branch: { type: 'string' }, labels: { type: 'object', additionalProperties: { type: 'string' } }, approvers: { type: 'array', items: { type: 'string' } } } } } } } },
    },
  }, async () => ({
    targets: [...engine.targets.values()].sort((a, b) => a.name.localeCompare(b.name)).map((t) => ({ name: t.name, platform: t.platform, branch: t.branch, labels: t.labels, approvers: t.approvers ?? [] })),
  }));

  app.get<{ Querystring: { limit?: string; before?: string } }>('/api/alerts', {
    config: { role: 'viewer', cookieAuth: true },
    schema: {
      tags: ['intake'], security, summary: 'What intake did with recent alerts (newest first), including unmatched ones',
      querystring: { type: 'object', additionalProperties: false, properties: { limit: limitQuery(500, 50), before: { type: 'string', pattern: '^\\d{1,20}-\\d{1,20}$' } } },
      response: { 200: { type: 'object', properties: { records: { type: 'array', items: { $ref: 'IntakeRecord#' } }, next: { type: 'string' } } }, ...err(400, 401, 403) },
    },
  }, async (req) => intakeLog.list({ limit: limitOf(req.query.limit, 50, 500), before: req.query.before }));
}
