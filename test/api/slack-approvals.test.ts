// Slack approval steps against a loopback fake Slack Web API (slackApiUrl): the Block Kit message posted when a
// run reaches its approval gate, signed button clicks that resume the run, the message updated with who decided
// and when; refused approvers, second clicks, finished runs and timeouts change nothing twice; Slack down → the
// run still waits and is approved through the API.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, bearer, slackRequest, TOKENS, SLACK_CHANNEL, DASHBOARD, type Harness } from './harness.js';
import { FakeSlack, type SlackCall } from '../fakes/slack.js';
import type { RunRecord } from '../../src/core/types.js';

let h: Harness;
let slack: FakeSlack;
before(async () => {
  slack = await new FakeSlack().start();
  slack.groups.set('SONCALL1', ['U0ONCALL', 'U0OTHER']);
  h = await harness({ worker: true, slack });
});
after(async () => {
  await h.close();
  await slack.close();
});

const DIFF = "--- a/app/models/article.py\n+++ b/app/models/article.py\n@@ -3 +3 @@\n-    author = relationship('Auther')\n+    author = relationship('Author')\n";

async function startRun(fp: string, text = 'billing export needs a human: mapper failure', runbookText?: string): Promise<RunRecord> {
  const res = await h.app!.inject({ method: 'POST', url: '/intake/generic', headers: bearer(TOKENS.generic), payload: { text: runbookText ?? text, severity: 'error', labels: { service: 'billing' }, fingerprint: fp } });
  assert.equal(res.statusCode, 202, res.body);
  return h.engine.waitFor(res.json().runId, (r) => r.status === 'waiting_approval' || r.status === 'escalated' || r.status === 'succeeded', 15_000);
}

const posted = (runId: string) => slack.waitFor((c) => c.method === 'chat.postMessage' && JSON.stringify(c.body.blocks ?? '').includes(runId));
const updated = (ts: string, after = 0) => slack.waitFor((c) => c.method === 'chat.update' && c.body.ts === ts && slack.calls.indexOf(c) >= after);
const ephemeralFor = (user: string, after: number) => slack.waitFor((c) => c.method === 'chat.postEphemeral' && c.body.user === user && slack.calls.indexOf(c) >= after);

function click(runId: string, user: string, action: string, opts: { choice?: string; channel?: string; ts?: string; url?: string } = {}) {
  const value = JSON.stringify({ run: runId, step: 'approve', key: `${runId}.approve.1`, ...(opts.choice ? { choice: opts.choice } : {}) });
  const payload = {
    type: 'block_actions',
    user: { id: user, username: user.toLowerCase(), name: user.toLowerCase(), team_id: 'T0TEAM' },
    api_app_id: 'A0APP',
    token: 'deprecated-verification-token',
    container: { type: 'message', message_ts: opts.ts ?? '1700000000.000000', channel_id: opts.channel ?? SLACK_CHANNEL, is_ephemeral: false },
    trigger_id: '123.456.abc',
    team: { id: 'T0TEAM', domain: 'acme' },
    channel: { id: opts.channel ?? SLACK_CHANNEL, name: 'approvals' },
    message: { type: 'message', ts: opts.ts ?? '1700000000.000000', text: 'Approval needed' },
    response_url: 'https://hooks.slack.com/actions/T0TEAM/1/abc',
    actions: [{ type: 'button', action_id: action, block_id: 'rw_approval', value, text: { type: 'plain_text', text: 'x', emoji: true }, action_ts: String(Date.now() / 1000) }],
  };
  const req = slackRequest(payload);
  return fetch(`${opts.url ?? h.url}/slack/interactions`, { method: 'POST', headers: req.headers, body: req.body });
}

test('approval gate → Block Kit message with what fired, what was found, the diff, A/B/C and a dashboard link', async () => {
  const run = await startRun('slack-blocks', 'billing export needs a human: <!channel> & <https://evil.example|click here>');
  assert.equal(run.status, 'waiting_approval');
  const call = await posted(run.id);
  assert.equal(call.path, '/api/chat.postMessage');
  assert.equal(call.authorization, `Bearer ${TOKENS.slackBot}`);
  assert.equal(call.body.channel, SLACK_CHANNEL);
  assert.equal(call.body.text, `Approval needed: fix-approval on billing (run ${run.id}): Apply fix A to billing?`);
  const value = (choice?: string) => JSON.stringify({ run: run.id, step: 'approve', key: `${run.id}.approve.1`, ...(choice ? { choice } : {}) });
  const link = `${DASHBOARD}/runs/${run.id}`;
  assert.deepEqual(call.body.blocks, [
    { type: 'header', text: { type: 'plain_text', text: 'Approval needed: fix-approval', emoji: true } },
    { type: 'section', text: { type: 'mrkdwn', text: 'Apply fix A to billing?' } },
    {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: '*Target*\nbilling' },
        { type: 'mrkdwn', text: '*Runbook*\nfix-approval' },
        { type: 'mrkdwn', text: '*Severity*\nerror' },
        { type: 'mrkdwn', text: `*Run*\n<${link}|${run.id}>` },
      ],
    },
    // Alert text is escaped: no channel ping, no forged link.
    { type: 'section', text: { type: 'mrkdwn', text: '*What fired* (generic)\n```billing export needs a human: &lt;!channel&gt; &amp; &lt;https://evil.example|click here&gt;```' } },
    { type: 'section', text: { type: 'mrkdwn', text: '*What was found*\n```{\n  "cause": "missing_class"\n}```' } },
    { type: 'section', text: { type: 'mrkdwn', text: `*Proposed fix:* A\nrename the relationship target\n\`\`\`${DIFF}\`\`\`` } },
    {
      type: 'actions',
      block_id: 'rw_approval',
      elements: [
        { type: 'button', action_id: 'rw_approve', text: { type: 'plain_text', text: 'Approve', emoji: true }, style: 'primary', value: value() },
        { type: 'button', action_id: 'rw_reject', text: { type: 'plain_text', text: 'Reject', emoji: true }, style: 'danger', value: value() },
        { type: 'button', action_id: 'rw_choose_A', text: { type: 'plain_text', text: 'Approve option A', emoji: true }, value: value('A') },
        { type: 'button', action_id: 'rw_choose_B', text: { type: 'plain_text', text: 'Approve option B', emoji: true }, value: value('B') },
        { type: 'button', action_id: 'rw_choose_C', text: { type: 'plain_text', text: 'Approve option C', emoji: true }, value: value('C') },
        { type: 'button', action_id: 'rw_open', text: { type: 'plain_text', text: 'Open run', emoji: true }, url: link },
      ],
    },
    { type: 'context', elements: [{ type: 'mrkdwn', text: `run \`${run.id}\` · step \`approve\`` }] },
  ]);
  // Cancelled while waiting: the message is closed, and a late click is answered without changing anything.
  const res = await h.app!.inject({ method: 'POST', url: `/api/runs/${run.id}/cancel`, headers: bearer(TOKENS.admin), payload: { reason: 'duplicate incident' } });
  assert.equal(res.statusCode, 200);
  const upd = await updated(call.response!.ts);
  const secs = Math.floor(Date.parse(res.json().run.finishedAt) / 1000);
  assert.equal(upd.body.blocks.at(-1).text.text, `:no_entry_sign: *Run cancelled* by admin at <!date^${secs}^{date_short_pretty} {time}|${res.json().run.finishedAt}>; this approval is closed\n<${link}|Open run>`);
  const late = await click(run.id, 'U0ALLOWED', 'rw_approve');
  assert.equal(((await late.json()) as any).outcome, 'not_waiting');
  assert.equal((await h.engine.store.get(run.id))!.status, 'cancelled');
});

test('an unauthorised approver is refused (told privately) and the run is unchanged', async () => {
  const run = await startRun('slack-intruder');
  await posted(run.id);
  const eventsBefore = (await h.engine.store.events(run.id)).length;
  const mark = slack.calls.length;
  const res = await click(run.id, 'U0INTRUDER', 'rw_approve');
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as any).outcome, 'not_allowed');
  const eph = await ephemeralFor('U0INTRUDER', mark);
  assert.deepEqual(eph.body, { channel: SLACK_CHANNEL, user: 'U0INTRUDER', text: `You are not an allowed approver for run \`${run.id}\`. Nothing changed.` });
  const after = (await h.engine.store.get(run.id))!;
  assert.equal(after.status, 'waiting_approval');
  assert.equal(after.approval, undefined);
  assert.equal((await h.engine.store.events(run.id)).length, eventsBefore, 'no event recorded');
  assert.equal(slack.calls.slice(mark).filter((c) => c.method === 'chat.update').length, 0);
  await h.engine.cancel(run.id, 'test');
});

test('a user-group member picks option B: the run resumes on that branch and the message shows who and when; a second click changes nothing', async () => {
  const run = await startRun('slack-group-b');
  const msg = await posted(run.id);
  const handle = { channel: SLACK_CHANNEL, ts: String(msg.response?.ts) };
  const mark = slack.calls.length;
  const res = await click(run.id, 'U0ONCALL', 'rw_choose_B', { choice: 'B', ts: handle.ts });
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as any).outcome, 'approved');
  const done = await h.engine.waitForEnd(run.id, 15_000);
  assert.equal(done.status, 'succeeded');
  assert.equal(done.outcome, 'applied B');
  assert.ok(done.steps.fix_b && !done.steps.fix_a, 'took the B branch');
  assert.equal(done.approval?.actor, 'slack:U0ONCALL');
  assert.equal(done.approval?.choice, 'B');
  const upd = await updated(handle.ts, mark);
  assert.equal(upd.body.channel, SLACK_CHANNEL);
  const secs = Math.floor(Date.parse(done.approval!.at) / 1000);
  const last = upd.body.blocks[upd.body.blocks.length - 1];
  assert.equal(last.text.text, `:white_check_mark: *Approved* (option B) by <@U0ONCALL> at <!date^${secs}^{date_short_pretty} {time}|${done.approval!.at}> — “via Slack (u0oncall)”\n<${DASHBOARD}/runs/${run.id}|Open run>`);
  assert.ok(!upd.body.blocks.some((b: any) => b.type === 'actions'), 'buttons removed');
  assert.ok(slack.calls.some((c) => c.method === 'usergroups.users.list' && c.body.usergroup === 'SONCALL1'), 'group membership asked from Slack (cached for a minute)');
  // Second click (someone else, later): answered privately, nothing changes, no second update.
  await slack.waitFor((c) => c.method === 'chat.update' && c.body.ts === handle.ts && String(c.body.text).includes('SUCCEEDED'));
  await h.notices!.idle();
  const mark2 = slack.calls.length;
  const again = await click(run.id, 'U0ALLOWED', 'rw_approve', { ts: handle.ts });
  assert.equal(((await again.json()) as any).outcome, 'not_waiting');
  const eph = await ephemeralFor('U0ALLOWED', mark2);
  assert.equal(eph.body.text, `Nothing changed: run \`${run.id}\` is succeeded, not waiting for this approval. It was decided by <@U0ONCALL> at ${done.approval!.at}.`);
  const final = (await h.engine.store.get(run.id))!;
  assert.equal(final.approvals?.length, 1);
  assert.equal(slack.calls.slice(mark2).filter((c) => c.method === 'chat.update').length, 0);
});

test('reject in Slack follows onReject; a click on a finished run is answered and changes nothing', async () => {
  const run = await startRun('slack-reject');
  await posted(run.id);
  const res = await click(run.id, 'U0ALLOWED', 'rw_reject');
  assert.equal(((await res.json()) as any).outcome, 'rejected');
  const done = await h.engine.waitForEnd(run.id, 15_000);
  assert.equal(done.status, 'escalated');
  assert.equal(done.outcome, 'rejected by slack:U0ALLOWED');
  const mark = slack.calls.length;
  const late = await click(run.id, 'U0ALLOWED', 'rw_approve');
  assert.equal(((await late.json()) as any).outcome, 'not_waiting');
  await ephemeralFor('U0ALLOWED', mark);
  assert.equal((await h.engine.store.get(run.id))!.status, 'escalated');
});

test('approved through the API: the Slack message is updated with the API user', async () => {
  const run = await startRun('slack-api-approve');
  const msg = await posted(run.id);
  const mark = slack.calls.length;
  const res = await h.app!.inject({ method: 'POST', url: `/api/runs/${run.id}/approve`, headers: bearer(TOKENS.alice), payload: { comment: 'looks right' } });
  assert.equal(res.statusCode, 200, res.body);
  const upd = await slack.waitFor((c) => c.method === 'chat.update' && slack.calls.indexOf(c) >= mark && JSON.stringify(c.body.blocks).includes(run.id));
  assert.match(upd.body.blocks.at(-1).text.text, /^:white_check_mark: \*Approved\* by alice at <!date\^\d+\^\{date_short_pretty\} \{time\}\|[^>]+> — “looks right”/);
  assert.equal(upd.body.channel, SLACK_CHANNEL);
  assert.equal(upd.body.ts, msg.response?.ts, 'the posted message is the one updated');
  assert.equal((await h.engine.waitForEnd(run.id, 15_000)).status, 'succeeded');
});

test('an approval that times out: the run follows onReject, the message says so, a later click changes nothing', async () => {
  const res = await h.app!.inject({ method: 'POST', url: '/intake/generic', headers: bearer(TOKENS.generic), payload: { text: 'nobody answers the pager', labels: { service: 'web' }, fingerprint: 'slack-timeout' } });
  const runId = res.json().runId;
  await posted(runId);
  const done = await h.engine.waitForEnd(runId, 20_000);
  assert.equal(done.status, 'escalated');
  assert.equal(done.outcome, 'not approved: system:timeout');
  const upd = await slack.waitFor((c) => c.method === 'chat.update' && JSON.stringify(c.body.blocks).includes(runId));
  assert.match(upd.body.blocks.at(-1).text.text, /^:hourglass: \*Timed out\* — no decision in time; rejected at <!date\^/);
  const late = await click(runId, 'U0ALLOWED', 'rw_approve');
  assert.equal(((await late.json()) as any).outcome, 'not_waiting');
  assert.equal((await h.engine.store.get(runId))!.approvals?.length, 1);
});

test('Slack unreachable: posting is retried with backoff, the run keeps waiting and is approved through the API', async () => {
  slack.mode.set('chat.postMessage', 'http500');
  try {
    const run = await startRun('slack-down');
    await slack.waitFor((c) => c.method === 'chat.postMessage' && slack.callsTo('chat.postMessage').filter((x: SlackCall) => JSON.stringify(x.body.blocks ?? '').includes(run.id)).length >= 3);
    assert.equal((await h.engine.store.get(run.id))!.status, 'waiting_approval', 'still waiting');
    const res = await h.app!.inject({ method: 'POST', url: `/api/runs/${run.id}/approve`, headers: bearer(TOKENS.alice), payload: { choice: 'C' } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().run.approval.choice, 'C');
    const done = await h.engine.waitForEnd(run.id, 15_000);
    assert.equal(done.status, 'succeeded');
    await h.notifier!.idle();
    const attempts = slack.callsTo('chat.postMessage').filter((x) => JSON.stringify(x.body.blocks ?? '').includes(run.id)).length;
    slack.mode.delete('chat.postMessage');
    await h.notifier!.idle();
    assert.equal(slack.callsTo('chat.postMessage').filter((x) => JSON.stringify(x.body.blocks ?? '').includes(run.id)).length, attempts, 'retries stopped once decided');
  } finally {
    slack.mode.delete('chat.postMessage');
  }
});

test('the Slack bot token and signing secret never appear in the logs; run lines carry the run id', async () => {
  assert.ok(!h.logs.some((l) => l.includes(TOKENS.slackBot) || l.includes(TOKENS.slackSigning)));
  const decided = h.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'approval decided in Slack');
  assert.ok(decided.length >= 2);
  assert.ok(decided.every((l) => typeof l.runId === 'string' && l.runId.startsWith('r')));
  const posts = h.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'approval request posted to Slack');
  assert.ok(posts.length >= 4 && posts.every((l) => l.runId));
});

test('after a restart, an approval whose message never got out (Slack was down) is posted', async () => {
  const before = await harness({ worker: true, slack });
  slack.mode.set('chat.postMessage', 'http500');
  let runId = '';
  try {
    const res = await before.app!.inject({ method: 'POST', url: '/intake/generic', headers: bearer(TOKENS.generic), payload: { text: 'needs a human', labels: { service: 'billing' }, fingerprint: 'restart-1' } });
    runId = res.json().runId;
    await before.engine.waitFor(runId, (r) => r.status === 'waiting_approval', 15_000);
    await slack.waitFor((c) => c.method === 'chat.postMessage' && JSON.stringify(c.body.blocks ?? '').includes(runId));
  } finally {
    await before.stop(); // the process goes away while Slack is still down
  }
  slack.mode.delete('chat.postMessage');
  const failed = slack.callsTo('chat.postMessage').length;
  const after = await harness({ slack, prefix: before.prefix });
  try {
    const call = await slack.waitFor((c) => c.method === 'chat.postMessage' && slack.calls.indexOf(c) >= failed && JSON.stringify(c.body.blocks ?? '').includes(runId));
    assert.equal(call.body.channel, SLACK_CHANNEL);
    assert.equal(call.body.text, `Approval needed: fix-approval on billing (run ${runId}): Apply fix A to billing?`);
    assert.ok(call.body.blocks.some((b: any) => b.type === 'actions'));
    await after.notifier!.idle();
    assert.ok(after.logs.some((l) => l.includes('posting approval messages that were never posted')));
    // A click on it now decides the run (same Redis, the run is still waiting).
    const clicked = await click(runId, 'U0ALLOWED', 'rw_approve', { url: after.url });
    assert.equal(((await clicked.json()) as any).outcome, 'approved');
  } finally {
    await after.close();
  }
});
