// Completion notices against the loopback fake Slack: one message per run, updated in place as the run moves and
// ending with its outcome coloured by its end status, milestones in its thread — asserted on the exact Web API
// requests. A run that posted an approval request has that message as its message (it keeps moving after the
// decision, its thread carries what followed); a run without one gets its message in SLACK_NOTICES_CHANNEL. Each
// milestone is posted once even when events are delivered again and several API processes follow them.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, TOKENS, DASHBOARD, SLACK_CHANNEL, type Harness } from './harness.js';
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
async function noticeCalls(runId: string, lastLine?: string): Promise<{ post: SlackCall; thread: SlackCall[]; updates: SlackCall[] }> {
  if (lastLine) await slack.waitFor((c) => c.method === 'chat.postMessage' && c.body.thread_ts && c.body.text === lastLine);
  await h.notices!.idle();
  const post = slack.calls.find((c) => c.method === 'chat.postMessage' && c.response && c.body.channel === NOTICES && !c.body.thread_ts && String(c.body.text).includes(`(run ${runId})`))!;
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
  // The last thread line and the message showing the end are separate Slack calls: await both (a busy machine orders
  // them either way). A run that ended before its notice was first posted is posted SUCCEEDED and never updated.
  const final = `disk-full on web (run ${runId}): SUCCEEDED — inspected`;
  await slack.waitFor((c) => (c.method === 'chat.update' || (c.method === 'chat.postMessage' && !c.body.thread_ts)) && c.body.text === final);
  const { post, thread, updates } = await noticeCalls(runId, ':white_check_mark: *run succeeded*: inspected');
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
  const last = updates.at(-1) ?? post;
  assert.equal(last.body.channel, NOTICES);
  assert.equal(last.body.text, final);
  if (!updates.length) assert.equal(post.body.text, final, 'never updated: posted once the run had ended');
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

/** The approval message of a run (top level, in the approval channel), its thread and its updates, in order. */
async function approvalCalls(runId: string, lastLine: string, others: Harness[] = []): Promise<{ post: SlackCall; thread: SlackCall[]; updates: SlackCall[] }> {
  const post = await slack.waitFor((c) => c.method === 'chat.postMessage' && c.body.channel === SLACK_CHANNEL && !c.body.thread_ts && String(c.body.text).includes(`(run ${runId})`));
  const ts = post.response!.ts;
  await slack.waitFor((c) => c.method === 'chat.postMessage' && c.body.thread_ts === ts && c.body.text === lastLine);
  for (const x of [h, ...others, h]) {
    await x.notices!.idle();
    await x.notifier!.idle();
    await x.notices!.idle();
  }
  return {
    post,
    thread: slack.calls.filter((c) => c.method === 'chat.postMessage' && c.body.thread_ts === ts),
    updates: slack.calls.filter((c) => c.method === 'chat.update' && c.body.ts === ts),
  };
}

const noNotice = (runId: string) => assert.equal(slack.calls.filter((c) => c.body.channel === NOTICES && String(c.body.text).includes(`(run ${runId})`)).length, 0, 'no second message in the notices channel');

test('a rejected approval: the approval message is the run message — ⚠ ESCALATED in place with the outcome, what to look at and who decided; the thread carries what followed', async () => {
  const res = await h.engine.submit({ runbookId: 'fix-approval', target: 'billing', alert: alert('billing needs a human <!channel>') });
  const runId = res.run.id;
  await h.engine.waitFor(runId, (r) => r.status === 'waiting_approval', 15_000);
  await slack.waitFor((c) => c.method === 'chat.postMessage' && c.body.channel === SLACK_CHANNEL && String(c.body.text).includes(`(run ${runId})`));
  await h.engine.decide(runId, { decision: 'rejected', actor: 'alice', comment: 'not now' });
  const done = await h.engine.waitForEnd(runId, 15_000);
  assert.equal(done.status, 'escalated');
  const { post, thread, updates } = await approvalCalls(runId, ':warning: *run escalated*: rejected by alice');
  assert.ok(post.body.blocks.some((b: any) => b.type === 'actions'), 'posted with its buttons');
  assert.deepEqual(thread.map((c) => [c.body.channel, c.body.thread_ts, c.body.text]), [
    [SLACK_CHANNEL, post.response!.ts, ':x: *approve* rejected by alice'],
    [SLACK_CHANNEL, post.response!.ts, ':warning: *rejected* end escalated: rejected by alice'],
    [SLACK_CHANNEL, post.response!.ts, ':warning: *run escalated*: rejected by alice'],
  ]);
  const last = updates.at(-1)!;
  assert.equal(last.body.channel, SLACK_CHANNEL);
  const at = done.approval!.at;
  const decided = `:x: *Rejected* by alice at <!date^${Math.floor(Date.parse(at) / 1000)}^{date_short_pretty} {time}|${at}> — “not now”`;
  const link = `${DASHBOARD}/runs/${runId}`;
  assert.equal(last.body.text, `fix-approval on billing (run ${runId}): ESCALATED — rejected by alice — ${decided}`);
  assert.equal(last.body.blocks[0].text.text, 'Approval needed: fix-approval');
  assert.equal(last.body.blocks[3].text.text, '*What fired* (test)\n```billing needs a human &lt;!channel&gt;```', 'alert text escaped');
  assert.deepEqual(last.body.blocks.slice(6), [
    { type: 'section', text: { type: 'mrkdwn', text: ':warning: *ESCALATED* — fix-approval on *billing*' } },
    { type: 'section', fields: [{ type: 'mrkdwn', text: '*Ended at*\n`rejected`' }] },
    { type: 'section', text: { type: 'mrkdwn', text: '*Outcome*\nrejected by alice' } },
    { type: 'section', text: { type: 'mrkdwn', text: "*What to look at*\n• approval 'approve' rejected by alice: not now\n• Nothing pushed: the target repository is unchanged." } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: `<${link}|Dashboard>` }] },
    { type: 'section', text: { type: 'mrkdwn', text: `${decided}\n<${link}|Open run>` } },
  ]);
  assert.ok(!last.body.blocks.some((b: any) => b.type === 'actions'), 'no buttons once decided');
  assert.ok(!JSON.stringify(updates.map((u) => u.body.blocks)).includes(':white_check_mark: *ESCALATED'));
  noNotice(runId);
});

test('approved: the approval message moves on to SUCCEEDED with the outcome, who decided last; several API processes and events delivered again post each milestone once', async () => {
  // A second API process on the same Redis and Slack: it sees every event too.
  const second = await harness({ slack, prefix: h.prefix, config: { slack: { noticesChannel: NOTICES } } });
  try {
    const res = await h.engine.submit({ runbookId: 'fix-approval', target: 'billing', alert: alert('billing needs a human') });
    const runId = res.run.id;
    await h.engine.waitFor(runId, (r) => r.status === 'waiting_approval', 15_000);
    const post = await slack.waitFor((c) => c.method === 'chat.postMessage' && c.body.channel === SLACK_CHANNEL && String(c.body.text).includes(`(run ${runId})`));
    await h.engine.decide(runId, { decision: 'approved', actor: 'alice', choice: 'B' });
    const done = await h.engine.waitForEnd(runId, 15_000);
    assert.equal(done.status, 'succeeded');
    const lastLine = ':white_check_mark: *run succeeded*: applied B';
    const { thread, updates } = await approvalCalls(runId, lastLine, [second]);
    assert.deepEqual(thread.map((c) => c.body.text), [
      ':white_check_mark: *approve* approved (option B) by alice',
      ':white_check_mark: *fix_b* succeeded: applied=B',
      ':white_check_mark: *done* end succeeded: applied B',
      lastLine,
    ]);
    const last = updates.at(-1)!;
    assert.equal(last.body.ts, post.response!.ts);
    assert.match(last.body.text, new RegExp(`^fix-approval on billing \\(run ${runId}\\): SUCCEEDED — applied B — :white_check_mark: \\*Approved\\* \\(option B\\) by alice at `));
    assert.equal(last.body.blocks[6].text.text, ':white_check_mark: *SUCCEEDED* — fix-approval on *billing*');
    assert.equal(last.body.blocks.at(-1).text.text.split('\n')[0], last.body.text.split(' — ').slice(2).join(' — '), 'who decided, last');
    // every update is a different picture (an unchanged one is not sent again)
    const shown = updates.map((u) => JSON.stringify([u.body.text, u.body.blocks]));
    assert.equal(new Set(shown).size, shown.length);
    noNotice(runId);

    // Delivered again (at-least-once), to both processes, and synced directly: nothing new reaches Slack.
    const before = slack.calls.length;
    const events = await h.engine.store.events(runId);
    for (const ev of events) {
      h.notices!.onEvent(ev);
      second.notices!.onEvent(ev);
    }
    await Promise.all([h.notices!.sync(runId), second.notices!.sync(runId)]);
    await h.notices!.idle();
    await second.notices!.idle();
    assert.deepEqual(slack.calls.slice(before).map((c) => c.method), []);
  } finally {
    await second.stop();
  }
});

test('a dry run never parks: its message is in the notices channel, marked DRY RUN', async () => {
  const res = await h.engine.submit({ runbookId: 'fix-approval', target: 'billing', alert: alert('billing needs a human (rehearsal)'), dryRun: true });
  const runId = res.run.id;
  assert.equal((await h.engine.waitForEnd(runId, 15_000)).status, 'succeeded');
  const { post, thread, updates } = await noticeCalls(runId, ':white_check_mark: *run succeeded*: applied A');
  assert.match(post.body.text, new RegExp(`^\\[DRY RUN\\] fix-approval on billing \\(run ${runId}\\): `));
  assert.ok(thread.some((c) => c.body.text === ':white_check_mark: *approve* approved by dry-run'), thread.map((c) => c.body.text).join('\n'));
  const last = updates.at(-1)!;
  assert.equal(last.body.text, `[DRY RUN] fix-approval on billing (run ${runId}): SUCCEEDED — applied A`);
  assert.equal(last.body.blocks[0].text.text, ':white_check_mark: *SUCCEEDED* · _DRY RUN, nothing written_ — fix-approval on *billing*');
  assert.equal(slack.calls.filter((c) => c.body.channel === SLACK_CHANNEL && JSON.stringify(c.body).includes(runId)).length, 0, 'no approval message');
});

test('Slack failing while a run moves: the run ends on time; once Slack answers, the message and its thread catch up, each line once', async () => {
  slack.mode.set('chat.postMessage', 'http500');
  let runId: string;
  try {
    const res = await h.engine.submit({ runbookId: 'disk-full', target: 'web', alert: alert('disk is full on web-2') });
    runId = res.run.id;
    assert.equal((await h.engine.waitForEnd(runId, 15_000)).status, 'succeeded', 'Slack down does not hold the run');
    await slack.waitFor((c) => c.method === 'chat.postMessage' && c.body.channel === NOTICES && String(c.body.text).includes(`(run ${runId})`) && slack.calls.filter((x) => x.body.channel === NOTICES && String(x.body.text).includes(`(run ${runId})`)).length >= 3);
  } finally {
    slack.mode.delete('chat.postMessage');
  }
  const { thread, updates } = await noticeCalls(runId, ':white_check_mark: *run succeeded*: inspected');
  assert.deepEqual(thread.map((c) => c.body.text), [':white_check_mark: *inspect* succeeded: used=97', ':white_check_mark: *done* end succeeded: inspected', ':white_check_mark: *run succeeded*: inspected']);
  assert.equal(slack.calls.filter((c) => c.method === 'chat.postMessage' && c.body.channel === NOTICES && !c.body.thread_ts && c.response && String(c.body.text).includes(`(run ${runId})`)).length, 1, 'one message once Slack answers');
  const last = updates.at(-1) ?? slack.calls.find((c) => c.method === 'chat.postMessage' && c.response && String(c.body.text).includes(`(run ${runId})`))!;
  assert.equal(last.body.text, `disk-full on web (run ${runId}): SUCCEEDED — inspected`);
});

test('a process that died holding a run message lock: the message is brought up to date once the lock expires', async () => {
  const res = await h.engine.submit({ runbookId: 'disk-full', target: 'web', alert: alert('disk is full on web-3') });
  const runId = res.run.id;
  await h.engine.waitForEnd(runId, 15_000);
  const { post } = await noticeCalls(runId, ':white_check_mark: *run succeeded*: inspected');
  // As if another process took the lock and died: its change (here: what the message shows) is still to be sent.
  const r = h.engine.store.redis;
  await r.del(`${h.prefix}:slack:run:${runId}:shown`);
  await r.set(`${h.prefix}:slack:run:${runId}:lock`, 'dead-process', 'PX', 300);
  const mark = slack.calls.length;
  await h.notices!.sync(runId);
  assert.equal(slack.calls.length, mark, 'nothing sent while the lock is held');
  const upd = await slack.waitFor((c) => c.method === 'chat.update' && c.body.ts === post.response!.ts && slack.calls.indexOf(c) >= mark);
  assert.equal(upd.body.text, `disk-full on web (run ${runId}): SUCCEEDED — inspected`);
  await h.notices!.idle();
  assert.equal(slack.calls.slice(mark).filter((c) => c.method === 'chat.postMessage').length, 0, 'no milestone posted twice');
});

test('decided before its posted approval message was adopted as the run message: it is adopted all the same, no notice is posted', async () => {
  const res = await h.engine.submit({ runbookId: 'fix-approval', target: 'billing', alert: alert('billing needs a human (race)') });
  const runId = res.run.id;
  await h.engine.waitFor(runId, (r) => r.status === 'waiting_approval', 15_000);
  const post = await slack.waitFor((c) => c.method === 'chat.postMessage' && c.body.channel === SLACK_CHANNEL && String(c.body.text).includes(`(run ${runId})`));
  await h.notifier!.idle();
  await h.notices!.idle();
  // As if the notifier had not got to adopting it yet when the decision came (Slack answered slowly).
  await h.engine.store.redis.del(`${h.prefix}:slack:run:${runId}:msg`);
  await h.engine.decide(runId, { decision: 'approved', actor: 'bob' });
  assert.equal((await h.engine.waitForEnd(runId, 15_000)).status, 'succeeded');
  const { thread, updates } = await approvalCalls(runId, ':white_check_mark: *run succeeded*: applied A');
  assert.deepEqual(thread.map((c) => c.body.text), [':white_check_mark: *approve* approved by bob', ':white_check_mark: *fix_a* succeeded: applied=A', ':white_check_mark: *done* end succeeded: applied A', ':white_check_mark: *run succeeded*: applied A']);
  const last = updates.at(-1)!;
  assert.equal(last.body.ts, post.response!.ts);
  assert.match(last.body.text, new RegExp(`^fix-approval on billing \\(run ${runId}\\): SUCCEEDED — applied A — :white_check_mark: \\*Approved\\* by bob at `));
  noNotice(runId);
});
