// Intake benchmark: autocannon (in this process) against a server process on loopback. The same alerts go to a
// bare fastify route (baseline) and to runwright's generic intake: `alerts` requests over `fingerprints`
// fingerprints, so runwright must create exactly `fingerprints` runs and attach every other alert to them.
import path from 'node:path';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { BENCH, benchPrefix, dropPrefix, tsChild } from './lib.js';

export interface IntakeOptions {
  redisUrl: string;
  alerts: number;
  fingerprints: number;
  connections: number;
  warmup: number;
  log?: (s: string) => void;
}

interface Load {
  requests: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  durationS: number;
  statuses: Record<string, number>;
}

export interface IntakeResult {
  alerts: number;
  fingerprints: number;
  connections: number;
  bare: Load;
  runwright: Load & { runsCreated: number; attached: number };
}

const TOKEN = 'bench-intake-token-0123456789abcdef';

function fire(url: string, amount: number, connections: number, fingerprints: number, tag: string): Promise<Load> {
  let i = 0;
  return new Promise((resolve, reject) => {
    const statuses: Record<string, number> = {};
    const inst = autocannon({
      url,
      connections,
      amount,
      timeout: 30,
      requests: [{
        method: 'POST',
        path: '/intake/generic',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        setupRequest: (req: any) => {
          const n = i++;
          req.body = JSON.stringify({
            text: `bench park: queue consumer stalled on partition ${n % fingerprints} (${tag})`,
            severity: 'error',
            fingerprint: `${tag}-${n % fingerprints}`,
            labels: { service: 'bench-svc', partition: String(n % fingerprints) },
          });
          return req;
        },
      }],
    }, (err: Error | null, r: any) => {
      if (err) return reject(err);
      resolve({
        requests: r.requests.total,
        reqPerSec: r.requests.total / (r.duration || 1),
        p50: r.latency.p50,
        p99: r.latency.p99,
        non2xx: r.non2xx,
        errors: r.errors + r.timeouts,
        durationS: r.duration,
        statuses,
      });
    });
    inst.on('response', (_c: unknown, status: number) => void (statuses[status] = (statuses[status] ?? 0) + 1));
  });
}

async function server(mode: 'bare' | 'runwright', redisUrl: string, prefix: string) {
  const child = tsChild(path.join(BENCH, 'intake-server.ts'), { BENCH_SERVER: mode, REDIS_URL: redisUrl, BENCH_PREFIX: prefix, BENCH_TOKEN: TOKEN });
  const ready = await child.message<{ url: string }>('ready', 60_000);
  return { child, url: ready.url };
}

export async function intakeBench(o: IntakeOptions): Promise<IntakeResult> {
  const log = o.log ?? (() => {});
  const prefix = benchPrefix('intake');
  const redis = new Redis(o.redisUrl, { maxRetriesPerRequest: 3 });
  try {
    log(`bare fastify route: ${o.alerts} alerts, ${o.connections} connections`);
    const bare = await server('bare', o.redisUrl, prefix);
    let bareLoad: Load;
    try {
      await fire(bare.url, o.warmup, o.connections, o.fingerprints, 'warm');
      bareLoad = await fire(bare.url, o.alerts, o.connections, o.fingerprints, 'fp');
    } finally {
      await bare.child.stop();
    }
    log(`  ${bareLoad.reqPerSec.toFixed(0)} req/s, p99 ${bareLoad.p99} ms`);

    log(`runwright intake: ${o.alerts} alerts over ${o.fingerprints} fingerprints, ${o.connections} connections`);
    const rw = await server('runwright', o.redisUrl, prefix);
    let rwLoad: Load;
    let runsCreated: number;
    try {
      // Warm-up alerts use their own fingerprints; only runs created by the measured alerts are counted.
      await fire(rw.url, o.warmup, o.connections, o.fingerprints, 'warm');
      const before = await redis.zcard(`${prefix}:idx:all`);
      rwLoad = await fire(rw.url, o.alerts, o.connections, o.fingerprints, 'fp');
      runsCreated = (await redis.zcard(`${prefix}:idx:all`)) - before;
    } finally {
      await rw.child.stop();
    }
    const attached = (rwLoad.statuses['202'] ?? 0) - runsCreated;
    log(`  ${rwLoad.reqPerSec.toFixed(0)} req/s, p99 ${rwLoad.p99} ms, ${runsCreated} runs created`);
    return { alerts: o.alerts, fingerprints: o.fingerprints, connections: o.connections, bare: bareLoad, runwright: { ...rwLoad, runsCreated, attached } };
  } finally {
    redis.disconnect();
    await dropPrefix(o.redisUrl, prefix);
  }
}
