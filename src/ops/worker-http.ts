// `serve --role worker`'s only HTTP: liveness (/healthz), readiness (/readyz: Redis answers and this process is
// consuming the step queue) and Prometheus metrics (/metrics, the engine metrics under the API's names), on a
// small port of its own (RUNWRIGHT_WORKER_PORT) with node:http — a worker loads none of the API's code.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Engine } from '../engine/engine.js';
import { errorInfo } from '../core/errors.js';
import { ENGINE_GAUGES, STEP_DURATION, followStepDurations } from './engine-metrics.js';
import { PROM_CONTENT_TYPE, TextHistogram, gaugeText } from './prom-text.js';

type Log = { warn(o: object, m?: string): void; info(o: object, m?: string): void };

export interface WorkerHttp {
  /** http://host:port actually bound (port 0 picks a free one). */
  url: string;
  port: number;
  close(): Promise<void>;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

export async function startWorkerHttp(o: { engine: Engine; host: string; port: number; logger: Log; consuming: () => boolean }): Promise<WorkerHttp> {
  const { engine } = o;
  const steps = new TextHistogram(STEP_DURATION);
  const off = await followStepDurations(engine, (labels, seconds) => steps.observe(labels, seconds));

  const json = (res: http.ServerResponse, status: number, body: object) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };

  const ready = async (): Promise<{ ok: boolean; redis: string; consuming: boolean; reason?: string }> => {
    const reasons: string[] = [];
    let redis = 'ok';
    let beating = false;
    try {
      await withTimeout(engine.store.redis.ping(), 2000, 'Redis');
      // The heartbeat the engine's worker writes every 10 s while it runs (what workersAlive counts).
      beating = await withTimeout(engine.store.hasHeartbeat(engine.workerId), 2000, 'Redis');
    } catch (e) {
      redis = 'unreachable';
      reasons.push(`Redis: ${errorInfo(e).message}`);
    }
    const consuming = o.consuming() && beating;
    if (redis === 'ok' && !consuming) reasons.push('this worker is not consuming the step queue');
    return { ok: reasons.length === 0, redis, consuming, ...(reasons.length ? { reason: reasons.join('; ') } : {}) };
  };

  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (url === '/healthz') return json(res, 200, { ok: true });
    if (url === '/readyz') {
      void ready().then(
        (r) => {
          if (!r.ok) o.logger.warn({ reason: r.reason }, 'not ready');
          json(res, r.ok ? 200 : 503, r);
        },
        (e) => json(res, 503, { ok: false, reason: errorInfo(e).message }),
      );
      return;
    }
    if (url === '/metrics') {
      void Promise.all(ENGINE_GAUGES.map(async (g) => gaugeText(g.name, g.help, await withTimeout(g.read(engine), 5000, 'Redis')))).then(
        (parts) => {
          res.writeHead(200, { 'content-type': PROM_CONTENT_TYPE, 'cache-control': 'no-store' });
          res.end(parts.join('') + steps.text());
        },
        (e) => {
          res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
          res.end(`metrics unavailable: ${errorInfo(e).message}\n`);
        },
      );
      return;
    }
    json(res, 404, { ok: false, reason: `no route ${url}` });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(o.port, o.host, () => resolve()));
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${addr.port}`;
  o.logger.info({ url, port: addr.port }, 'worker health and metrics listening');
  return {
    url,
    port: addr.port,
    close: async () => {
      await off().catch(() => undefined);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
