// A server process for the intake benchmark, on loopback, reporting { type: 'ready', url } over IPC.
//   BENCH_SERVER=bare       a bare fastify app: one POST route that takes the same JSON body and answers 202
//   BENCH_SERVER=runwright  runwright's own API (startServer, role api): auth, schema validation, matching,
//                           dedup and throttle on Redis, the intake log — everything an alert goes through
// Env: REDIS_URL, BENCH_PREFIX, BENCH_TOKEN, LOG_LEVEL (runwright's request log; default info as in production).
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { loadConfig } from '../src/config/config.js';
import { loadRunbookFiles } from '../src/core/runbook.js';
import { defaultRegistry } from '../src/actions/index.js';
import { createLogger } from '../src/logging.js';
import { startServer } from '../src/api/server.js';
import { BENCH } from './lib.js';
import { CommandCounter } from './profile.js';

const mode = process.env.BENCH_SERVER ?? 'bare';
let close: () => Promise<void>;
let url: string;

if (mode === 'bare') {
  const app = Fastify({ logger: false });
  app.post('/intake/generic', async (req, reply) => {
    const b = req.body as { text?: unknown; fingerprint?: unknown };
    return reply.status(202).send({ accepted: 1, fingerprint: b?.fingerprint ?? null });
  });
  url = await app.listen({ host: '127.0.0.1', port: 0 });
  close = () => app.close();
} else {
  const workdir = mkdtempSync(path.join(os.tmpdir(), 'rwbench-intake-'));
  const config = loadConfig({ REDIS_URL: process.env.REDIS_URL! }, {
    prefix: process.env.BENCH_PREFIX!,
    workdir,
    retentionDays: 0,
    logLevel: (process.env.LOG_LEVEL ?? 'info') as 'info',
    http: { host: '127.0.0.1', port: 0 },
    api: { sources: { generic: { token: process.env.BENCH_TOKEN! } }, rateLimit: { max: 1_000_000_000, windowMs: 60_000 } },
  } as any);
  const registry = defaultRegistry();
  const runbooks = loadRunbookFiles([path.join(BENCH, 'runbooks', 'park.yaml')], registry.catalog());
  const targets = new Map([['bench-svc', { name: 'bench-svc', repo: '/nonexistent', branch: 'main', modelsDir: 'app/models', platform: 'local' as const, labels: { service: 'bench-svc' } }]]);
  // Request logs are produced and serialized as in production, then dropped (no terminal in the measurement).
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const logger = createLogger({ level: config.logLevel, destination: sink });
  const server = await startServer({ config, role: 'api', world: { registry, runbooks, targets }, logger, handleSignals: false });
  url = server.url!;
  close = async () => {
    await server.close();
    rmSync(workdir, { recursive: true, force: true });
  };
}

// --profile: every Redis command this server sends between count and count:stop (per request: data / requests).
const counter = new CommandCounter();
process.send!({ type: 'ready', url, pid: process.pid });
process.on('message', async (m: { type: string; data?: unknown }) => {
  if (m?.type === 'count') {
    counter.start();
    process.send!({ type: 'count:done' });
  } else if (m?.type === 'count:stop') {
    process.send!({ type: 'count:stop:done', commands: counter.stop(Number(m.data)) });
  } else if (m?.type === 'cpu') {
    const c = process.cpuUsage();
    process.send!({ type: 'cpu:done', us: c.user + c.system });
  } else if (m?.type === 'stop') {
    await close();
    process.disconnect();
  }
});
