// Slack request signing: Slack's own documented example as a test vector, the 5-minute window both ways,
// forged signatures; and the /slack/interactions route applying it to the raw body before anything else.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { slackSignature, verifySlackRequest } from '../../src/api/slack/signature.js';
import { buildApp } from '../../src/api/app.js';
import { silentLogger } from '../../src/logging.js';
import { harness, slackRequest, SLACK_APP, SLACK_CHANNEL, SLACK_TEAM, TOKENS, type Harness } from './harness.js';

// From Slack's "Verifying requests from Slack" documentation.
const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const TS = '1531420618';
const BODY = 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
const SIG = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';

test("Slack's documented example: our signature equals Slack's and verifies", () => {
  assert.equal(slackSignature(SECRET, TS, BODY), SIG);
  assert.deepEqual(verifySlackRequest({ signingSecret: SECRET, timestamp: TS, signature: SIG, rawBody: Buffer.from(BODY), nowSeconds: Number(TS) + 30 }), { ok: true });
});

test('timestamp outside 5 minutes (either way), forged or missing signature: refused with a reason', () => {
  const v = (o: Partial<Parameters<typeof verifySlackRequest>[0]>) => verifySlackRequest({ signingSecret: SECRET, timestamp: TS, signature: SIG, rawBody: BODY, nowSeconds: Number(TS), ...o });
  assert.deepEqual(v({ nowSeconds: Number(TS) + 300 }), { ok: true }, 'exactly 5 minutes is still inside');
  assert.equal(v({ nowSeconds: Number(TS) + 301 }).ok, false);
  assert.equal(v({ nowSeconds: Number(TS) - 301 }).ok, false, 'from the future');
  assert.match((v({ nowSeconds: Number(TS) + 3600 }) as any).reason, /more than 5 minutes/);
  assert.deepEqual(v({ rawBody: BODY.replace('roadrunner', 'wile_e') }), { ok: false, reason: 'X-Slack-Signature does not match the request' });
  assert.equal(v({ signature: SIG.replace(/.$/, '4') }).ok, false);
  assert.equal(v({ signature: 'v0=abc' }).ok, false);
  assert.equal(v({ signingSecret: 'another-secret' }).ok, false);
  assert.deepEqual(v({ signature: undefined }), { ok: false, reason: 'missing X-Slack-Signature header' });
  assert.deepEqual(v({ timestamp: undefined }), { ok: false, reason: 'missing X-Slack-Request-Timestamp header' });
  assert.equal(v({ timestamp: '15314x0618' }).ok, false);
});

let h: Harness;
before(async () => {
  h = await harness();
});
after(async () => h.close());

test('the route checks the documented vector on the raw bytes: signed passes to validation (400), tampered is 401', async () => {
  const app = await buildApp({ engine: h.engine, config: { ...h.config, slack: { ...h.config.slack, signingSecret: SECRET } }, logger: silentLogger() as any, slackNowSeconds: () => Number(TS) + 10 });
  try {
    const headers = { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': TS, 'x-slack-signature': SIG };
    const ok = await app.inject({ method: 'POST', url: '/slack/interactions', payload: BODY, headers });
    assert.equal(ok.statusCode, 400, 'signature accepted; a slash command has no interactivity payload');
    assert.equal(ok.json().message, 'body.payload: is required');
    const bad = await app.inject({ method: 'POST', url: '/slack/interactions', payload: BODY.replace('foobar', 'foobaz'), headers });
    assert.equal(bad.statusCode, 401);
    assert.deepEqual(bad.json(), { error: 'bad_signature', message: 'X-Slack-Signature does not match the request', field: 'x-slack-signature' });
  } finally {
    await app.close();
  }
});

test('forged, stale and replayed interaction requests are refused before the payload is read', async () => {
  const payload = { type: 'block_actions', team: { id: SLACK_TEAM }, api_app_id: SLACK_APP, channel: { id: SLACK_CHANNEL }, user: { id: 'U0ALLOWED' }, actions: [{ action_id: 'rw_approve', value: '{"run":"rnope","step":"approve","key":"rnope.approve.1"}' }] };
  const forged = slackRequest(payload, { secret: 'not-the-signing-secret-0123456789' });
  const r1 = await h.app!.inject({ method: 'POST', url: '/slack/interactions', payload: forged.body, headers: forged.headers });
  assert.equal(r1.statusCode, 401);
  const stale = slackRequest(payload, { ts: Math.floor(Date.now() / 1000) - 301 });
  const r2 = await h.app!.inject({ method: 'POST', url: '/slack/interactions', payload: stale.body, headers: stale.headers });
  assert.equal(r2.statusCode, 401);
  assert.match(r2.json().message, /more than 5 minutes/);
  const good = slackRequest(payload);
  const r3 = await fetch(`${h.url}/slack/interactions`, { method: 'POST', headers: good.headers, body: good.body });
  assert.equal(r3.status, 200);
  assert.equal(((await r3.json()) as any).outcome, 'unknown_run');
  const replay = await fetch(`${h.url}/slack/interactions`, { method: 'POST', headers: good.headers, body: good.body });
  assert.equal(replay.status, 401);
  assert.deepEqual(await replay.json(), { error: 'replayed', message: 'this signed request was already received (replay)', field: 'x-slack-signature' });
  assert.ok(!h.logs.some((l) => l.includes(good.headers['x-slack-signature']!) || l.includes(TOKENS.slackSigning)), 'no signature or secret in logs');
});
