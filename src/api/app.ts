// The HTTP API: fastify with JSON-schema'd routes (intake, runs, Slack interactions, ops) and an OpenAPI document.
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import rateLimit from '@fastify/rate-limit';
import cookie from '@fastify/cookie';
import type { Logger as PinoLogger } from 'pino';
import './types.js';
import type { Engine } from '../engine/engine.js';
import type { Config } from '../config/config.js';
import type { SlackChat } from '../adapters/slack/chat.js';
import { credentialFromAuthorization, PubSubOidcVerifier, roleAllows, TokenAuth } from './auth.js';
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

export const TOKEN_COOKIE = 'runwright_token';

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
  runwright: { metrics: Metrics; streams: EventStreams; intakeLog: IntakeLog };
}

export async function buildApp(opts: BuildAppOptions): Promise<RunwrightApp> {
  const { engine, config } = opts;
  const app = Fastify({
    loggerInstance: opts.logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.api.bodyLimit,
    trustProxy: config.api.trustProxy,
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
  app.decorate('runwright', { metrics, streams, intakeLog });

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

  // API tokens: routes that declare a role need one (Authorization: Bearer; the cookie only for reads).
  app.addHook('onRequest', async (req: FastifyRequest) => {
    const cfg = req.routeOptions.config;
    const need = cfg?.role;
    if (!need) return;
    let token = credentialFromAuthorization(req.headers.authorization);
    if (!token && cfg.cookieAuth && req.method === 'GET') token = req.cookies?.[TOKEN_COOKIE];
    if (!token) throw new HttpError(401, 'unauthorized', 'missing API token (Authorization: Bearer <token>)', 'authorization');
    const p = tokens.authenticate(token);
    if (!p) throw new HttpError(401, 'unauthorized', 'unknown API token', 'authorization');
    if (!roleAllows(p.role, need)) throw new HttpError(403, 'forbidden', `this needs the ${need} role; '${p.name}' is ${p.role}`, 'authorization');
    req.principal = p;
  });

  // One log line per request, without query strings (tokens may ride there) or headers.
  app.addHook('onResponse', async (req, reply) => {
    const line = { method: req.method, path: req.url.split('?')[0], route: req.routeOptions.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime), ...(req.runId ? { runId: req.runId } : {}), ...(req.principal ? { user: req.principal.name } : {}) };
    if (req.url.startsWith('/healthz') || req.url.startsWith('/metrics')) req.log.debug(line, 'request');
    else req.log.info(line, 'request');
  });

  await intakeRoutes(app, { engine, config, metrics, intakeLog, pubsub });
  await runsRoutes(app, { engine, streams, intakeLog, metrics });
  await slackRoutes(app, { engine, config, chat: opts.chat, metrics, nowSeconds: opts.slackNowSeconds });
  await opsRoutes(app, { engine, metrics, requireWorkers: opts.requireWorkers ?? true, sandbox: () => sandboxStatus(config.sandbox.mode), sandboxRequired: config.sandbox.mode === 'bwrap' });
  await dashboardRoutes(app, { engine, config });

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
