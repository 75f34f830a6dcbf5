// Redis restarted under a working engine: a private redis-server (AOF on, appendfsync everysec, its own port and
// dir; never the shared one) is stopped and started again while runs are in the middle of their steps and others
// are parked at an approval. Afterwards none is lost: the parked ones can still be approved, every run ends
// succeeded, and every step is recorded as done exactly once.
//
// CI (`npm test`): a clean restart (SIGTERM: Redis fsyncs its AOF and exits). `npm run chaos` adds a crash
// (SIGKILL: up to a second of writes is lost, the engine must converge from the older state) and more runs.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../src/engine/engine.js';
import { loadConfig } from '../../src/config/config.js';
import { loadRunbookFiles } from '../../src/core/runbook.js';
import { defaultRegistry } from '../../src/actions/index.js';
import type { RunRecord } from '../../src/core/types.js';
import { isTerminal } from '../../src/core/types.js';
import { alert, target } from '../helpers/engine.js';
import { PrivateRedis, REDIS_SERVER } from './private-redis.js';
import { FULL, eventually } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const runbooks = loadRunbookFiles([path.join(here, 'runbooks', 'chaos-steps.yaml'), path.join(here, '..', 'engine', 'runbooks', 'approval.yaml')], defaultRegistry().catalog());
const STEPS = ['s1', 's2', 's3', 's4', 's5', 's6'];
const NO_REDIS = existsSync(REDIS_SERVER) ? false : `${REDIS_SERVER} is not installed (apt-get install redis-server)`;

const crashes: unknown[] = [];
const onCrash = (e: unknown) => void crashes.push(e);
process.on('uncaughtException', onCrash);
process.on('unhandledRejection', onCrash);
after(() => {
  process.off('uncaughtException', onCrash);
  process.off('unhandledRejection', onCrash);
});

async function scenario(signal: 'SIGTERM' | 'SIGKILL', counts: { steps: number; parked: number }): Promise<void> {
  const redis = await new PrivateRedis().start();
  const workdir = mkdtempSync(path.join(os.tmpdir(), 'rw-chaos-work-'));
  const config = loadConfig({ REDIS_URL: redis.url }, { prefix: `chaos-${signal.toLowerCase()}`, workdir, retentionDays: 0, worker: { concurrency: 4, lockDurationMs: 2000, stalledIntervalMs: 500 } } as any);
  const engine = await Engine.create({ config, runbooks });
  try {
    await engine.startWorker();
    const submit = async (runbookId: string, name: string, inputs: Record<string, unknown>) => {
      const r = await engine.submit({ runbookId, alert: alert(runbookId === 'approval' ? 'approve me' : 'chaos steps'), target: target(name), inputs });
      assert.equal(r.result, 'created');
      return (r as { run: RunRecord }).run.id;
    };
    const stepRuns: string[] = [];
    const parkedRuns: string[] = [];
    for (let i = 0; i < counts.parked; i++) parkedRuns.push(await submit('approval', `parked-${i}`, { sleepMs: 50 }));
    for (let i = 0; i < counts.steps; i++) stepRuns.push(await submit('chaos-steps', `busy-${i}`, { ms: 150 }));

    const get = async (id: string) => (await engine.store.get(id))!;
    const doneSteps = async () => (await Promise.all(stepRuns.map(get))).reduce((n, r) => n + STEPS.filter((s) => r.steps[s]?.status === 'succeeded').length, 0);
    // Mid-flight: the parked runs wait, a good part of the step work is done, and some runs are still working.
    await eventually('every approval run parked', async () => (await Promise.all(parkedRuns.map(get))).every((r) => r.status === 'waiting_approval'), 30_000);
    const total = stepRuns.length * STEPS.length;
    await eventually('a third of the steps done', async () => (await doneSteps()) >= total / 3, 60_000);
    const before = await Promise.all(stepRuns.map(get));
    const working = before.filter((r) => !isTerminal(r.status)).length;
    assert.ok(working > 0, 'some runs are mid-flight when Redis goes away');

    await redis.restart(signal);

    // The parked runs survived and can be decided; a decision may meet the reconnecting client, so it is retried
    // only while the run is still waiting (ConflictError otherwise: then it was decided, not lost).
    for (const id of parkedRuns) {
      const run = await eventually(`parked run ${id} readable after the restart`, async () => engine.store.get(id).catch(() => null), 20_000);
      assert.equal(run.status, 'waiting_approval', `run ${id} still waits after the restart`);
      await eventually(`approval of ${id}`, async () => engine.decide(id, { decision: 'approved', actor: 'chaos', choice: 'A' }).then(() => true, async (e) => ((await engine.store.get(id).catch(() => null))?.status !== 'waiting_approval' ? Promise.reject(e) : false)), 20_000);
    }

    // None lost, all finish. (Polled: a live event published while a subscriber reconnects is not replayed.)
    const all = [...stepRuns, ...parkedRuns];
    await eventually('every run finished', async () => (await Promise.all(all.map((id) => engine.store.get(id).catch(() => null)))).every((r) => r && isTerminal(r.status)), 90_000, 100);
    for (const id of stepRuns) {
      const r = await get(id);
      assert.equal(r.status, 'succeeded', `${id}: ${r.outcome}`);
      const ev = await engine.store.events(id);
      for (const s of STEPS) {
        assert.equal(r.steps[s]?.status, 'succeeded', `${id} step ${s}`);
        assert.equal(ev.filter((e) => e.step === s && e.kind === 'succeeded').length, 1, `${id}: step ${s} recorded done exactly once`);
      }
    }
    for (const id of parkedRuns) {
      const r = await get(id);
      assert.equal(r.status, 'succeeded', `${id}: ${r.outcome}`);
      assert.equal(r.approval?.actor, 'chaos');
      assert.equal(r.steps.fix_a?.status, 'succeeded');
      const ev = await engine.store.events(id);
      assert.equal(ev.filter((e) => e.kind === 'approved').length, 1, `${id}: approved once`);
      assert.equal(ev.filter((e) => e.step === 'fix_a' && e.kind === 'succeeded').length, 1, `${id}: the step after the gate recorded once`);
    }
    // The target locks were all released: nothing waits for a lock nobody holds.
    for (const r of await Promise.all(all.map(get))) assert.equal(await engine.store.lockHolder(r.target.name), null, `lock of ${r.target.name} released`);
    assert.deepEqual(crashes.map(String), [], 'no uncaught exception or unhandled rejection');
  } finally {
    await engine.close();
    await redis.destroy();
    rmSync(workdir, { recursive: true, force: true });
  }
}

test('Redis restarted (clean shutdown, AOF) while runs are mid-flight and parked: none lost, all finish, each step once', { skip: NO_REDIS, timeout: 240_000 }, async () => {
  await scenario('SIGTERM', { steps: FULL ? 40 : 12, parked: FULL ? 20 : 6 });
});

test('Redis crashes (SIGKILL, AOF everysec) while runs are mid-flight and parked: none lost, all finish, each step once', { skip: NO_REDIS || (FULL ? false : 'npm run chaos'), timeout: 240_000 }, async () => {
  await scenario('SIGKILL', { steps: 40, parked: 20 });
});
