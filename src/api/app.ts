// The HTTP API: fastify with JSON-schema'd routes (intake, runs, Slack interactions, ops) and an OpenAPI document.
import { randomBytes, randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import rateLimit from '@fastify/rate-limit';
import cookie from '@fastify/cookie';
import type { Logger as PinoLogger } from 'pino';
import './types.js';
import type { Engine } from '../engine/engine.js';
import type { Config } from '../config/config.js';
import type { SlackChat } from '../adapters/slack/chat.js';
import { credentialFromAuthorization, IapVerifier, PubSubOidcVerifier, roleAllows, TokenAuth, type Principal } from './auth.js';
import { FailureLimiter, refuseIfBlocked, SESSION_COOKIE, SessionStore } from './sessions.js';
import { errorSchema, HttpError, installErrorHandler } from './errors.js';
import { intakeRoutes, intakeSchemas } from './intake/routes.js';
import { IntakeLog, intakeRecordSchema } from './intake/log.js';
import { runsRoutes } from './runs.js';
import { apiSchemas } from './schemas.js';
import { EventStreams } from './sse.js';
import { slackRoutes } from './slack/interactions.js';
import { opsRoutes } from './ops.js';
import { sandboxStatus } from '../adapters/index.js';
import { dashboardRoutes } from './dashboard.js';
import { Metrics } from './metrics.js';
import { ApprovalPolicy } from './approvers.js';
import { traceFields, traceFromHeaders } from '../logging.js';

/** The dashboard forwards its actions to the runs API in-process (inject) with the session cookie and this
 * header, whose value is a per-process random secret: a browser cannot send it, so cookies stay read-only outside. */
export const SESSION_PROXY_HEADER = 'x-runwright-session-proxy';

export interface BuildAppOptions {
  engine: Engine;
  config: Config;
  logger: PinoLogger;
  /** Slack ChatPort (ephemeral answers, user-group checks); without it clicks still work but nobody is told. */
  chat?: SlackChat;
  /** Overrides the Pub/Sub OIDC verifier (default: from config.auth.pubsub). */
  pubsub?: PubSubOidcVerifier;
  /** Clock for Slack signature checks, in epoch seconds (tests). */
  slackNowSeconds?: () => number;
  /** /readyz requires a live worker (default true). */
  requireWorkers?: boolean;
  /** SSE heartbeat interval (default 15 s). */
  sseHeartbeatMs?: number;
}

export interface RunwrightApp extends FastifyInstance {
  runwright: { metrics: Metrics; streams: EventStreams; intakeLog: IntakeLog; sessions: SessionStore; failures: FailureLimiter };
}

export async function buildApp(opts: BuildAppOptions): Promise<RunwrightApp> {
  const { engine, config } = opts;
  const app = Fastify({
    loggerInstance: opts.logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.api.bodyLimit,
    // A hop count or proxy list, never "trust every hop" (then X-Forwarded-For would pick the client address).
    // n hops: the socket peer and the n-1 addresses before it in X-Forwarded-For are proxies; the next is the client.
    trustProxy: trustedHops(config.api.trustProxy),
    requestIdHeader: false,
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false, allowUnionTypes: true } },
  }) as unknown as RunwrightApp;

  const metrics = new Metrics(engine);
  const streams = new EventStreams(engine, opts.sseHeartbeatMs);
  const intakeLog = new IntakeLog(engine.store.redis, config.prefix);
  const tokens = new TokenAuth(config.api.tokens);
  const pubsub = opts.pubsub ?? new PubSubOidcVerifier(config.auth.pubsub);
  const approvals = new ApprovalPolicy(engine, config, opts.chat ? (u, g) => opts.chat!.userInGroup(u, g) : undefined);
  const sessions = new SessionStore(engine.store.redis, config.prefix, config.api.sessionTtlMs, tokens, approvals.identities);
  const failures = new FailureLimiter(engine.store.redis, config.prefix, config.api.authFailures.max, config.api.authFailures.windowMs);
  const proxySecret = randomBytes(32).toString('hex');
  app.decorate('runwright', { metrics, streams, intakeLog, sessions, failures });

  // Bodies: keep the exact bytes (HMACs and Slack signatures are over them), then parse.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  const json = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    req.rawBody = body as Buffer;
    json(req, (body as Buffer).toString('utf8'), done);
  });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer' }, (req, body, done) => {
    req.rawBody = body as Buffer;
    done(null, Object.fromEntries(new URLSearchParams((body as Buffer).toString('utf8'))));
  });

  await app.register(cookie);
  await app.register(rateLimit, { global: false });
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'runwright', version: '0.1.0', description: 'Incident-runbook automation: alerts in, runs out, approvals through Slack.' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'API token (roles viewer < approver < admin) or an intake source token' },
          hmac: { type: 'apiKey', in: 'header', name: 'X-Runwright-Signature', description: 'sha256=<hex HMAC-SHA256 of the raw body with the source secret>' },
          oidc: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Google-signed OIDC token of the Pub/Sub push subscription' },
        },
      },
      tags: [
        { name: 'intake', description: 'Alerts in' },
        { name: 'runs', description: 'Runs out (and approvals)' },
        { name: 'catalog', description: 'Runbooks and targets' },
        { name: 'slack', description: 'Slack interactivity' },
        { name: 'ops', description: 'Health, readiness, metrics' },
      ],
    },
    refResolver: { buildLocalReference: (json, _base, _frag, i) => String(json.$id ?? `def-${i}`) },
  });
  for (const s of [errorSchema, intakeRecordSchema, ...apiSchemas, ...intakeSchemas]) app.addSchema(s);

  installErrorHandler(app);

  // The request's trace (validated, never the header text): its log lines carry it, and so does a run it creates.
  app.addHook('onRequest', async (req: FastifyRequest) => {
    const trace = traceFromHeaders(req.headers);
    if (!trace) return;
    req.trace = trace;
    req.log = req.log.child(traceFields(trace));
  });

  // API tokens: routes that declare a role need one (Authorization: Bearer), or a dashboard session cookie for
  // reads (and for the dashboard's own forwarded actions). Failed tokens count against the client address.
  app.addHook('onRequest', async (req: FastifyRequest) => {
    const cfg = req.routeOptions.config;
    const need = cfg?.role;
    if (!need) return;
    const token = credentialFromAuthorization(req.headers.authorization);
    const sid = req.cookies?.[SESSION_COOKIE];
    let p: Principal | null;
    if (token) {
      await refuseIfBlocked(failures, req.ip);
      p = tokens.authenticate(token);
      if (!p) {
        await failures.fail(req.ip);
        throw new HttpError(401, 'unauthorized', 'unknown API token', 'authorization');
      }
    } else if (sid && ((cfg.cookieAuth && req.method === 'GET') || req.headers[SESSION_PROXY_HEADER] === proxySecret)) {
      p = (await sessions.get(sid))?.principal ?? null;
      if (!p) throw new HttpError(401, 'unauthorized', 'the dashboard session has ended (signed out, expired or its token rotated): sign in again', 'cookie');
    } else throw new HttpError(401, 'unauthorized', 'missing API token (Authorization: Bearer <token>)', 'authorization');
    if (!roleAllows(p.role, need)) throw new HttpError(403, 'forbidden', `this needs the ${need} role; '${p.name}' is ${p.role}`, 'authorization');
    req.principal = p;
  });

  // One log line per request, without query strings (tokens may ride there) or headers.
  // Built in one shape without spreads (runId and user undefined when absent: not written), no promise per request.
  app.addHook('onResponse', (req, reply, done) => {
    const q = req.url.indexOf('?');
    const path = q < 0 ? req.url : req.url.slice(0, q);
    const line = { method: req.method, path, route: req.routeOptions.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime), runId: req.runId || undefined, user: req.principal?.name };
    if (path.startsWith('/healthz') || path.startsWith('/metrics')) req.log.debug(line, 'request');
    else req.log.info(line, 'request');
    done();
  });

  await intakeRoutes(app, { engine, config, metrics, intakeLog, pubsub });
  await runsRoutes(app, { engine, streams, intakeLog, metrics, approvals });
  await slackRoutes(app, { engine, config, chat: opts.chat, metrics, approvals, nowSeconds: opts.slackNowSeconds });
  await opsRoutes(app, { engine, metrics, requireWorkers: opts.requireWorkers ?? true, sandbox: () => sandboxStatus(config.sandbox.mode), sandboxRequired: config.sandbox.mode === 'bwrap' });
  await dashboardRoutes(app, { engine, config, approvals, sessions, failures, proxy: { header: SESSION_PROXY_HEADER, secret: proxySecret }, iap: new IapVerifier(config.auth.iap) });

  // Shutting down: end event streams, and answer in-flight requests with Connection: close so their
  // keep-alive sockets do not hold the server open for the keep-alive timeout.
  // Sockets that turn idle after close() began are closed too (fastify closes idle ones only once), and so are
  // connections a client opened but never sent a byte on (pre-connected pool sockets).
  let closing = false;
  let reaper: NodeJS.Timeout | undefined;
  const sockets = new Set<import('node:net').Socket>();
  app.server.on('connection', (s: import('node:net').Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  const reap = () => {
    app.server.closeIdleConnections?.();
    for (const s of sockets) if (s.bytesRead === 0) s.destroy();
  };
  app.addHook('preClose', async () => {
    closing = true;
    streams.closeAll();
    reap();
    reaper = setInterval(reap, 100);
    reaper.unref();
  });
  app.addHook('onClose', async () => clearInterval(reaper));
  app.addHook('onSend', async (_req, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    return payload;
  });
  app.addHook('onClose', async () => metrics.stop());
  await metrics.start();
  await app.ready();
  return app;
}


/** fastify's trustProxy for RUNWRIGHT_TRUST_PROXY: n hops as a function (a bare number trusts no hop at all). */
function trustedHops(tp: Config['api']['trustProxy']): boolean | string | ((addr: string, hop: number) => boolean) {
  if (typeof tp === 'number') return (_addr, hop) => hop < tp;
  return tp;
}
