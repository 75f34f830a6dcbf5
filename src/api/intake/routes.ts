// Alert intake: authenticate the source, normalise the payload into Alerts, match each to a runbook and a
// target, then submit with dedup (attach to an active run) and the runbook's throttle window.
// Everything that can be wrong with a request is found before anything is submitted: nothing half-written.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import '../types.js';
import type { Engine } from '../../engine/engine.js';
import type { Config } from '../../config/config.js';
import type { Alert, Target } from '../../core/types.js';
import { matchesAlert, resolveInputs, type Runbook } from '../../core/runbook.js';
import { matchTargets } from '../../config/targets.js';
import { errorInfo } from '../../core/errors.js';
import { HttpError } from '../errors.js';
import { checkSourceCredential, credentialFromAuthorization, INTAKE_SIGNATURE_HEADER, type PubSubOidcVerifier } from '../auth.js';
import type { Metrics } from '../metrics.js';
import type { IntakeLog, IntakeOutcome, IntakeRecord } from './log.js';
import { stableHash, type Normalized } from './common.js';
import { RedisWindow } from '../window.js';
import { genericAlertSchema, normalizeGeneric, type GenericBody } from './generic.js';
import { alertmanagerSchema, normalizeAlertmanager, type AlertmanagerBody } from './alertmanager.js';
import { cloudMonitoringSchema, normalizeCloudMonitoring, type CloudMonitoringBody } from './cloud-monitoring.js';
import { normalizePubSub, pubsubPushSchema, type PubSubPushBody } from './pubsub.js';

export interface IntakeDeps {
  engine: Engine;
  config: Config;
  metrics: Metrics;
  intakeLog: IntakeLog;
  pubsub: PubSubOidcVerifier;
}

export interface IntakeResult {
  fingerprint?: string;
  outcome: IntakeOutcome;
  runId?: string;
  runbook?: string;
  target?: string;
  reason?: string;
  retryInMs?: number;
  status?: string;
}

const resultSchema = {
  type: 'object',
  properties: {
    fingerprint: { type: 'string' },
    outcome: { type: 'string', enum: ['started', 'attached', 'throttled', 'refused', 'no_match', 'skipped'] },
    runId: { type: 'string' },
    runbook: { type: 'string' },
    target: { type: 'string' },
    reason: { type: 'string' },
    retryInMs: { type: 'integer' },
    status: { type: 'string', description: 'status of the run started or attached to' },
  },
} as const;

const intakeResponse = {
  type: 'object',
  properties: {
    runId: { type: 'string', description: 'the first run started or attached to' },
    accepted: { type: 'integer', description: 'alerts that started or attached to a run' },
    results: { type: 'array', items: resultSchema },
  },
} as const;

const responses = {
  200: { description: 'Nothing started: no match, throttled, or all alerts resolved (each result says why)', ...intakeResponse },
  202: { description: 'At least one alert started a run or attached to an active one', ...intakeResponse },
  400: { $ref: 'Error#' },
  401: { $ref: 'Error#' },
  403: { $ref: 'Error#' },
  404: { $ref: 'Error#' },
  413: { $ref: 'Error#' },
  415: { $ref: 'Error#' },
  429: { $ref: 'Error#' },
  503: { $ref: 'Error#' },
};

const selectQuery = {
  type: 'object',
  properties: {
    runbook: { type: 'string', maxLength: 100, description: 'force this runbook instead of matching' },
    target: { type: 'string', maxLength: 100, description: 'force this target instead of matching by labels' },
    auth_token: { type: 'string', description: 'Cloud Monitoring token-auth webhooks only; prefer the Authorization header' },
  },
} as const;

interface Planned {
  alert: Alert;
  runbook?: Runbook;
  target?: Target;
  inputs?: Record<string, unknown>;
  noMatch?: string;
  /** Alertmanager: what is submitted for the first alert of a (group, runbook, target): the group's alert. */
  submitAs?: Alert;
  /** Alertmanager: a later alert of the same group and target, answered with its lead's run. */
  groupedWith?: Planned;
  result?: IntakeResult;
}

/** The alert a group's run is made from: the lead alert under a fingerprint of (groupKey, target), listing the group. */
function groupAlert(groupKey: string, members: Planned[]): Alert {
  const lead = members[0]!;
  const alerts = members.slice(0, 100).map((m) => ({ fingerprint: m.alert.fingerprint, labels: m.alert.labels, text: m.alert.text.slice(0, 300) }));
  return { ...lead.alert, fingerprint: stableHash('alertmanager-group', groupKey, lead.target!.name), raw: { ...(lead.alert.raw as object), groupKey, alertCount: members.length, alerts } };
}

/** What every intake record of an alert starts with. */
function recordBase(at: string, source: string, a: Alert) {
  return { at, source, fingerprint: a.fingerprint, severity: a.severity, text: a.text.slice(0, 300) };
}

type SourceName = 'generic' | 'alertmanager' | 'cloud-monitoring';

export async function intakeRoutes(app: FastifyInstance, deps: IntakeDeps): Promise<void> {
  const { engine, config, metrics, intakeLog } = deps;

  // Overload: a fixed window per (source, credential) in Redis, shared by every API replica. Over the limit the
  // answer is 503 + Retry-After, which Alertmanager and Pub/Sub retry (a 4xx would make them drop the alert).
  const limiter = new RedisWindow(engine.store.pipelined, `${config.prefix}:intake-rate`, config.api.rateLimit.max, config.api.rateLimit.windowMs);
  const limit = async (source: string, credential: string) => {
    const wait = await limiter.hit(source, credential);
    if (wait > 0) {
      metrics.intakeRejected.inc({ source, reason: 'rate_limited' });
      throw new HttpError(503, 'overloaded', `intake for source '${source}' is over ${config.api.rateLimit.max} requests per ${config.api.rateLimit.windowMs} ms for this credential; retry after ${Math.ceil(wait / 1000)} s`, undefined, Math.ceil(wait / 1000));
    }
  };

  /** JSON routes take JSON only: a form body (or anything else) is 415, before credentials or body are looked at. */
  const jsonOnly = (source: string, req: FastifyRequest) => {
    const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') {
      metrics.intakeRejected.inc({ source, reason: 'unsupported_media_type' });
      throw new HttpError(415, 'unsupported_media_type', `Content-Type '${type.slice(0, 100) || '(none)'}' is not accepted here; send application/json`, 'content-type');
    }
  };

  /** Token-style credentials are checked before the body is read; an HMAC needs the raw body (preValidation). */
  const sourceAuth = (source: SourceName) => ({
    onRequest: async (req: FastifyRequest) => {
      jsonOnly(source, req);
      if (req.headers[INTAKE_SIGNATURE_HEADER]) return; // checked once the body is in
      const given = { authorization: req.headers.authorization, queryToken: queryToken(req, source), rawBody: Buffer.alloc(0) };
      const r = checkSourceCredential(source, config.api.sources[source], given);
      if (!r.ok) {
        metrics.intakeRejected.inc({ source, reason: r.status === 403 ? 'closed' : 'unauthorized' });
        throw new HttpError(r.status, r.status === 403 ? 'forbidden' : 'unauthorized', r.reason, 'authorization');
      }
      await limit(source, `token:${credentialFromAuthorization(given.authorization) ?? given.queryToken ?? ''}`);
    },
    preValidation: async (req: FastifyRequest) => {
      const sig = req.headers[INTAKE_SIGNATURE_HEADER];
      if (!sig) return;
      const r = checkSourceCredential(source, config.api.sources[source], { signature: String(sig), rawBody: req.rawBody ?? Buffer.alloc(0) });
      if (!r.ok) {
        metrics.intakeRejected.inc({ source, reason: r.status === 403 ? 'closed' : 'bad_signature' });
        throw new HttpError(r.status, r.status === 403 ? 'forbidden' : 'unauthorized', r.reason, INTAKE_SIGNATURE_HEADER);
      }
      await limit(source, 'hmac');
    },
  });

  const handle = async (source: string, req: FastifyRequest, reply: FastifyReply, normalized: Normalized, select: { runbook?: string; target?: string; inputs?: Record<string, unknown> }) => {
    const results = await intake(source, normalized, select, req);
    const accepted = results.filter((r) => r.outcome === 'started' || r.outcome === 'attached').length;
    const first = results.find((r) => r.runId && (r.outcome === 'started' || r.outcome === 'attached')) ?? results.find((r) => r.runId);
    if (first?.runId) req.runId = first.runId;
    return reply.status(accepted > 0 ? 202 : 200).send({ runId: first?.runId, accepted, results });
  };

  /** Plan every alert (no side effects), then submit. */
  const intake = async (source: string, normalized: Normalized, select: { runbook?: string; target?: string; inputs?: Record<string, unknown> }, req: FastifyRequest): Promise<IntakeResult[]> => {
    const forcedRunbook = select.runbook !== undefined ? engine.runbooks.get(select.runbook) : undefined;
    if (select.runbook !== undefined && !forcedRunbook) throw new HttpError(404, 'unknown_runbook', `runbook: no runbook '${select.runbook}'`, 'runbook');
    const forcedTarget = select.target !== undefined ? engine.targets.get(select.target) : undefined;
    if (select.target !== undefined && !forcedTarget) throw new HttpError(404, 'unknown_target', `target: no target '${select.target}'`, 'target');
    metrics.alertsReceived.inc({ source }, normalized.alerts.length + normalized.skipped.length);

    const plans: Planned[] = [];
    for (const alert of normalized.alerts) {
      const plan: Planned = { alert };
      plans.push(plan);
      const rb = forcedRunbook ?? (await firstMatchingRunbook(alert, req));
      if (!rb) {
        plan.noMatch = 'no runbook matches this alert';
        continue;
      }
      plan.runbook = rb;
      let target = forcedTarget;
      if (!target) {
        const ts = matchTargets(engine.targets.values(), alert);
        if (ts.length === 0) {
          plan.noMatch = `runbook '${rb.id}' matches, but no target's labels match the alert's labels`;
          continue;
        }
        if (ts.length > 1) {
          plan.noMatch = `runbook '${rb.id}' matches, but the alert matches several targets (${ts.map((t) => t.name).join(', ')}); send target= to choose`;
          continue;
        }
        target = ts[0];
      }
      plan.target = target;
      // Inputs are validated now so that a bad one rejects the whole request before anything starts.
      resolveInputs(rb, select.inputs ?? {});
      plan.inputs = select.inputs ?? {};
    }

    // Alertmanager: the alerts of one group that go to the same runbook and target make one run (Alertmanager's own
    // receivers deduplicate per groupKey); a re-sent or grown group attaches to it. Other sources dedup per alert.
    if (normalized.groupKey) {
      const groups = new Map<string, Planned[]>();
      for (const p of plans) {
        if (!p.runbook || !p.target) continue;
        const k = `${p.runbook.id}\u0000${p.target.name}`;
        const g = groups.get(k);
        if (g) g.push(p);
        else groups.set(k, [p]);
      }
      for (const members of groups.values()) {
        members[0]!.submitAs = groupAlert(normalized.groupKey, members);
        for (const m of members.slice(1)) m.groupedWith = members[0];
      }
    }

    const results: IntakeResult[] = [];
    const records: IntakeRecord[] = [];
    const at = new Date().toISOString();
    const single = normalized.alerts.length === 1 && normalized.skipped.length === 0;
    for (const s of normalized.skipped) {
      results.push({ fingerprint: s.fingerprint, outcome: 'skipped', reason: s.reason });
      records.push({ at, source, fingerprint: s.fingerprint, outcome: 'skipped', reason: s.reason });
    }
    for (const p of plans) {
      if (!p.runbook || !p.target) {
        metrics.alertsUnmatched.inc({ source });
        results.push({ fingerprint: p.alert.fingerprint, outcome: 'no_match', reason: p.noMatch, runbook: p.runbook?.id });
        records.push({ ...recordBase(at, source, p.alert), outcome: 'no_match', reason: p.noMatch, runbook: p.runbook?.id });
        req.log.info({ source, fingerprint: p.alert.fingerprint, reason: p.noMatch }, 'alert matched nothing');
        continue;
      }
      const common = { fingerprint: p.alert.fingerprint, runbook: p.runbook.id, target: p.target.name };
      const lead = p.groupedWith?.result;
      if (lead) {
        // Same group, same target: the group's run (started, attached or throttled for the lead) answers for it too.
        const outcome: IntakeOutcome = lead.outcome === 'started' ? 'attached' : lead.outcome;
        const reason = `same Alertmanager group and target as alert ${p.groupedWith!.alert.fingerprint}: ${lead.outcome === 'throttled' ? lead.reason : `one run for the group (${lead.runId})`}`;
        if (outcome === 'attached') metrics.alertsDeduplicated.inc({ source });
        if (outcome === 'throttled') metrics.alertsThrottled.inc({ source });
        results.push({ ...common, outcome, runId: lead.runId, ...(lead.status ? { status: lead.status } : {}), ...(lead.retryInMs !== undefined ? { retryInMs: lead.retryInMs } : {}), reason });
        records.push({ ...recordBase(at, source, p.alert), ...common, outcome, runId: lead.runId, reason });
        continue;
      }
      // A request of one alert: its intake record, when it attaches, is written by the attach itself (one round trip).
      const journal = single ? intakeLog.journal({ ...recordBase(at, source, p.alert), ...common }) : undefined;
      const res = await engine.submit({ runbookId: p.runbook.id, alert: p.submitAs ?? p.alert, target: p.target, inputs: p.inputs, dedupe: true, throttle: true, trace: req.trace, journal, brief: true });
      if (res.result === 'throttled') {
        metrics.alertsThrottled.inc({ source });
        const reason = `runbook '${p.runbook.id}' already ran for this fingerprint (run ${res.lastRunId}); throttled for another ${Math.ceil(res.retryInMs / 1000)} s`;
        results.push((p.result = { ...common, outcome: 'throttled', runId: res.lastRunId, retryInMs: res.retryInMs, reason }));
        records.push({ ...recordBase(at, source, p.alert), ...common, outcome: 'throttled', runId: res.lastRunId, retryInMs: res.retryInMs, reason });
        req.log.info({ runId: res.lastRunId, source, fingerprint: p.alert.fingerprint }, 'alert throttled');
        continue;
      }
      if (res.result === 'attached') {
        const run = res.run;
        metrics.alertsDeduplicated.inc({ source });
        results.push((p.result = { ...common, outcome: 'attached', runId: run.id, status: run.status, reason: `an active run for this ${p.submitAs ? 'Alertmanager group and target' : 'fingerprint'} exists; ${run.alertCount ?? 1} alerts attached` }));
        if (!res.journaled) records.push({ ...recordBase(at, source, p.alert), ...common, outcome: 'attached', runId: run.id });
        // The common case under load: the request line (runId) and the intake record say it; details at debug.
        req.log.debug({ runId: run.id, source, fingerprint: p.alert.fingerprint, alertCount: run.alertCount }, 'alert attached to active run');
        continue;
      }
      const run = res.run;
      const outcome: IntakeOutcome = run.status === 'refused' ? 'refused' : 'started';
      results.push((p.result = { ...common, outcome, runId: run.id, status: run.status, ...(run.outcome ? { reason: run.outcome } : {}) }));
      records.push({ ...recordBase(at, source, p.alert), ...common, outcome, runId: run.id, ...(run.outcome ? { reason: run.outcome } : {}) });
      req.log.info({ runId: run.id, source, runbook: p.runbook.id, target: p.target.name, status: run.status }, 'alert started a run');
    }
    await intakeLog.add(records).catch((e) => req.log.warn({ err: errorInfo(e) }, 'could not record intake'));
    return results;
  };

  const firstMatchingRunbook = async (alert: Alert, req: FastifyRequest): Promise<Runbook | undefined> => {
    const ids = [...engine.runbooks.keys()].sort();
    for (const id of ids) {
      const rb = engine.runbooks.get(id)!;
      try {
        if (await matchesAlert(rb, alert)) return rb;
      } catch (e) {
        req.log.warn({ runbook: id, err: errorInfo(e) }, 'runbook match rule failed; treated as no match');
      }
    }
    return undefined;
  };

  const now = () => new Date().toISOString();
  const tags = ['intake'];

  app.post<{ Body: GenericBody }>('/intake/generic', {
    schema: { tags, summary: 'Generic JSON alert', security: [{ bearer: [] }, { hmac: [] }], body: { $ref: 'GenericAlert#' }, response: responses },
    ...sourceAuth('generic'),
  }, async (req, reply) => {
    const b = req.body;
    return handle('generic', req, reply, normalizeGeneric(b, now()), { runbook: b.runbook, target: b.target, inputs: b.inputs });
  });

  app.post<{ Body: AlertmanagerBody; Querystring: { runbook?: string; target?: string } }>('/intake/alertmanager', {
    schema: { tags, summary: 'Prometheus Alertmanager webhook (payload version 4)', security: [{ bearer: [] }, { hmac: [] }], querystring: selectQuery, body: { $ref: 'AlertmanagerWebhook#' }, response: responses },
    ...sourceAuth('alertmanager'),
  }, async (req, reply) => handle('alertmanager', req, reply, normalizeAlertmanager(req.body, now()), req.query));

  app.post<{ Body: CloudMonitoringBody; Querystring: { runbook?: string; target?: string } }>('/intake/cloud-monitoring', {
    schema: { tags, summary: 'Google Cloud Monitoring incident webhook', security: [{ bearer: [] }, { hmac: [] }], querystring: selectQuery, body: { $ref: 'CloudMonitoringIncident#' }, response: responses },
    ...sourceAuth('cloud-monitoring'),
  }, async (req, reply) => handle('cloud-monitoring', req, reply, normalizeCloudMonitoring(req.body, now()), req.query));

  app.post<{ Body: PubSubPushBody; Querystring: { runbook?: string; target?: string } }>('/intake/pubsub', {
    schema: { tags, summary: 'Pub/Sub push (a Cloud Logging LogEntry from a log sink), verified by its OIDC token', security: [{ oidc: [] }], querystring: selectQuery, body: { $ref: 'PubSubPush#' }, response: responses },
    onRequest: async (req) => {
      jsonOnly('pubsub', req);
      const r = await deps.pubsub.verify(req.headers.authorization);
      if (!r.ok) {
        metrics.intakeRejected.inc({ source: 'pubsub', reason: r.status === 403 ? 'forbidden' : 'unauthorized' });
        throw new HttpError(r.status, r.status === 403 ? 'forbidden' : 'unauthorized', r.reason, 'authorization');
      }
      await limit('pubsub', `oidc:${r.email ?? r.subject ?? ''}`);
    },
  }, async (req, reply) => handle('pubsub', req, reply, normalizePubSub(req.body, now()), req.query));
}

function queryToken(req: FastifyRequest, source: SourceName): string | undefined {
  if (source !== 'cloud-monitoring') return undefined;
  const q = req.query as { auth_token?: unknown } | undefined;
  return typeof q?.auth_token === 'string' ? q.auth_token : undefined;
}

export const intakeSchemas = [genericAlertSchema, alertmanagerSchema, cloudMonitoringSchema, pubsubPushSchema];
