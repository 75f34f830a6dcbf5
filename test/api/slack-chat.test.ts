// The Slack ChatPort (WebClient against a loopback fake Slack): one message per approval key however often or
// concurrently it is asked, errors surface (the caller retries), updates replace the buttons in place.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SlackChat } from '../../src/adapters/slack/chat.js';
import type { ApprovalRequest } from '../../src/ports/index.js';
import { FakeSlack } from '../fakes/slack.js';
import { REDIS_URL, cleanupPrefix, testPrefix } from '../helpers/redis.js';

let slack: FakeSlack;
let chat: SlackChat;
const prefix = testPrefix('chat');
before(async () => {
  slack = await new FakeSlack().start();
  chat = new SlackChat({ token: 'xoxb-chat-test-0123456789', channel: 'C0OPS', apiUrl: slack.url, redisUrl: REDIS_URL, prefix });
});
after(async () => {
  await chat.close();
  await slack.close();
  await cleanupPrefix(prefix);
});

const req = (runId: string): ApprovalRequest => ({
  runId, step: 'approve', runbookId: 'rb', target: 'svc', prompt: 'Go?', options: [],
  alert: { source: 'generic', fingerprint: 'f', severity: 'error', text: 'boom', labels: {}, receivedAt: new Date().toISOString() },
});

test('postApproval is re-run safe by key, also when called concurrently', async () => {
  const a = await chat.postApproval(req('r1'), 'r1.approve.1');
  const b = await chat.postApproval(req('r1'), 'r1.approve.1');
  assert.deepEqual(a, b);
  assert.equal(a!.channel, 'C0OPS');
  const both = await Promise.all([chat.postApproval(req('r2'), 'r2.approve.1'), chat.postApproval(req('r2'), 'r2.approve.1')]);
  const posts = slack.callsTo('chat.postMessage');
  assert.equal(posts.length, 2, 'one message per key');
  assert.ok(both.some((h) => h?.ts === posts[1]!.response!.ts));
  assert.deepEqual(await chat.handleFor('r2.approve.1'), { channel: 'C0OPS', ts: posts[1]!.response!.ts });
  const visit2 = await chat.postApproval(req('r2'), 'r2.approve.2');
  assert.notEqual(visit2!.ts, posts[1]!.response!.ts, 'a new visit of the gate is a new message');
});

test('a Slack error is thrown and nothing is remembered; the next try posts', async () => {
  slack.mode.set('chat.postMessage', 'error');
  await assert.rejects(chat.postApproval(req('r3'), 'r3.approve.1'), /channel_not_found/);
  assert.equal(await chat.handleFor('r3.approve.1'), null);
  slack.mode.delete('chat.postMessage');
  const h = await chat.postApproval(req('r3'), 'r3.approve.1');
  assert.ok(h?.ts);
});

test('updateApproval sends chat.update for that channel and ts, with the outcome and no buttons', async () => {
  const h = (await chat.postApproval(req('r4'), 'r4.approve.1'))!;
  await chat.updateApproval(h, ':x: *Rejected* by carol', req('r4'));
  const u = slack.callsTo('chat.update').at(-1)!;
  assert.equal(u.path, '/api/chat.update');
  assert.equal(u.authorization, 'Bearer xoxb-chat-test-0123456789');
  assert.equal(u.body.channel, 'C0OPS');
  assert.equal(u.body.ts, h.ts);
  assert.equal(u.body.text, 'Approval needed: rb on svc (run r4): Go? — :x: *Rejected* by carol');
  assert.deepEqual(u.body.blocks.at(-1), { type: 'section', text: { type: 'mrkdwn', text: ':x: *Rejected* by carol' } });
  assert.ok(!u.body.blocks.some((b: any) => b.type === 'actions'));
});
