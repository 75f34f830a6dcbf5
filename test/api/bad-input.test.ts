// Bad input: wrong content type, malformed JSON, missing fields, oversized bodies, unknown runbook or target,
// bad inputs → a 4xx naming the problem, and nothing enqueued or half-written. Intake is rate limited per source.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { harness, bearer, hmac, nothingEnqueued, TOKENS, type Harness } from './harness.js';

const dir = path.join(path.dirname(new URL(import.meta.url).pathname), 'payloads');
const amGroup = JSON.parse(readFileSync(path.join(dir, 'alertmanager-group.json'), 'utf8'));

let h: Harness;
before(async () => {
  h = await harness({ config: { api: { bodyLimit: 4096 } } });
});
after(async () => h.close());

const auth = bearer(TOKENS.generic);
const raw = (url: string, body: string, headers: Record<string, string>) => h.app!.inject({ method: 'POST', url, payload: body, headers: { ...auth, ...headers } });
const asJson = { 'content-type': 'application/json' };

test('wrong content type → 415 naming content-type', async () => {
  const res = await raw('/intake/generic', 'the disk is full', { 'content-type': 'text/plain' });
  assert.equal(res.statusCode, 415);
  assert.deepEqual(res.json(), { error: 'unsupported_media_type', message: "Content-Type 'text/plain' is not accepted here; send application/json", field: 'content-type' });
  const none = await raw('/intake/generic', 'x', {});
  assert.ok([400, 415].includes(none.statusCode), `no content type: ${none.statusCode}`);
});

test('malformed JSON → 400 malformed_json; empty body → 400 naming body', async () => {
  const res = await raw('/intake/generic', '{"text": "the disk is full",', asJson);
  assert.equal(res.statusCode, 400);
  assert.equal(res.json().error, 'malformed_json');
  assert.match(res.json().message, /^body is not valid JSON/);
  const empty = await raw('/intake/generic', '', asJson);
  assert.equal(empty.statusCode, 400);
  assert.equal(empty.json().field, 'body');
  const proto = await raw('/intake/generic', '{"text":"x","__proto__":{"polluted":true}}', asJson);
  assert.equal(proto.statusCode, 400, 'prototype poisoning refused');
});

test('missing and mistyped fields → 400 naming the field', async () => {
  const cases: [string, unknown, string, string][] = [
    ['/intake/generic', { severity: 'critical' }, 'text', 'body.text: is required'],
    ['/intake/generic', { text: 'x', labels: { a: { nested: true } } }, 'labels.a', 'body.labels.a: must be string'],
    ['/intake/generic', { text: 42 }, 'text', 'body.text: must be string'],
    ['/intake/generic', { text: 'x', fingerprnt: 'typo' }, 'fingerprnt', 'body.fingerprnt: is not a known field'],
    ['/intake/alertmanager', { ...amGroup, version: '3' }, 'version', 'body.version: must be "4"'],
    ['/intake/alertmanager', { ...amGroup, alerts: [] }, 'alerts', 'body.alerts: must NOT have fewer than 1 items'],
    ['/intake/alertmanager', { ...amGroup, alerts: [{ ...amGroup.alerts[0], labels: undefined }] }, 'alerts[0].labels', 'body.alerts[0].labels: is required'],
  ];
  for (const [url, body, field, message] of cases) {
    const res = await raw(url, JSON.stringify(body), { ...asJson, ...(url.includes('alertmanager') ? bearer(TOKENS.alertmanager) : {}) });
    assert.equal(res.statusCode, 400, `${url} ${field}`);
    assert.equal(res.json().field, field);
    assert.equal(res.json().message, message);
  }
});

test('pub/sub envelope problems name message.data', async () => {
  const h2 = await harness({ config: { auth: { pubsub: { audience: 'aud' } } } });
  try {
    // OIDC is checked first; without a valid token the body is never looked at.
    const res = await h2.app!.inject({ method: 'POST', url: '/intake/pubsub', payload: { message: { data: '***' } }, headers: {} });
    assert.equal(res.statusCode, 401);
  } finally {
    await h2.close();
  }
});

test('oversized body → 413, nothing read further', async () => {
  const res = await raw('/intake/generic', JSON.stringify({ text: 'x'.repeat(5000) }), asJson);
  assert.equal(res.statusCode, 413);
  assert.deepEqual(res.json(), { error: 'payload_too_large', message: 'body is larger than the 4096 byte limit', field: 'body' });
  const real = await fetch(`${h.url}/intake/generic`, { method: 'POST', headers: { ...auth, ...asJson }, body: JSON.stringify({ text: 'y'.repeat(10_000) }) });
  assert.equal(real.status, 413);
});

test('unknown runbook or target → 404 naming it; a bad input → 400; for a group, nothing of it is started', async () => {
  const rb = await raw('/intake/generic', JSON.stringify({ text: 'the disk is full', labels: { service: 'web' }, runbook: 'no-such-runbook' }), asJson);
  assert.equal(rb.statusCode, 404);
  assert.deepEqual(rb.json(), { error: 'unknown_runbook', message: "runbook: no runbook 'no-such-runbook'", field: 'runbook' });
  const tg = await h.app!.inject({ method: 'POST', url: '/intake/alertmanager?target=nowhere', payload: amGroup, headers: bearer(TOKENS.alertmanager) });
  assert.equal(tg.statusCode, 404);
  assert.equal(tg.json().field, 'target');
  const input = await raw('/intake/generic', JSON.stringify({ text: 'the disk is full', labels: { service: 'web' }, inputs: { threshold: 'high' } }), asJson);
  assert.equal(input.statusCode, 400);
  assert.equal(input.json().field, 'inputs.threshold');
  assert.equal(input.json().message, "inputs.threshold: input 'threshold' must be a number");
  const unknownInput = await raw('/intake/generic', JSON.stringify({ text: 'the disk is full', labels: { service: 'web' }, inputs: { nope: 1 } }), asJson);
  assert.equal(unknownInput.statusCode, 400);
  assert.equal(unknownInput.json().field, 'inputs.nope');
  // A group where the forced runbook rejects the inputs: no alert of the group starts a run.
  const group = await h.app!.inject({ method: 'POST', url: '/intake/alertmanager?runbook=disk-full', payload: amGroup, headers: bearer(TOKENS.alertmanager) });
  assert.equal(group.statusCode, 202, 'control: the same group is fine');
  for (const r of group.json().results) if (r.runId) await h.engine.cancel(r.runId, 'test').catch(() => undefined);
  const before = (await h.engine.store.list({ limit: 500 })).runs.length;
  const q = await h.app!.inject({ method: 'POST', url: '/intake/alertmanager?runbook=disk-full&target=ghost', payload: amGroup, headers: bearer(TOKENS.alertmanager) });
  assert.equal(q.statusCode, 404);
  assert.equal((await h.engine.store.list({ limit: 500 })).runs.length, before);
});

test('after all the bad requests above nothing was enqueued or recorded except the control group', async () => {
  const runs = (await h.engine.store.list({ limit: 500 })).runs;
  assert.equal(runs.length, 2, 'the two firing alerts of the control group that have a target');
  assert.ok(runs.every((r) => r.alert.source === 'alertmanager' && r.status === 'cancelled'), 'only the control group, cancelled');
  const jobs = await h.engine.queue.getJobs(['waiting', 'delayed', 'prioritized', 'active']);
  const control = new Set(runs.map((r) => r.id));
  assert.deepEqual(jobs.filter((j) => !control.has(j.data.runId)), [], 'no job for anything else');
  assert.ok((await nothingEnqueued(h)).jobs <= runs.length);
});

test('overload: 503 + Retry-After (senders retry 5xx), counted in Redis per source and credential, shared by API replicas', async () => {
  const h3 = await harness({ config: { api: { rateLimit: { max: 3, windowMs: 60_000 } } } });
  const replica = await harness({ prefix: h3.prefix, config: { api: { rateLimit: { max: 3, windowMs: 60_000 } } } });
  try {
    const body = JSON.stringify({ text: 'nothing matches this', fingerprint: 'rl' });
    const codes: number[] = [];
    // Alternate between the two replicas: one window in Redis, not one per process.
    for (let i = 0; i < 5; i++) codes.push((await (i % 2 ? replica : h3).app!.inject({ method: 'POST', url: '/intake/generic', payload: body, headers: { ...auth, ...asJson } })).statusCode);
    assert.deepEqual(codes, [200, 200, 200, 503, 503]);
    const limited = await fetch(`${h3.url}/intake/generic`, { method: 'POST', headers: { ...auth, ...asJson }, body });
    assert.equal(limited.status, 503);
    assert.equal(((await limited.json()) as any).error, 'overloaded');
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    // The same source with another credential (the HMAC secret) has its own window.
    const signed = await h3.app!.inject({ method: 'POST', url: '/intake/generic', payload: body, headers: { ...asJson, 'x-runwright-signature': hmac(TOKENS.genericHmac, body) } });
    assert.equal(signed.statusCode, 200, 'another credential of the same source is not limited');
    const other = await h3.app!.inject({ method: 'POST', url: '/intake/alertmanager', payload: { ...amGroup, alerts: [amGroup.alerts[2]] }, headers: bearer(TOKENS.alertmanager) });
    assert.equal(other.statusCode, 200, 'alertmanager has its own window');
    const metrics = await h3.app!.inject({ method: 'GET', url: '/metrics' });
    assert.match(metrics.body, /runwright_intake_rejected_total\{source="generic",reason="rate_limited"\} 2/);
    assert.equal((await nothingEnqueued(h3)).runs, 0);
  } finally {
    await replica.stop();
    await h3.close();
  }
});
