// One Engine on real Redis for a test file running the sqlalchemy-mapper-failure runbook, with the local platform
// (deployments, job logs) in its own temp dir; everything is removed after the file.
import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Engine } from '../../src/engine/engine.js';
import { loadTestRunbooks, testConfig, testEngine } from '../helpers/engine.js';
import { testPrefix } from '../helpers/redis.js';
import { cleanupServices } from './helpers.js';

export const RUNBOOK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../runbooks/sqlalchemy-mapper-failure.yaml');

export function sqlaRunbookEngine(tag: string) {
  const runbooks = loadTestRunbooks([RUNBOOK]);
  const rb = runbooks.get('sqlalchemy-mapper-failure')!;
  let h: Awaited<ReturnType<typeof testEngine>> | undefined;
  const platformDir = mkdtempSync(path.join(os.tmpdir(), `rw-${tag}-platform-`));
  before(async () => {
    const prefix = testPrefix(tag);
    h = await testEngine({ runbooks, prefix, config: testConfig(prefix, { local: { platformDir, executionTimeoutMs: 120_000 } } as any) });
  });
  after(async () => {
    await h?.close();
    if (h) rmSync(h.config.workdir, { recursive: true, force: true });
    rmSync(platformDir, { recursive: true, force: true });
    cleanupServices();
  });
  return {
    rb,
    get engine(): Engine {
      return h!.engine;
    },
  };
}
