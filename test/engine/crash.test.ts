// Crash safety: a worker process killed with SIGKILL in the middle of a step; another worker re-runs that
// step and the run completes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Queue } from 'bullmq';
import { alert, engineRunbooks, target, testConfig, testEngine } from '../helpers/engine.js';
import { REDIS_URL, testPrefix } from '../helpers/redis.js';
import { QUEUE } from '../../src/engine/keys.js';
import { jobIdFor } from '../../src/engine/engine.js';

const here = path.dirname(new URL(import.meta.url).pathname);

function startWorker(prefix: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'worker-proc.ts')], {
    env: { ...process.env, RW_PREFIX: prefix, RW_RUNBOOKS: 'slow', RW_LOCK_MS: '1500' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('ready')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`worker exited early (${code})`)));
  });
}

test('SIGKILL mid-step: a new worker process re-runs the step and the run succeeds', async () => {
  // This process only submits and watches: no worker here.
  const t = await testEngine({ runbooks: engineRunbooks('slow'), worker: false });
  const children: ChildProcess[] = [];
  try {
    const a = await startWorker(t.prefix);
    children.push(a);
    const res = await t.engine.submit({ runbookId: 'slow', alert: alert('slow step'), target: target('crashy'), inputs: { ms: 2500 } });
    assert.equal(res.result, 'created');
    const runId = (res as { run: { id: string } }).run.id;
    await t.engine.waitFor(runId, (r) => r.steps.work?.status === 'running', 20_000);
    a.kill('SIGKILL');
    await new Promise((r) => a.once('exit', r));
    const b = await startWorker(t.prefix);
    children.push(b);
    const end = await t.engine.waitForEnd(runId, 40_000);
    assert.equal(end.status, 'succeeded');
    const ev = await t.engine.store.events(runId);
    const starts = ev.filter((e) => e.step === 'work' && e.kind === 'started');
    assert.equal(starts.length, 2, 'the interrupted step was started again');
    assert.equal(starts[1]!.message, 're-delivered');
    assert.equal((end.steps.work!.output as { pid: number }).pid, b.pid, 'the surviving worker finished it');
    assert.equal(ev.filter((e) => e.step === 'after' && e.kind === 'started').length, 1, 'the next step ran once');
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : null)));
    await t.close();
  }
});

test('a job re-delivered while its step still runs in this worker (its lock lost) is left to the execution in flight: the step runs once', async () => {
  const prefix = testPrefix('relock');
  const config = testConfig(prefix, { worker: { concurrency: 4, lockDurationMs: 1000, stalledIntervalMs: 300 } } as any);
  const t = await testEngine({ runbooks: engineRunbooks('slow'), prefix, config });
  const queue = new Queue(QUEUE, { connection: { url: REDIS_URL }, prefix: t.engine.store.keys.bullPrefix() });
  try {
    const res = await t.engine.submit({ runbookId: 'slow', alert: alert('slow step'), target: target('relock'), inputs: { ms: 6000 } });
    const runId = (res as { run: { id: string } }).run.id;
    await t.engine.waitFor(runId, (r) => r.steps.work?.status === 'running', 20_000);
    const jobId = jobIdFor(runId, 'work', 1, 1);
    // What a lock that expired looks like to BullMQ: the stalled checker moves the job back to wait and this worker
    // takes it again while the sleep is still running.
    await t.engine.store.redis.del(`${t.engine.store.keys.job(jobId)}:lock`);
    for (let i = 0; (await queue.getJobState(jobId)) !== 'completed'; i++) {
      assert.ok(i < 400, 'the re-delivered job was taken again');
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal((await t.engine.store.get(runId))!.steps.work?.status, 'running', 'the first execution is still running');
    const end = await t.engine.waitForEnd(runId, 30_000);
    assert.equal(end.status, 'succeeded');
    const ev = await t.engine.store.events(runId);
    assert.equal(ev.filter((e) => e.step === 'work' && e.kind === 'started').length, 1, 'the step ran once');
    assert.equal(ev.filter((e) => e.step === 'after' && e.kind === 'started').length, 1, 'the next step ran once');
  } finally {
    await queue.close();
    await t.close();
  }
});
