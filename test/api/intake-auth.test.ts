// Intake authentication: per-source bearer token or HMAC of the body, Pub/Sub push OIDC (audience checked),
// each accepted path and each rejection; a rejected request enqueues nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, bearer, hmac, nothingEnqueued, TOKENS, PUBSUB_AUDIENCE, PUBSUB_SA, type Harness } from './harness.js';
import { FakeGoogleCerts, otherKey } from '../fakes/google-oidc.js';

let h: Harness;
let google: FakeGoogleCerts;
before(async () => {
  google = await new FakeGoogleCerts().start();
  // cloud-monitoring closed (no credential) to test that path; generic has both a token and an HMAC secret.
  h = await harness({ google, config: { api: { sources: { 'cloud-monitoring': { token: undefined } } } } });
});
after(async () => {
  await h.close();
  await google.close();
});

const json = { 'content-type': 'application/json' };
const noMatch = JSON.stringify({ text: 'nothing runbooks know', fingerprint: 'auth-probe' });
const matching = (fp: string) => JSON.stringify({ text: 'the disk is full', labels: { service: 'web' }, fingerprint: fp });
const send = (url: string, body: string, headers: Record<string, string>) => h.app!.inject({ method: 'POST', url, payload: body, headers: { ...json, ...headers } });

test('bearer token: right token accepted, wrong or missing refused with 401 naming the header', async () => {
  assert.equal((await send('/intake/generic', noMatch, bearer(TOKENS.generic))).statusCode, 200);
  const wrong = await send('/intake/generic', matching('auth-wrong'), bearer('generic-intake-token-0123456780'));
  assert.equal(wrong.statusCode, 401);
  assert.deepEqual(wrong.json(), { error: 'unauthorized', message: "the credential for source 'generic' is wrong", field: 'authorization' });
  const missing = await send('/intake/generic', matching('auth-missing'), {});
  assert.equal(missing.statusCode, 401);
  assert.match(missing.json().message, /missing credential for source 'generic' \(send Authorization: Bearer <token> or x-runwright-signature: sha256=<hmac>\)/);
  // Another source's token does not open this one.
  assert.equal((await send('/intake/generic', matching('auth-cross'), bearer(TOKENS.alertmanager))).statusCode, 401);
  // An API token is not an intake credential either.
  assert.equal((await send('/intake/generic', matching('auth-api'), bearer(TOKENS.admin))).statusCode, 401);
  assert.deepEqual(await nothingEnqueued(h), { runs: 0, jobs: 0 });
});

test('HMAC of the raw body: a correct signature is accepted over real HTTP; a tampered body or wrong secret is refused', async () => {
  const body = matching('auth-hmac-ok');
  const ok = await fetch(`${h.url}/intake/generic`, { method: 'POST', headers: { ...json, 'x-runwright-signature': hmac(TOKENS.genericHmac, body) }, body });
  assert.equal(ok.status, 202);
  const runId = ((await ok.json()) as any).runId;
  const tampered = body.replace('auth-hmac-ok', 'auth-hmac-xx');
  const bad = await send('/intake/generic', tampered, { 'x-runwright-signature': hmac(TOKENS.genericHmac, body) });
  assert.equal(bad.statusCode, 401);
  assert.deepEqual(bad.json(), { error: 'unauthorized', message: 'x-runwright-signature does not match the body', field: 'x-runwright-signature' });
  const wrongSecret = await send('/intake/generic', matching('auth-hmac-2'), { 'x-runwright-signature': hmac('some-other-secret-0123456789', matching('auth-hmac-2')) });
  assert.equal(wrongSecret.statusCode, 401);
  // The same body re-serialised (whitespace) is a different byte string: the HMAC is over the raw bytes.
  const spaced = JSON.stringify(JSON.parse(matching('auth-hmac-3')), null, 2);
  assert.equal((await send('/intake/generic', spaced, { 'x-runwright-signature': hmac(TOKENS.genericHmac, matching('auth-hmac-3')) })).statusCode, 401);
  const runs = (await h.engine.store.list({ limit: 100 })).runs;
  assert.deepEqual(runs.map((r) => r.id), [runId], 'only the signed request started a run');
  await h.engine.cancel(runId, 'test');
});

test('a source with no credential configured is closed (403), whatever is sent', async () => {
  const res = await send('/intake/cloud-monitoring', JSON.stringify({ incident: { incident_id: 'x', state: 'open' } }), bearer(TOKENS.cloudMonitoring));
  assert.equal(res.statusCode, 403);
  assert.equal(res.json().message, "intake for source 'cloud-monitoring' is closed: no token or HMAC secret is configured for it");
});

test('pub/sub OIDC: a Google-signed token for our audience and service account is accepted; every other token is refused', async () => {
  const entry = { logName: 'projects/p/logs/x', resource: { type: 'cloud_run_job', labels: { job_name: 'nobody' } }, severity: 'ERROR', textPayload: 'unrelated error' };
  const envelope = JSON.stringify({ message: { data: Buffer.from(JSON.stringify(entry)).toString('base64'), messageId: '1' }, subscription: 'projects/p/subscriptions/s' });
  const now = Math.floor(Date.now() / 1000);
  const good = google.token({ aud: PUBSUB_AUDIENCE, email: PUBSUB_SA });
  const ok = await fetch(`${h.url}/intake/pubsub`, { method: 'POST', headers: { ...json, ...bearer(good) }, body: envelope });
  assert.equal(ok.status, 200, 'verified (no runbook matches this entry)');
  const cases: [string, string, number, string][] = [
    ['wrong audience', google.token({ aud: 'https://evil.example.com/push', email: PUBSUB_SA }), 401, 'OIDC token rejected: wrong audience'],
    ['expired', google.token({ aud: PUBSUB_AUDIENCE, email: PUBSUB_SA, iat: now - 7200, exp: now - 3600 }), 401, 'OIDC token rejected: expired'],
    ['unknown key', google.token({ aud: PUBSUB_AUDIENCE, email: PUBSUB_SA }, { key: otherKey() }), 401, 'OIDC token rejected: bad signature'],
    ['unknown kid', google.token({ aud: PUBSUB_AUDIENCE, email: PUBSUB_SA }, { kid: 'nope' }), 401, 'OIDC token rejected: signed by an unknown key'],
    ['wrong issuer', google.token({ aud: PUBSUB_AUDIENCE, email: PUBSUB_SA, iss: 'https://issuer.example.com' }), 401, 'OIDC token rejected: wrong issuer'],
    ['other service account', google.token({ aud: PUBSUB_AUDIENCE, email: 'someone@acme-prod.iam.gserviceaccount.com' }), 403, 'OIDC token is not from the configured Pub/Sub service account'],
    ['unverified email', google.token({ aud: PUBSUB_AUDIENCE, email: PUBSUB_SA, email_verified: false }), 403, 'OIDC token is not from the configured Pub/Sub service account'],
    ['not a JWT', 'abc.def', 401, 'OIDC token rejected: invalid token'],
  ];
  for (const [name, token, status, message] of cases) {
    const res = await send('/intake/pubsub', envelope, bearer(token));
    assert.equal(res.statusCode, status, name);
    assert.equal(res.json().message, message, name);
  }
  const none = await send('/intake/pubsub', envelope, {});
  assert.equal(none.statusCode, 401);
  assert.equal(none.json().message, 'missing OIDC token (Authorization: Bearer <id token>)');
  assert.equal(google.requests, 1, 'Google certs fetched once and cached (max-age)');
});

test('cloud monitoring token auth: ?auth_token= and Basic auth carry the source token; the token never reaches the log', async () => {
  const h2 = await harness();
  try {
    const body = JSON.stringify({ incident: { incident_id: '0.closed', state: 'closed' }, version: '1.2' });
    const q = await h2.app!.inject({ method: 'POST', url: `/intake/cloud-monitoring?auth_token=${TOKENS.cloudMonitoring}`, payload: body, headers: json });
    assert.equal(q.statusCode, 200);
    assert.equal(q.json().results[0].outcome, 'skipped');
    const basic = await h2.app!.inject({ method: 'POST', url: '/intake/cloud-monitoring', payload: body, headers: { ...json, authorization: `Basic ${Buffer.from(`monitoring:${TOKENS.cloudMonitoring}`).toString('base64')}` } });
    assert.equal(basic.statusCode, 200);
    const bad = await h2.app!.inject({ method: 'POST', url: '/intake/cloud-monitoring?auth_token=wrong-token-0000000000000', payload: body, headers: json });
    assert.equal(bad.statusCode, 401);
    assert.ok(h2.logs.some((l) => l.includes('/intake/cloud-monitoring')), 'requests are logged');
    assert.ok(!h2.logs.some((l) => l.includes(TOKENS.cloudMonitoring) || l.includes('wrong-token-0000000000000')), 'no token in any log line');
  } finally {
    await h2.close();
  }
});
