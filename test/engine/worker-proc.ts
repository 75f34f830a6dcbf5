// A real worker process for crash tests: RW_PREFIX, RW_RUNBOOKS (comma-separated names), RW_LOCK_MS.
import { Engine } from '../../src/engine/engine.js';
import { engineRunbooks, serveAsWorkerProcess, testConfig } from '../helpers/engine.js';

const prefix = process.env.RW_PREFIX!;
const lockMs = Number(process.env.RW_LOCK_MS ?? 1500);
const config = testConfig(prefix, { worker: { concurrency: 2, lockDurationMs: lockMs, stalledIntervalMs: Math.max(200, Math.floor(lockMs / 3)) } } as any);
const engine = await Engine.create({ config, runbooks: engineRunbooks(...process.env.RW_RUNBOOKS!.split(',')) });
await serveAsWorkerProcess(engine);
