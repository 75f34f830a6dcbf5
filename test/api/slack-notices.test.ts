// Completion notices against the loopback fake Slack: one message per run in SLACK_NOTICES_CHANNEL, updated in place
// as the run moves and ending with its outcome coloured by its end status, milestones in its thread — asserted on
// the exact Web API requests.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, TOKENS, DASHBOARD, type Harness } from './harness.js';
import { FakeSlack, type SlackCall } from '../fakes/slack.js';
import type { Alert } from '../../src/core/types.js';

const NOTICES = 'C0NOTICES';
let h: Harness;
let slack: FakeSlack;
before(async () => {
  slack = await new FakeSlack().start();
  h = await harness({ worker: true, slack, config: { slack: { noticesChannel: NOTICES } } });
});
after(async () => {
  await h.close();
  await slack.close();
});

const alert = (text: string): Alert => ({ source: 'test', fingerprint: `fp-${Math.random().toString(36).slice(2)}`, severity: 'error', text, labels: {}, receivedAt: new Date().toISOString() });

/** Every call about this run's notice message: the post, its thread replies and its updates, in order. */
async function noticeCalls(runId: string): Promise<{ post: SlackCall; thread: SlackCall[]; updates: SlackCall[] }> {
  await h.notices!.idle();
  const post = slack.calls.find((c) => c.method === 'chat.postMessage' && c.body.channel === NOTICES && !c.body.thread_ts && String(c.body.text).includes(`(run ${runId})`))!;
  assert.ok(post, 'the run message was posted');
  const ts = post.response!.ts;
  return {
    post,
    thread: slack.calls.filter((c) => c.method === 'chat.postMessage' && c.body.thread_ts === ts),
    updates: slack.calls.filter((c) => c.method === 'chat.update' && c.body.ts === ts),
  };
}

test('a run that needs no approval: one message, updated to SUCCEEDED with the outcome and links; milestones in its thread', async () => {
  const res = await h.engine.submit({ runbookId: 'disk-full', target: 'web', alert: alert('disk is full on web-1') });
  const runId = res.run.id;
  await h.engine.waitForEnd(runId, 15_000);
  const { post, thread, updates } = await noticeCalls(runId);
  assert.equal(post.path, '/api/chat.postMessage');
  assert.equal(post.authorization, `Bearer ${TOKENS.slackBot}`);
  assert.equal(post.body.channel, NOTICES);
  assert.match(post.body.text, new RegExp(`^disk-full on web \\(run ${runId}\\): (QUEUED|RUNNING|SUCCEEDED)`), 'posted with the state the run had then');
  assert.deepEqual(thread.map((c) => c.body.text), [
    ':white_check_mark: *inspect* succeeded: used=97',
    ':white_check_mark: *done* end succeeded: inspected',
    ':white_check_mark: *run succeeded*: inspected',
  ]);
  for (const c of thread) assert.equal(c.body.channel, NOTICES);
  const last = updates.at(-1)!;
  assert.equal(last.body.channel, NOTICES);
  assert.equal(last.body.text, `disk-full on web (run ${runId}): SUCCEEDED — inspected`);
  const link = `${DASHBOARD}/runs/${runId}`;
  assert.deepEqual(last.body.blocks, [
    { type: 'section', text: { type: 'mrkdwn', text: ':white_check_mark: *SUCCEEDED* — disk-full on *web*' } },
    { type: 'section', fields: [{ type: 'mrkdwn', text: `*Run*\n<${link}|${runId}>` }, { type: 'mrkdwn', text: '*Ended at*\n`done`' }] },
    { type: 'section', text: { type: 'mrkdwn', text: '*What fired*\n```disk is full on web-1```' } },
    { type: 'section', text: { type: 'mrkdwn', text: '*Outcome*\ninspected' } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: `<${link}|Dashboard>` }] },
  ]);
  // updated in place: no second top-level message for this run
  assert.equal(slack.calls.filter((c) => c.method === 'chat.postMessage' && !c.body.thread_ts && String(c.body.text).includes(`(run ${runId})`)).length, 1);
});

test('a rejected approval ends escalated: ⚠ in the message and the thread, never ✅; alert text is escaped', async () => {
  const res = await h.engine.submit({ runbookId: 'fix-approval', target: 'billing', alert: alert('billing needs a human <!channel>') });
  const runId = res.run.id;
  await h.engine.waitFor(runId, (r) => r.status === 'waiting_approval', 15_000);
  // while it waits, the message says so
  await slack.waitFor((c) => c.method === 'chat.update' && c.body.channel === NOTICES && String(c.body.text) === `fix-approval on billing (run ${runId}): WAITING_APPROVAL` && c.body.blocks[0].text.text === ':double_vertical_bar: *WAITING APPROVAL* — fix-approval on *billing*');
  await h.engine.decide(runId, { decision: 'rejected', actor: 'alice', comment: 'not now' });
  await h.engine.waitForEnd(runId, 15_000);
  const { thread, updates } = await noticeCalls(runId);
  assert.deepEqual(thread.map((c) => c.body.text), [
    ':white_check_mark: *plan* succeeded: fix=A cause=missing_class',
    ':double_vertical_bar: *approve* waits for approval',
    ':x: *approve* rejected by alice',
    ':warning: *rejected* end escalated: rejected by alice',
    ':warning: *run escalated*: rejected by alice',
  ]);
  const last = updates.at(-1)!;
  assert.equal(last.body.text, `fix-approval on billing (run ${runId}): ESCALATED — rejected by alice`);
  assert.equal(last.body.blocks[0].text.text, ':warning: *ESCALATED* — fix-approval on *billing*');
  assert.equal(last.body.blocks[2].text.text, '*What fired*\n```billing needs a human &lt;!channel&gt;```');
  assert.ok(!JSON.stringify(updates.map((u) => u.body.blocks)).includes(':white_check_mark: *ESCALATED'));
});
