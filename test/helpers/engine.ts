// An Engine on real Redis with a unique prefix; closes and cleans up after the test.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine, type EngineOptions } from '../../src/engine/engine.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { loadRunbookFiles, type Runbook } from '../../src/core/runbook.js';
import { defaultRegistry } from '../../src/actions/index.js';
import type { Alert, Target } from '../../src/core/types.js';
import { REDIS_URL, cleanupPrefix, testPrefix } from './redis.js';

export const ENGINE_RUNBOOKS = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'engine', 'runbooks');

export function testConfig(prefix: string, over: Partial<Config> = {}): Config {
  return loadConfig({ REDIS_URL }, { prefix, workdir: mkdtempSync(path.join(os.tmpdir(), 'rw-work-')), retentionDays: 0, ...over } as any);
}

export function loadTestRunbooks(files: string[]): Map<string, Runbook> {
  return loadRunbookFiles(files, defaultRegistry().catalog());
}

export function engineRunbooks(...names: string[]): Map<string, Runbook> {
  return loadTestRunbooks(names.map((n) => path.join(ENGINE_RUNBOOKS, `${n}.yaml`)));
}

export async function testEngine(opts: Partial<EngineOptions> & { runbooks: Map<string, Runbook>; prefix?: string; worker?: boolean; config?: Config }): Promise<{ engine: Engine; prefix: string; config: Config; close: () => Promise<void> }> {
  const prefix = opts.prefix ?? testPrefix('eng');
  const config = opts.config ?? testConfig(prefix);
  const engine = await Engine.create({ ...opts, config });
  if (opts.worker !== false) await engine.startWorker({ concurrency: 4 });
  return {
    engine,
    prefix,
    config,
    close: async () => {
      await engine.close();
      await cleanupPrefix(prefix);
    },
  };
}

export function target(name = 'svc', over: Partial<Target> = {}): Target {
  return { name, repo: '/nonexistent', branch: 'main', modelsDir: 'app/models', platform: 'local', labels: { service: name }, ...over };
}

export function alert(text: string, over: Partial<Alert> = {}): Alert {
  return { source: 'test', fingerprint: `fp-${Math.random().toString(36).slice(2)}`, severity: 'error', text, labels: {}, receivedAt: new Date().toISOString(), ...over };
}

/**
 * The tail of a test worker process (test/engine/worker-proc.ts, portable-worker.ts): start the engine's worker,
 * say "ready <pid>" on stdout (what the spawning test waits for), close the engine on SIGTERM, and stay alive.
 */
export async function serveAsWorkerProcess(engine: Engine): Promise<void> {
  await engine.startWorker();
  process.stdout.write(`ready ${process.pid}\n`);
  process.on('SIGTERM', async () => {
    await engine.close();
    process.exit(0);
  });
  setInterval(() => {}, 1 << 30);
}
