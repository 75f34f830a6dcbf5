// Live events: every event on the all-events channel; the run-level ones (created, ended, cancelled...) also on
// their own channel, which is what workers listen on (they need ends and cancels, not every step's events).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alert, engineRunbooks, target, testEngine } from '../helpers/engine.js';
import type { RunRecord, StepEvent } from '../../src/core/types.js';

/** An all-events listener and a run-level one, collecting what they hear. */
async function listen(t: Awaited<ReturnType<typeof testEngine>>) {
  const all: StepEvent[] = [];
  const runLevel: StepEvent[] = [];
  const offAll = await t.engine.store.subscribe((ev) => void all.push(ev));
  const offRun = await t.engine.store.subscribe((ev) => void runLevel.push(ev), { runLevel: true });
  return { all, runLevel, off: async () => { await offAll(); await offRun(); } };
}

test('store.subscribe: runLevel listeners get exactly the run-level events of a run, the others get all', async () => {
  const t = await testEngine({ runbooks: engineRunbooks('branching') });
  try {
    const { all, runLevel, off } = await listen(t);
    const res = await t.engine.submit({ runbookId: 'branching', alert: alert('branch me'), target: target('ev') });
    const id = (res as { run: RunRecord }).run.id;
    await t.engine.waitForEnd(id, 10_000);
    const stored = await t.engine.store.events(id);
    // The end event is the last one stored; wait until both listeners have seen it (pub/sub is asynchronous).
    const lastId = stored.at(-1)!.id;
    await t.engine.waitFor(id, () => all.some((e) => e.id === lastId) && runLevel.some((e) => e.id === lastId), 10_000);
    const mine = (xs: StepEvent[]) => xs.filter((e) => e.runId === id).map((e) => `${e.id} ${e.step}:${e.kind}`);
    assert.deepEqual(mine(all), stored.map((e) => `${e.id} ${e.step}:${e.kind}`));
    assert.deepEqual(mine(runLevel), stored.filter((e) => e.kind === 'run').map((e) => `${e.id} ${e.step}:${e.kind}`));
    assert.equal(mine(runLevel).length, 2); // created, ended
    await off();
  } finally {
    await t.close();
  }
});

test('store.subscribe: an alert attaching to an active run is on the all-events channel, not on the run-level one', async () => {
  const t = await testEngine({ runbooks: engineRunbooks('approval') });
  try {
    const { all, runLevel, off } = await listen(t);
    const a = alert('approve me', { fingerprint: 'attach-ev' });
    const first = await t.engine.submit({ runbookId: 'approval', alert: a, target: target('ev-attach'), dedupe: true });
    const second = await t.engine.submit({ runbookId: 'approval', alert: a, target: target('ev-attach'), dedupe: true });
    assert.equal(second.result, 'attached');
    const id = (first as { run: RunRecord }).run.id;
    const stored = await t.engine.store.events(id);
    const attach = stored.find((e) => e.message === 'alert attached (deduplicated)')!;
    assert.equal(attach.kind, 'run');
    const created = stored.find((e) => e.kind === 'run' && e.message.startsWith('run created'))!;
    await t.engine.waitFor(id, () => all.some((e) => e.id === attach.id) && runLevel.some((e) => e.id === created.id), 10_000);
    // Published in order on one connection: the run-level channel had its chance to carry the attach before the
    // cancel's event arrives there.
    await t.engine.cancel(id, 'test');
    const cancelled = (await t.engine.store.events(id)).at(-1)!;
    await t.engine.waitFor(id, () => runLevel.some((e) => e.id === cancelled.id), 10_000);
    assert.deepEqual(runLevel.filter((e) => e.runId === id).map((e) => e.id), [created.id, cancelled.id]);
    assert.equal(all.filter((e) => e.id === attach.id).length, 1);
    await off();
  } finally {
    await t.close();
  }
});
