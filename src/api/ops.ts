// Operations: liveness, readiness (Redis reachable, workers alive), Prometheus metrics, the OpenAPI document.
import type { FastifyInstance } from 'fastify';
import type { Engine } from '../engine/engine.js';
import type { Metrics } from './metrics.js';
import { errorInfo } from '../core/errors.js';
import type { SandboxStatus } from '../adapters/index.js';

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

export async function opsRoutes(app: FastifyInstance, deps: { engine: Engine; metrics: Metrics; requireWorkers: boolean; sandbox?: () => SandboxStatus; sandboxRequired?: boolean }): Promise<void> {
  const { engine, metrics } = deps;
  const tags = ['ops'];
  const health = { type: 'object', properties: { ok: { type: 'boolean' }, redis: { type: 'string' }, workers: { type: 'integer' }, reason: { type: 'string' }, sandbox: { type: 'object', additionalProperties: true } } } as const;

  app.get('/healthz', { schema: { tags, summary: 'Liveness: the process answers', response: { 200: health } } }, async () => ({ ok: true }));

  app.get('/readyz', { schema: { tags, summary: 'Readiness: Redis reachable and at least one worker alive', response: { 200: health, 503: health } } }, async (req, reply) => {
    let redis = 'ok';
    let workers = 0;
    const reasons: string[] = [];
    try {
      await withTimeout(engine.store.redis.ping(), 2000, 'Redis');
      workers = await withTimeout(engine.workersAlive(), 2000, 'Redis');
    } catch (e) {
      redis = 'unreachable';
      reasons.push(`Redis: ${errorInfo(e).message}`);
    }
    if (redis === 'ok' && deps.requireWorkers && workers === 0) reasons.push('no worker has sent a heartbeat in the last 30 s');
    // Where target code runs on this host (bwrap, or only the allowlisted environment, and why).
    const sandbox = deps.sandbox?.();
    if (sandbox && deps.sandboxRequired && sandbox.kind !== 'bwrap') reasons.push(`sandbox required but unavailable: ${sandbox.reason}`);
    const ok = reasons.length === 0;
    if (!ok) req.log.warn({ reasons }, 'not ready');
    return reply.status(ok ? 200 : 503).send({ ok, redis, workers, ...(sandbox ? { sandbox } : {}), ...(ok ? {} : { reason: reasons.join('; ') }) });
  });

  app.get('/metrics', { schema: { tags, summary: 'Prometheus metrics (text exposition format)', produces: ['text/plain'] } }, async (_req, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
