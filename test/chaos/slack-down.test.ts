// The Slack API down while an approval is posted: @slack/web-api against the loopback fake Slack (test/fakes/slack.ts),
// reached through a TCP proxy that can refuse connections. Whatever Slack does — HTTP 500, ok:false errors, no
// answer at all — posting is retried with backoff, the run keeps waiting at its gate, and it can be decided: in
// Slack once Slack is back (exactly one message is posted, then updated with the decision), or through the API
// while Slack is still down (and then nothing is posted late).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeSlack } from '../fakes/slack.js';
import { harness, bearer, slackRequest, TOKENS, SLACK_APP, SLACK_CHANNEL, SLACK_TEAM, type Harness } from '../api/harness.js';
import { ACTION_APPROVE } from '../../src/adapters/slack/blocks.js';
import type { RunRecord } from '../../src/core/types.js';
import { TcpProxy } from './tcp-proxy.js';
import { eventually } from './helpers.js';

let h: Harness;
let slack: FakeSlack;
let proxy: TcpProxy;

before(async () => {
  slack = await new FakeSlack().start();
  proxy = await new TcpProxy(Number(new URL(slack.url).port)).up();
  h = await harness({ worker: true, slack, config: { slack: { apiUrl: `http://127.0.0.1:${proxy.port}/api/` } } });
});
after(async () => {
  await h?.close();
  await proxy?.down();
  await slack?.close();
});

const forRun = (runId: string) => (c: { method: string; body: Record<string, any> }) => c.method === 'chat.postMessage' && JSON.stringify(c.body.blocks ?? '').includes(runId);
const failedPosts = (runId: string) => h.logs.filter((l) => l.includes('posting the approval to Slack failed') && l.includes(runId)).length;

async function startRun(fp: string, service = 'billing'): Promise<RunRecord> {
  const res = await h.app!.inject({ method: 'POST', url: '/intake/generic', headers: bearer(TOKENS.generic), payload: { text: `${service} export needs a human: mapper failure`, severity: 'error', labels: { service }, fingerprint: fp } });
  assert.equal(res.statusCode, 202, res.body);
  return h.engine.waitFor(res.json().runId, (r) => r.status === 'waiting_approval' || r.status === 'failed' || r.status === 'succeeded', 15_000);
}

function click(runId: string, user: string, ts: string) {
  const value = JSON.stringify({ run: runId, step: 'approve', key: `${runId}.approve.1` });
  const req = slackRequest({
    type: 'block_actions',
    team: { id: SLACK_TEAM },
    api_app_id: SLACK_APP,
    user: { id: user, username: user.toLowerCase() },
    container: { type: 'message', message_ts: ts, channel_id: SLACK_CHANNEL },
    channel: { id: SLACK_CHANNEL },
    actions: [{ type: 'button', action_id: ACTION_APPROVE, value }],
  });
  return fetch(`${h.url}/slack/interactions`, { method: 'POST', headers: req.headers, body: req.body });
}

test('Slack answers errors (ok:false, then HTTP 500) while the approval is posted: retried, the run waits; Slack back: one message, approved in Slack', async () => {
  slack.mode.set('chat.postMessage', 'error');
  const run = await startRun('chaos-slack-errors');
  assert.equal(run.status, 'waiting_approval');
  await slack.waitFor((c) => forRun(run.id)(c) && slack.calls.filter(forRun(run.id)).length >= 3);
  slack.mode.set('chat.postMessage', 'http500');
  const at500 = slack.calls.filter(forRun(run.id)).length;
  await slack.waitFor((c) => forRun(run.id)(c) && slack.calls.filter(forRun(run.id)).length >= at500 + 3);
  const still = (await h.engine.store.get(run.id))!;
  assert.equal(still.status, 'waiting_approval', 'the run keeps waiting while Slack fails');
  assert.equal(still.currentStep, 'approve');
  assert.ok(!(await h.engine.store.events(run.id)).some((e) => e.kind === 'failed'), 'no step failed because of Slack');

  // Slack is back: the next retry posts, and only that one.
  const before = slack.calls.length;
  slack.mode.delete('chat.postMessage');
  const handle = await eventually('the approval message to be posted', () => h.chat!.handleFor(`${run.id}.approve.1`));
  await h.notifier!.idle();
  assert.equal(slack.calls.slice(before).filter(forRun(run.id)).length, 1, 'exactly one message once Slack answers');
  assert.ok(failedPosts(run.id) >= 6, `the failures were logged as retried (${failedPosts(run.id)})`);

  const res = await click(run.id, 'U0ALLOWED', handle.ts);
  assert.equal(res.status, 200);
  assert.equal((await res.json()).outcome, 'approved');
  const done = await h.engine.waitForEnd(run.id, 15_000);
  assert.equal(done.status, 'succeeded');
  assert.equal(done.approval?.actor, 'slack:U0ALLOWED');
  const update = await slack.waitFor((c) => c.method === 'chat.update' && c.body.ts === handle.ts);
  assert.match(String(update.body.text), /Approved/);
});

test('Slack unreachable (connections refused): retried, the run waits and is approved through the API; nothing is posted late', async () => {
  await proxy.down();
  let run: RunRecord;
  try {
    run = await startRun('chaos-slack-refused');
    assert.equal(run.status, 'waiting_approval');
    await eventually('three failed posting attempts', () => failedPosts(run.id) >= 3);
    assert.equal((await h.engine.store.get(run.id))!.status, 'waiting_approval');
    assert.equal(slack.calls.filter(forRun(run.id)).length, 0, 'nothing reached Slack');
    const res = await h.app!.inject({ method: 'POST', url: `/api/runs/${run.id}/approve`, headers: bearer(TOKENS.alice), payload: { comment: 'Slack is down; approved in the dashboard' } });
    assert.equal(res.statusCode, 200, res.body);
    const done = await h.engine.waitForEnd(run.id, 15_000);
    assert.equal(done.status, 'succeeded');
    assert.equal(done.approval?.actor, 'alice');
  } finally {
    await proxy.up();
  }
  // The poster sees the run is no longer waiting and stops: Slack never gets a stale message with live buttons.
  await h.notifier!.idle();
  assert.equal(slack.calls.filter(forRun(run.id)).length, 0, 'no late approval message for a decided run');
  assert.equal(await h.chat!.handleFor(`${run.id}.approve.1`), null);
});

test('Slack down, then a second approval is decided in Slack after it comes back, while the first still waits', async () => {
  // Two runs park while Slack refuses connections; Slack comes back; both messages are posted exactly once and
  // each click decides only its own run.
  await proxy.down();
  let a: RunRecord;
  let b: RunRecord;
  try {
    a = await startRun('chaos-slack-two-a');
    b = await startRun('chaos-slack-two-b', 'web'); // another target: the same one would wait for its lock
    await eventually('both runs retried', () => failedPosts(a.id) >= 2 && failedPosts(b.id) >= 2);
  } finally {
    await proxy.up();
  }
  const ha = await eventually('run a posted', () => h.chat!.handleFor(`${a.id}.approve.1`));
  const hb = await eventually('run b posted', () => h.chat!.handleFor(`${b.id}.approve.1`));
  await h.notifier!.idle();
  assert.equal(slack.calls.filter(forRun(a.id)).length, 1);
  assert.equal(slack.calls.filter(forRun(b.id)).length, 1);
  const res = await click(b.id, 'U0ALLOWED', hb.ts);
  assert.equal((await res.json()).outcome, 'approved');
  assert.equal((await h.engine.waitForEnd(b.id, 15_000)).status, 'succeeded');
  assert.equal((await h.engine.store.get(a.id))!.status, 'waiting_approval', 'the other run still waits');
  const rej = await h.app!.inject({ method: 'POST', url: `/api/runs/${a.id}/reject`, headers: bearer(TOKENS.alice), payload: { comment: 'not today' } });
  assert.equal(rej.statusCode, 200);
  assert.equal((await h.engine.waitForEnd(a.id, 15_000)).status, 'escalated');
  await slack.waitFor((c) => c.method === 'chat.update' && c.body.ts === ha.ts);
});
