// Intake benchmark: autocannon (in this process) against a server process on loopback. The same alerts go to a
// bare fastify route (baseline) and to runwright's generic intake: `alerts` requests over `fingerprints`
// fingerprints, so runwright must create exactly `fingerprints` runs and attach every other alert to them.
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { BENCH, benchPrefix, dropPrefix, redisCpu, tsChild } from './lib.js';

export interface IntakeOptions {
  redisUrl: string;
  alerts: number;
  fingerprints: number;
  connections: number;
  warmup: number;
  rounds: number;
  /** --profile: after the rounds, one more batch of alerts with the server counting its Redis commands. */
  countCommands?: boolean;
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
  /** Each round: the bare route and runwright back to back (alternating which goes first). */
  rounds: { bare: Load; runwright: Load & { runsCreated: number; attached: number }; ratio: number; cpu: { bareUsPerReq: number; runwrightUsPerReq: number; redisUsPerReq: number } }[];
  /** Medians over the rounds (ratio: of the per-round ratios); runsCreated is exact only if every round was. */
  ratio: number;
  bare: { reqPerSec: number; p99: number };
  runwright: { reqPerSec: number; p99: number; runsCreated: number; attached: number; errors: number };
  /** --profile: Redis commands per request by name, with `commands` and `roundTrips` (bare route: none). */
  commandsPerRequest?: Record<string, number>;
}

const TOKEN = 'bench-intake-token-0123456789abcdef';

function fire(url: string, amount: number, connections: number, fingerprints: number, tag: string): Promise<Load> {
  let i = 0;
  return new Promise((resolve, reject) => {
    const statuses: Record<string, number> = {};
    // Timed here, to the last response: autocannon's own `duration` is whole seconds, and it calls back only on its
    // next one-second tick after the last response (timing to the callback made every figure 10,000 / whole seconds:
    // 9,9xx, 4,9xx, 3,3xx, 2,49x … req/s).
    const t0 = performance.now();
    let last = t0;
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
      const seconds = (last - t0) / 1000;
      resolve({
        requests: r.requests.total,
        reqPerSec: r.requests.total / seconds,
        p50: r.latency.p50,
        p99: r.latency.p99,
        non2xx: r.non2xx,
        errors: r.errors + r.timeouts,
        durationS: seconds,
        statuses,
      });
    });
    inst.on('response', (_c: unknown, status: number) => {
      last = performance.now();
      statuses[status] = (statuses[status] ?? 0) + 1;
    });
  });
}

async function server(mode: 'bare' | 'runwright', redisUrl: string, prefix: string) {
  const child = tsChild(path.join(BENCH, 'intake-server.ts'), { BENCH_SERVER: mode, REDIS_URL: redisUrl, BENCH_PREFIX: prefix, BENCH_TOKEN: TOKEN });
  const ready = await child.message<{ url: string }>('ready', 60_000);
  return { child, url: ready.url };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

export async function intakeBench(o: IntakeOptions): Promise<IntakeResult> {
  const log = o.log ?? (() => {});
  const prefix = benchPrefix('intake');
  const redis = new Redis(o.redisUrl, { maxRetriesPerRequest: 3 });
  const bare = await server('bare', o.redisUrl, prefix);
  const rw = await server('runwright', o.redisUrl, prefix).catch(async (e) => {
    await bare.child.stop();
    throw e;
  });
  try {
    // Warm-up alerts use their own fingerprints; only runs created by the measured alerts are counted.
    await fire(bare.url, o.warmup, o.connections, o.fingerprints, 'warm');
    await fire(rw.url, o.warmup, o.connections, o.fingerprints, 'warm');
    const rounds: IntakeResult['rounds'] = [];
    // Bare route and runwright alternate (which goes first too), each round with fresh fingerprints.
    // Server CPU per request (the server process's own accounting) is the figure least bent by other load.
    const serverCpu = async (s: typeof bare) => (await s.child.ask<{ us: number }>('cpu')).us;
    for (let r = 1; r <= o.rounds; r++) {
      let b!: Load;
      let w!: Load;
      let runsCreated = 0;
      const cpu = { bareUsPerReq: 0, runwrightUsPerReq: 0, redisUsPerReq: 0 };
      for (const which of r % 2 === 1 ? ['bare', 'rw'] : ['rw', 'bare']) {
        if (which === 'bare') {
          const c0 = await serverCpu(bare);
          b = await fire(bare.url, o.alerts, o.connections, o.fingerprints, `fp${r}`);
          cpu.bareUsPerReq = ((await serverCpu(bare)) - c0) / o.alerts;
        } else {
          const before = await redis.zcard(`${prefix}:idx:all`);
          const c0 = await serverCpu(rw);
          const r0 = await redisCpu(o.redisUrl);
          w = await fire(rw.url, o.alerts, o.connections, o.fingerprints, `fp${r}`);
          cpu.runwrightUsPerReq = ((await serverCpu(rw)) - c0) / o.alerts;
          cpu.redisUsPerReq = (((await redisCpu(o.redisUrl)) - r0) * 1e6) / o.alerts;
          runsCreated = (await redis.zcard(`${prefix}:idx:all`)) - before;
        }
      }
      rounds.push({ bare: b, runwright: { ...w, runsCreated, attached: (w.statuses['202'] ?? 0) - runsCreated }, ratio: w.reqPerSec / b.reqPerSec, cpu });
      log(`round ${r}/${o.rounds}: bare fastify ${b.reqPerSec.toFixed(0)} req/s (p99 ${b.p99} ms); runwright ${w.reqPerSec.toFixed(0)} req/s (p99 ${w.p99} ms), ${runsCreated} runs created = ${(w.reqPerSec / b.reqPerSec).toFixed(2)}×; server CPU per request ${cpu.bareUsPerReq.toFixed(0)} / ${cpu.runwrightUsPerReq.toFixed(0)} µs (+ Redis ${cpu.redisUsPerReq.toFixed(0)} µs)`);
    }
    let commandsPerRequest: Record<string, number> | undefined;
    if (o.countCommands) {
      await rw.child.ask('count');
      const counted = await fire(rw.url, o.alerts, o.connections, o.fingerprints, 'count');
      commandsPerRequest = (await rw.child.ask<{ commands: Record<string, number> }>('count:stop', o.alerts)).commands;
      log(`counted: ${o.alerts} alerts (${counted.non2xx + counted.errors} not 2xx): per request ${Object.entries(commandsPerRequest).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    }
    const mid = (f: (x: IntakeResult['rounds'][number]) => number) => median(rounds.map(f));
    return {
      alerts: o.alerts,
      fingerprints: o.fingerprints,
      connections: o.connections,
      rounds,
      ratio: mid((x) => x.ratio),
      bare: { reqPerSec: mid((x) => x.bare.reqPerSec), p99: mid((x) => x.bare.p99) },
      runwright: {
        reqPerSec: mid((x) => x.runwright.reqPerSec),
        p99: mid((x) => x.runwright.p99),
        // Every round must create exactly `fingerprints` runs and answer every alert without an error.
        runsCreated: rounds.every((x) => x.runwright.runsCreated === o.fingerprints) ? o.fingerprints : Math.max(...rounds.map((x) => Math.abs(x.runwright.runsCreated - o.fingerprints) + o.fingerprints)),
        attached: mid((x) => x.runwright.attached),
        errors: rounds.reduce((n, x) => n + x.runwright.errors + x.runwright.non2xx, 0),
      },
      ...(commandsPerRequest ? { commandsPerRequest } : {}),
    };
  } finally {
    await bare.child.stop();
    await rw.child.stop();
    redis.disconnect();
    await dropPrefix(o.redisUrl, prefix);
  }
}
