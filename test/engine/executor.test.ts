// The BullMQ executor on real Redis: branching, bounded loops, retries, timeouts, approvals, cancel,
// retry-from-failed, duplicate deliveries and the per-target lock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alert, engineRunbooks, target, testEngine } from '../helpers/engine.js';
import { jobIdFor } from '../../src/engine/engine.js';
import type { RunRecord } from '../../src/core/types.js';

function created(r: Awaited<ReturnType<import('../../src/engine/engine.js').Engine['submit']>>): RunRecord {
  assert.equal(r.result, 'created');
  return (r as { run: RunRecord }).run;
}

test('branching: the condition picks the branch, the outcome template sees the path taken', async () => {
  const t = await testEngine({ runbooks: engineRunbooks('branching') });
  try {
    const right = created(await t.engine.submit({ runbookId: 'branching', alert: alert('branch me'), target: target('a'), inputs: { mode: 'right' } }));
    const left = created(await t.engine.submit({ runbookId: 'branching', alert: alert('branch me'), target: target('b') }));
    const r1 = await t.engine.waitForEnd(right.id, 10_000);
    const r2 = await t.engine.waitForEnd(left.id, 10_000);
    assert.equal(r1.status, 'succeeded');
    assert.equal(r1.outcome, 'went right');
    assert.equal(r1.steps.right?.status, 'succeeded');
    assert.equal(r1.steps.left, undefined);
    assert.equal(r2.outcome, 'went left');
    assert.equal(r1.runbookHash, t.engine.runbooks.get('branching')!.hash);
    const kinds = (await t.engine.store.events(right.id)).map((e) => `${e.step}:${e.kind}`);
    assert.deepEqual(kinds, [':run', 'decide:started', 'decide:succeeded', 'right:started', 'right:succeeded', 'done:succeeded', 'done:run']);
  } finally {
    await t.close();
  }
});

test('bounded loop: fix → verify → fix again until cured, or escalate when the bound is reached', async () => {
  const t = await testEngine({ runbooks: engineRunbooks('loop') });
  try {
    const cured = created(await t.engine.submit({ runbookId: 'loop', alert: alert('loop me'), target: target('a'), inputs: { cureOnVisit: 2 } }));
    const never = created(await t.engine.submit({ runbookId: 'loop', alert: alert('loop me'), target: target('b'), inputs: { cureOnVisit: 99 } }));
    const a = await t.engine.waitForEnd(cured.id, 10_000);
    assert.equal(a.status, 'succeeded');
    assert.equal(a.outcome, 'cured after 2 fixes');
    const b = await t.engine.waitForEnd(never.id, 10_000);
    assert.equal(b.status, 'escalated');
    assert.equal(b.outcome, 'still broken after 3 fixes');
    const ev = await t.engine.store.events(never.id);
    assert.equal(ev.filter((e) => e.step === 'fix' && e.kind === 'started').length, 3, 'fix ran exactly maxVisits times');
    assert.ok(ev.some((e) => e.step === 'fix' && e.kind === 'skipped' && /maxVisits 3 reached/.test(e.message ?? '')));
  } finally {
    await t.close();
  }
});

test('retries: a retryable failure is retried with backoff until it succeeds; attempts are recorded', async () => {
  const t = await testEngine({ runbooks: engineRunbooks('retry') });
  try {
    const ok = created(await t.engine.submit({ runbookId: 'retry', alert: alert('retry me'), target: target('a'), inputs: { succeedOn: 3 } }));
    const r = await t.engine.waitForEnd(ok.id, 10_000);
    assert.equal(r.status, 'succeeded');
    assert.equal(r.steps.flaky?.attempt, 3);
    const ev = (await t.engine.store.events(ok.id)).filter((e) => e.step === 'flaky' && e.kind !== 'run');
    assert.deepEqual(ev.map((e) => `${e.kind}${e.attempt}`), ['started1', 'failed1', 'started2', 'failed2', 'started3', 'succeeded3']);
    assert.match(ev[1]!.message!, /retrying in 20 ms/);
    assert.match(ev[3]!.message!, /retrying in 40 ms/);
    const gaveUp = created(await t.engine.submit({ runbookId: 'retry', alert: alert('retry me'), target: target('b'), inputs: { succeedOn: 9 } }));
    const g = await t.engine.waitForEnd(gaveUp.id, 10_000);
    assert.equal(g.status, 'failed');
    assert.equal(g.outcome, 'gave up after 3 attempts: attempt 3 fails on purpose');
  } finally {
    await t.close();
  }
});

test('timeout: a step over its timeout is aborted and goes to onError', async () => {
  const t = await testEngine({ runbooks: engineRunbooks('timeout') });
  try {
    const started = Date.now();
    const run = created(await t.engine.submit({ runbookId: 'timeout', alert: alert('slow'), target: target('a'), inputs: { ms: 20_000 } }));
    const r = await t.engine.waitForEnd(run.id, 10_000);
    assert.equal(r.status, 'failed');
    assert.equal(r.outcome, "timeout: step 'slow' timed out after 300 ms");
    assert.ok(Date.now() - started < 5_000, 'did not wait for the 20 s sleep');
  } finally {
    await t.close();
  }
});

test('approval: parks with no job held, resumes on approve with the chosen option, second click refused', async () => {
  const t = await testEngine({ runbooks: engineRunbooks('approval') });
  try {
    const run = created(await t.engine.submit({ runbookId: 'approval', alert: alert('approve me'), target: target('a') }));
    const parked = await t.engine.waitFor(run.id, (r) => r.status === 'waiting_approval', 10_000);
    assert.equal(parked.currentStep, 'approve');
    await waitDrained(t.engine);
    const counts = await t.engine.queue.getJobCounts('active', 'waiting', 'delayed');
    assert.deepEqual(counts, { active: 0, waiting: 0, delayed: 0 }, 'nothing held while parked');
    const waiting = (await t.engine.store.events(run.id)).find((e) => e.kind === 'waiting');
    assert.equal(waiting?.message, 'Apply fix A to a?');
    await assert.rejects(t.engine.decide(run.id, { decision: 'approved', actor: 'alice', choice: 'Z' }), /choice must be one of A, B, C/);
    await t.engine.decide(run.id, { decision: 'approved', actor: 'alice', comment: 'B is safer', choice: 'B' });
    await assert.rejects(t.engine.decide(run.id, { decision: 'rejected', actor: 'bob' }), /not waiting for approval \(decided by alice/);
    const r = await t.engine.waitForEnd(run.id, 10_000);
    assert.equal(r.status, 'succeeded');
    assert.equal(r.outcome, 'applied B');
    assert.equal(r.steps.fix_b?.status, 'succeeded');
    assert.equal(r.approval?.actor, 'alice');
    assert.equal(r.approval?.comment, 'B is safer');
    const approved = (await t.engine.store.events(run.id)).find((e) => e.kind === 'approved');
    assert.equal(approved?.actor, 'alice');

    const rej = created(await t.engine.submit({ runbookId: 'approval', alert: alert('approve me'), target: target('b') }));
    await t.engine.waitFor(rej.id, (r2) => r2.status === 'waiting_approval', 10_000);
    await t.engine.decide(rej.id, { decision: 'rejected', actor: 'carol', comment: 'no' });
    const r2 = await t.engine.waitForEnd(rej.id, 10_000);
    assert.equal(r2.status, 'escalated');
    assert.equal(r2.outcome, 'rejected by carol');
  } finally {
    await t.close();
  }
});

test('approval survives a worker restart: parked in Redis, approved through a new engine', async () => {
  const first = await testEngine({ runbooks: engineRunbooks('approval') });
  const run = created(await first.engine.submit({ runbookId: 'approval', alert: alert('approve me'), target: target('a') }));
  await first.engine.waitFor(run.id, (r) => r.status === 'waiting_approval', 10_000);
  await first.engine.close(); // the worker goes away; nothing of the run lives in it
  const second = await testEngine({ runbooks: engineRunbooks('approval'), prefix: first.prefix, config: first.config });
  try {
    assert.equal((await second.engine.store.get(run.id))?.status, 'waiting_approval');
    await second.engine.decide(run.id, { decision: 'approved', actor: 'dave' });
    const r = await second.engine.waitForEnd(run.id, 10_000);
    assert.equal(r.status, 'succeeded');
    assert.equal(r.outcome, 'applied A');
  } finally {
    await second.close();
  }
});

test('auto-approve takes the recommended option', async () => {
  const t = await testEngine({ runbooks: engineRunbooks('approval') });
  try {
    const run = created(await t.engine.submit({ runbookId: 'approval', alert: alert('approve me'), target: target('a'), autoApprove: true }));
    const r = await t.engine.waitForEnd(run.id, 10_000);
    assert.equal(r.status, 'succeeded');
    assert.equal(r.approval?.actor, 'auto-approve');
    assert.equal(r.approval?.choice, 'A');
  } finally {
    await t.close();
  }
});

test('cancel: aborts the running step, records who, and releases the target for the next run', async () => {
  const t = await testEngine({ runbooks: engineRunbooks('slow') });
  try {
    const a = created(await t.engine.submit({ runbookId: 'slow', alert: alert('slow step'), target: target('shared'), inputs: { ms: 30_000 } }));
    const b = created(await t.engine.submit({ runbookId: 'slow', alert: alert('slow step'), target: target('shared'), inputs: { ms: 10 } }));
    assert.equal(b.status, 'waiting_lock');
    assert.match(b.waitingReason!, new RegExp(`held by run ${a.id}`));
    await t.engine.waitFor(a.id, (r) => r.steps.work?.status === 'running', 10_000);
    const c = await t.engine.cancel(a.id, 'erin', 'wrong target');
    assert.equal(c.status, 'cancelled');
    assert.equal(c.outcome, 'cancelled by erin: wrong target');
    await assert.rejects(t.engine.cancel(a.id, 'erin'), /already cancelled/);
    const rb = await t.engine.waitForEnd(b.id, 10_000);
    assert.equal(rb.status, 'succeeded', 'the waiting run got the lock and ran');
    const after = await t.engine.store.get(a.id);
    assert.equal(after?.steps.after, undefined, 'the cancelled run never reached its next step');
  } finally {
    await t.close();
  }
});

test('target lock with policy refuse: the second run is refused with the reason', async () => {
  const t = await testEngine({ runbooks: engineRunbooks('slow-refuse') });
  try {
    const a = created(await t.engine.submit({ runbookId: 'slow-refuse', alert: alert('slow step'), target: target('one'), inputs: { ms: 300 } }));
    const b = created(await t.engine.submit({ runbookId: 'slow-refuse', alert: alert('slow step'), target: target('one'), inputs: { ms: 10 } }));
    assert.equal(b.status, 'refused');
    assert.equal(b.outcome, `target is busy with run ${a.id} and the runbook policy is to refuse`);
    assert.equal((await t.engine.waitForEnd(a.id, 10_000)).status, 'succeeded');
    assert.equal(await t.engine.store.lockHolder('one'), null, 'lock released at the end');
    const c = created(await t.engine.submit({ runbookId: 'slow-refuse', alert: alert('slow step'), target: target('one'), inputs: { ms: 10 } }));
    assert.equal((await t.engine.waitForEnd(c.id, 10_000)).status, 'succeeded');
  } finally {
    await t.close();
  }
});

test('retry from the failed step: the run resumes at that step with a new attempt, earlier steps not re-run', async () => {
  const t = await testEngine({ runbooks: engineRunbooks('fail-once') });
  try {
    const run = created(await t.engine.submit({ runbookId: 'fail-once', alert: alert('fail once'), target: target('a') }));
    const failed = await t.engine.waitForEnd(run.id, 10_000);
    assert.equal(failed.status, 'failed');
    assert.match(failed.outcome!, /step 'two' failed: attempt 1 fails on purpose/);
    await assert.rejects(t.engine.retry('nope', 'x'), /no run/);
    await t.engine.retry(run.id, 'frank');
    const r = await t.engine.waitForEnd(run.id, 10_000);
    assert.equal(r.status, 'succeeded');
    const ev = await t.engine.store.events(run.id);
    assert.equal(ev.filter((e) => e.step === 'one' && e.kind === 'started').length, 1);
    assert.deepEqual(ev.filter((e) => e.step === 'two' && e.kind !== 'run').map((e) => `${e.kind}${e.attempt}`), ['started1', 'failed1', 'started2', 'succeeded2']);
    assert.ok(ev.some((e) => e.actor === 'frank' && /retry from step 'two'/.test(e.message ?? '')));
    await assert.rejects(t.engine.retry(run.id, 'frank'), /only a failed run/);
  } finally {
    await t.close();
  }
});

test('duplicate and stale deliveries are no-ops: the same job id is added once, old ids do nothing', async () => {
  const t = await testEngine({ runbooks: engineRunbooks('approval') });
  try {
    const run = created(await t.engine.submit({ runbookId: 'approval', alert: alert('approve me'), target: target('a'), inputs: { sleepMs: 400 } }));
    await t.engine.waitFor(run.id, (r) => r.status === 'waiting_approval', 10_000);
    await t.engine.decide(run.id, { decision: 'approved', actor: 'gina' });
    await t.engine.waitFor(run.id, (r) => r.steps.fix_a?.status === 'running', 10_000);
    const id = jobIdFor(run.id, 'fix_a', 1, 1);
    // Re-enqueue the running step under its deterministic id: BullMQ ignores it.
    const again = await t.engine.queue.add('step', { runId: run.id, step: 'fix_a', visit: 1, attempt: 1 }, { jobId: id });
    assert.equal(again.id, id);
    // A stale delivery of an earlier step (different id): the cursor check drops it.
    await t.engine.queue.add('step', { runId: run.id, step: 'plan', visit: 1, attempt: 1 }, { jobId: jobIdFor(run.id, 'plan', 1, 1) });
    await t.engine.queue.add('step', { runId: run.id, step: 'plan', visit: 1, attempt: 2 }, { jobId: jobIdFor(run.id, 'plan', 1, 2) });
    const r = await t.engine.waitForEnd(run.id, 10_000);
    assert.equal(r.status, 'succeeded');
    await waitDrained(t.engine);
    const ev = await t.engine.store.events(run.id);
    assert.equal(ev.filter((e) => e.step === 'fix_a' && e.kind === 'started').length, 1, 'fix_a ran once');
    assert.equal(ev.filter((e) => e.step === 'plan' && e.kind === 'started').length, 1, 'plan ran once');
  } finally {
    await t.close();
  }
});

async function waitDrained(engine: import('../../src/engine/engine.js').Engine) {
  for (let i = 0; i < 200; i++) {
    const c = await engine.queue.getJobCounts('active', 'waiting', 'delayed');
    if (c.active + c.waiting + c.delayed === 0) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('queue did not drain');
}

test('dedup and throttle at submission: same fingerprint attaches to the active run; throttle window refuses', async () => {
  const t = await testEngine({ runbooks: engineRunbooks('approval') });
  try {
    const a1 = alert('approve me', { fingerprint: 'same' });
    const first = created(await t.engine.submit({ runbookId: 'approval', alert: a1, target: target('a'), dedupe: true }));
    const second = await t.engine.submit({ runbookId: 'approval', alert: { ...a1, receivedAt: new Date().toISOString() }, target: target('a'), dedupe: true });
    assert.equal(second.result, 'attached');
    assert.equal((second as { run: RunRecord }).run.id, first.id);
    assert.equal((second as { run: RunRecord }).run.alertCount, 2);
    await t.engine.waitFor(first.id, (r) => r.status === 'waiting_approval', 10_000);
    await t.engine.cancel(first.id, 'test');
    const third = created(await t.engine.submit({ runbookId: 'approval', alert: a1, target: target('a'), dedupe: true }));
    assert.notEqual(third.id, first.id, 'a finished run does not absorb new alerts');
    await t.engine.cancel(third.id, 'test');
    // Throttle: the runbook says 1m per fingerprint; the first throttled submission opened the window.
    const opened = created(await t.engine.submit({ runbookId: 'approval', alert: alert('approve me', { fingerprint: 'flap' }), target: target('b'), dedupe: true, throttle: true }));
    await t.engine.cancel(opened.id, 'test');
    const flapped = await t.engine.submit({ runbookId: 'approval', alert: alert('approve me', { fingerprint: 'flap' }), target: target('b'), dedupe: true, throttle: true });
    assert.equal(flapped.result, 'throttled');
    assert.equal((flapped as { lastRunId: string }).lastRunId, opened.id);
    assert.ok((flapped as { retryInMs: number }).retryInMs > 50_000);
  } finally {
    await t.close();
  }
});

test('run store: list by status, runbook and target with pagination; events in order', async () => {
  const t = await testEngine({ runbooks: engineRunbooks('branching', 'approval') });
  try {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(created(await t.engine.submit({ runbookId: 'branching', alert: alert('branch me'), target: target(`s${i}`) })).id);
    const parked = created(await t.engine.submit({ runbookId: 'approval', alert: alert('approve me'), target: target('p') }));
    for (const id of ids) await t.engine.waitForEnd(id, 10_000);
    await t.engine.waitFor(parked.id, (r) => r.status === 'waiting_approval', 10_000);
    const page1 = await t.engine.store.list({ runbook: 'branching', limit: 3 });
    assert.equal(page1.runs.length, 3);
    assert.ok(page1.nextCursor);
    const page2 = await t.engine.store.list({ runbook: 'branching', limit: 3, cursor: page1.nextCursor });
    assert.equal(page2.runs.length, 2);
    assert.deepEqual(new Set([...page1.runs, ...page2.runs].map((r) => r.id)), new Set(ids));
    assert.deepEqual((await t.engine.store.list({ status: 'waiting_approval' })).runs.map((r) => r.id), [parked.id]);
    assert.deepEqual((await t.engine.store.list({ target: 's3' })).runs.map((r) => r.id), [ids[3]]);
    const counts = await t.engine.store.countByStatus();
    assert.equal(counts.succeeded, 5);
    assert.equal(counts.waiting_approval, 1);
    const removed = await t.engine.store.prune(Date.now() + 1000);
    assert.equal(removed, 5, 'retention prunes finished runs only');
    assert.equal((await t.engine.store.get(parked.id))?.status, 'waiting_approval');
  } finally {
    await t.close();
  }
});
