// Issue 12 §5: dashboard sessions are server-side in Redis. The cookie is an opaque random id with an expiry, never
// the API token; sign-out ends it in Redis (the same cookie is dead afterwards) and rotating the token ends every
// session opened with it. Failed credentials are limited per client address, where the address comes from the
// configured proxy hops only, so rotating X-Forwarded-For does not reset the count. Optional sign-in through
// Google IAP: x-goog-iap-jwt-assertion verified with google-auth-library against a loopback key server.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { harness, bearer, TOKENS, type Harness } from './harness.js';
import { FakeGoogleCerts } from '../fakes/google-oidc.js';
import { loadConfig } from '../../src/config/config.js';

const IAP_AUDIENCE = '/projects/123456789/global/backendServices/987654321';
let iapKeys: FakeGoogleCerts;
before(async () => {
  iapKeys = await new FakeGoogleCerts({ alg: 'ES256' }).start();
});
after(async () => {
  await iapKeys.close();
});

async function signIn(h: Harness, token: string, headers: Record<string, string> = {}) {
  const res = await h.app!.inject({ method: 'POST', url: '/dashboard/session', payload: { token }, headers });
  const c = res.cookies.find((x) => x.name === 'runwright_session');
  return { res, cookie: c ? `runwright_session=${c.value}` : '', raw: c, csrf: res.json().csrf as string };
}

test('the session cookie is an opaque id kept in Redis with an expiry; sign-out ends it for good', async () => {
  const h = await harness({ config: { api: { sessionTtlMs: 3_600_000 } } });
  try {
    const s = await signIn(h, TOKENS.alice);
    assert.equal(s.res.statusCode, 200);
    assert.ok(s.raw && s.raw.value.length >= 40, 'a long random id');
    assert.ok(!s.raw.value.includes(TOKENS.alice) && !Object.values(TOKENS).some((t) => s.raw!.value.includes(t)), 'not a token');
    assert.equal(s.raw.httpOnly, true);
    assert.equal(s.raw.sameSite, 'Strict');
    assert.equal(s.raw.maxAge, 3600);
    const key = `${h.prefix}:session:${createHash('sha256').update(s.raw.value).digest('hex')}`;
    const ttl = await h.engine.store.redis.pttl(key);
    assert.ok(ttl > 3_500_000 && ttl <= 3_600_000, `Redis expiry ${ttl}`);
    assert.ok(!(await h.engine.store.redis.get(key))!.includes(TOKENS.alice), 'Redis keeps no token either');

    assert.equal((await h.app!.inject({ method: 'GET', url: '/api/runs', headers: { cookie: s.cookie } })).statusCode, 200);
    // A raw token in the cookie is no session.
    assert.equal((await h.app!.inject({ method: 'GET', url: '/api/runs', headers: { cookie: `runwright_session=${TOKENS.alice}` } })).statusCode, 401);
    assert.equal((await h.app!.inject({ method: 'GET', url: '/api/runs', headers: { cookie: `runwright_token=${TOKENS.alice}` } })).statusCode, 401);
    // A session cookie never authorises an unsafe API call by itself.
    assert.equal((await h.app!.inject({ method: 'POST', url: '/api/runs', headers: { cookie: s.cookie }, payload: { runbook: 'disk-full', target: 'web' } })).statusCode, 401);

    const out = await h.app!.inject({ method: 'POST', url: '/dashboard/session/end', headers: { cookie: s.cookie, 'x-runwright-csrf': s.csrf } });
    assert.equal(out.statusCode, 204);
    assert.equal(await h.engine.store.redis.exists(key), 0, 'gone from Redis');
    // The old cookie replayed after sign-out: dead everywhere.
    const after = await h.app!.inject({ method: 'GET', url: '/api/runs', headers: { cookie: s.cookie } });
    assert.equal(after.statusCode, 401);
    assert.match(after.json().message, /session has ended/);
    assert.deepEqual((await h.app!.inject({ method: 'GET', url: '/dashboard/session', headers: { cookie: s.cookie } })).json(), { signedIn: false });
  } finally {
    await h.close();
  }
});

test('rotating a token ends the sessions opened with it (on every replica), others stay', async () => {
  const h = await harness();
  const alice = await signIn(h, TOKENS.alice);
  const bob = await signIn(h, TOKENS.bob);
  await h.stop();
  const rotated = 'alice-rotated-token-0123456789abcdef';
  const h2 = await harness({
    prefix: h.prefix,
    config: { api: { tokens: [{ name: 'alice', role: 'approver', token: rotated }, { name: 'bob', role: 'approver', token: TOKENS.bob }] } },
  });
  try {
    assert.equal((await h2.app!.inject({ method: 'GET', url: '/api/runs', headers: { cookie: alice.cookie } })).statusCode, 401, 'the old token’s session is over');
    assert.equal((await h2.app!.inject({ method: 'GET', url: '/api/runs', headers: { cookie: bob.cookie } })).statusCode, 200, 'bob’s session still works');
    const again = await signIn(h2, rotated);
    assert.equal((await h2.app!.inject({ method: 'GET', url: '/api/runs', headers: { cookie: again.cookie } })).statusCode, 200);
  } finally {
    await h2.close();
  }
});

test('failed credentials are limited per client; rotating X-Forwarded-For does not reset it (one trusted hop)', async () => {
  assert.equal(loadConfig({ RUNWRIGHT_TRUST_PROXY: 'true' }).api.trustProxy, 1, '"true" is one hop, never every hop');
  assert.equal(loadConfig({ RUNWRIGHT_TRUST_PROXY: '2' }).api.trustProxy, 2);
  const h = await harness({ config: { api: { trustProxy: 1, authFailures: { max: 5, windowMs: 60_000 } } } });
  try {
    // The proxy (this socket) appends the real client address last; the client can put anything before it.
    const from = (client: string, i: number) => ({ 'x-forwarded-for': `10.${i}.0.1, 192.0.2.${i}, ${client}` });
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${h.url}/api/runs`, { headers: { ...bearer(`wrong-token-${i}-0123456789abcdef`), ...from('203.0.113.7', i) } });
      assert.equal(res.status, 401);
    }
    for (let i = 3; i < 5; i++) {
      const res = await fetch(`${h.url}/dashboard/session`, { method: 'POST', headers: { 'content-type': 'application/json', ...from('203.0.113.7', i) }, body: JSON.stringify({ token: `wrong-sign-in-${i}-0123456789` }) });
      assert.equal(res.status, 401);
    }
    // Blocked now, even with a right token and yet another forged X-Forwarded-For prefix.
    const blocked = await fetch(`${h.url}/api/runs`, { headers: { ...bearer(TOKENS.viewer), ...from('203.0.113.7', 99) } });
    assert.equal(blocked.status, 429);
    assert.equal(((await blocked.json()) as any).error, 'too_many_failures');
    assert.ok(Number(blocked.headers.get('retry-after')) >= 1);
    const signInBlocked = await fetch(`${h.url}/dashboard/session`, { method: 'POST', headers: { 'content-type': 'application/json', ...from('203.0.113.7', 98) }, body: JSON.stringify({ token: TOKENS.viewer }) });
    assert.equal(signInBlocked.status, 429);
    // Another client is not affected.
    const other = await fetch(`${h.url}/api/runs`, { headers: { ...bearer(TOKENS.viewer), ...from('203.0.113.8', 0) } });
    assert.equal(other.status, 200);
  } finally {
    await h.close();
  }
});

test('Google IAP sign-in: a verified assertion of a mapped person opens a session; wrong audience, key or person do not', async () => {
  const h = await harness({
    config: {
      api: { iapUsers: { 'alice@example.com': 'alice' } },
      auth: { iap: { audience: IAP_AUDIENCE, keysUrl: `${iapKeys.url.replace(/\/oauth2\/v1\/certs$/, '')}/iap/verify/public_key` } },
    },
  });
  try {
    const session = (assertion: string) => h.app!.inject({ method: 'GET', url: '/dashboard/session', headers: { 'x-goog-iap-jwt-assertion': assertion } });
    const ok = await session(iapKeys.token({ aud: IAP_AUDIENCE, email: 'alice@example.com' }));
    assert.deepEqual({ ...ok.json(), csrf: undefined }, { signedIn: true, name: 'alice', role: 'approver', groups: [], via: 'iap', csrf: undefined });
    const c = ok.cookies.find((x) => x.name === 'runwright_session')!;
    assert.ok(c && c.httpOnly);
    assert.equal((await h.app!.inject({ method: 'GET', url: '/api/runs', headers: { cookie: `runwright_session=${c.value}` } })).statusCode, 200);

    const refused = [
      iapKeys.token({ aud: '/projects/1/global/backendServices/other', email: 'alice@example.com' }),
      iapKeys.token({ aud: IAP_AUDIENCE, email: 'mallory@example.com' }),
      iapKeys.token({ aud: IAP_AUDIENCE, email: 'alice@example.com', iss: 'https://accounts.google.com' }),
      iapKeys.token({ aud: IAP_AUDIENCE, email: 'alice@example.com' }, { key: new FakeGoogleCerts({ alg: 'ES256' })['key'] }),
      'not.a.jwt',
    ];
    for (const a of refused) {
      const r = await session(a);
      assert.deepEqual(r.json(), { signedIn: false });
      assert.equal(r.cookies.length, 0);
    }
    assert.ok(iapKeys.requests >= 1, 'the keys came from the loopback key server');
  } finally {
    await h.close();
  }
});
