// Operations: /healthz, /readyz (Redis reachable, workers alive), /metrics in Prometheus format, JSON logs
// with the run id and without secrets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, bearer, hmac, TOKENS } from './harness.js';
import { sandboxStatus } from '../../src/adapters/index.js';

test('healthz always; readyz needs Redis and a live worker', async () => {
  const api = await harness(); // API only: no worker in this process or any other for this prefix
  try {
    assert.deepEqual((await api.app!.inject({ method: 'GET', url: '/healthz' })).json(), { ok: true });
    const notReady = await fetch(`${api.url}/readyz`);
    assert.equal(notReady.status, 503);
    // the details say where target code runs on this host (bwrap, or the allowlisted environment only and why)
    assert.deepEqual(await notReady.json(), { ok: false, redis: 'ok', workers: 0, sandbox: { ...sandboxStatus('auto') }, reason: 'no worker has sent a heartbeat in the last 30 s' });
    // With no worker, a started run's first step job waits in the queue: the queue depth shows it.
    const started = await api.app!.inject({ method: 'POST', url: '/intake/generic', headers: bearer(TOKENS.generic), payload: { text: 'the disk is full', labels: { service: 'web' } } });
    assert.equal(started.statusCode, 202);
    assert.match((await api.app!.inject({ method: 'GET', url: '/metrics' })).body, /^runwright_queue_jobs\{state="waiting"\} 1$/m);
    await api.engine.startWorker({ concurrency: 1 });
    await api.engine.waitForEnd(started.json().runId, 15_000);
    assert.match((await api.app!.inject({ method: 'GET', url: '/metrics' })).body, /^runwright_queue_jobs\{state="waiting"\} 0$/m);
    const ready = await api.app!.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 200);
    assert.deepEqual(ready.json(), { ok: true, redis: 'ok', workers: 1, sandbox: { ...sandboxStatus('auto') } });
  } finally {
    await api.close();
  }
});

test('readyz answers 503 when Redis is unreachable', async () => {
  const h = await harness();
  try {
    const redis = h.engine.store.redis;
    redis.disconnect(); // as if Redis went away: commands fail fast
    const res = await h.app!.inject({ method: 'GET', url: '/readyz' });
    assert.equal(res.statusCode, 503);
    assert.equal(res.json().redis, 'unreachable');
    assert.equal((await h.app!.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'still alive');
    await redis.connect();
  } finally {
    await h.close();
  }
});

test('metrics: runs by status and runbook, step durations, queue depth, alerts received and deduplicated', async () => {
  const h = await harness({ worker: true });
  try {
    const send = (payload: object) => h.app!.inject({ method: 'POST', url: '/intake/generic', headers: bearer(TOKENS.generic), payload });
    const first = await send({ text: 'the disk is full', labels: { service: 'billing' }, fingerprint: 'm-1' });
    await h.engine.waitForEnd(first.json().runId, 15_000);
    const waiting = await send({ text: 'needs a human', labels: { service: 'web' }, fingerprint: 'm-2' });
    await h.engine.waitFor(waiting.json().runId, (r) => r.status === 'waiting_approval', 15_000);
    assert.equal((await send({ text: 'needs a human', labels: { service: 'web' }, fingerprint: 'm-2' })).json().results[0].outcome, 'attached');
    await send({ text: 'nothing known', fingerprint: 'm-3' });
    const res = await fetch(`${h.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const line = (re: RegExp) => assert.match(text, re);
    line(/^runwright_runs\{status="succeeded",runbook="disk-full"\} 1$/m);
    line(/^runwright_runs\{status="waiting_approval",runbook="fix-approval"\} 1$/m);
    line(/^runwright_runs\{status="running",runbook="disk-full"\} 0$/m);
    line(/^runwright_alerts_received_total\{source="generic"\} 4$/m);
    line(/^runwright_alerts_deduplicated_total\{source="generic"\} 1$/m);
    line(/^runwright_alerts_unmatched_total\{source="generic"\} 1$/m);
    line(/^runwright_step_duration_seconds_count\{runbook="disk-full",step="inspect",outcome="succeeded"\} 1$/m);
    line(/^runwright_step_duration_seconds_bucket\{le="\+Inf",runbook="fix-approval",step="plan",outcome="succeeded"\} 1$/m);
    line(/^runwright_queue_jobs\{state="waiting"\} \d+$/m);
    line(/^runwright_queue_jobs\{state="delayed"\} 0$/m);
    line(/^runwright_workers_alive 1$/m);
  } finally {
    await h.close();
  }
});

test('logs: JSON lines; request and run lines carry the run id; no token, signature or secret anywhere', async () => {
  const h = await harness({ worker: true });
  try {
    const body = JSON.stringify({ text: 'the disk is full', labels: { service: 'web' }, fingerprint: 'log-1' });
    const sig = hmac(TOKENS.genericHmac, body);
    const res = await h.app!.inject({ method: 'POST', url: '/intake/generic', payload: body, headers: { 'content-type': 'application/json', 'x-runwright-signature': sig } });
    const runId = res.json().runId;
    await h.engine.waitForEnd(runId, 15_000);
    await h.app!.inject({ method: 'GET', url: `/api/runs/${runId}`, headers: bearer(TOKENS.viewer) });
    await h.app!.inject({ method: 'POST', url: '/intake/generic', payload: body, headers: { 'content-type': 'application/json', authorization: 'Bearer wrong-but-secretish-0123456789' } });
    const lines = h.logs.map((l) => JSON.parse(l));
    const aboutRun = lines.filter((l) => JSON.stringify(l).includes(runId));
    assert.ok(aboutRun.length >= 3);
    assert.ok(aboutRun.every((l) => l.runId === runId), 'every line that concerns the run has runId');
    const req = lines.find((l) => l.msg === 'request' && l.path === '/intake/generic' && l.status === 202)!;
    assert.equal(req.runId, runId);
    assert.equal(lines.find((l) => l.msg === 'request' && l.path === `/api/runs/${runId}`)!.runId, runId);
    const all = h.logs.join('\n');
    for (const secret of [...Object.values(TOKENS), sig.slice(7), 'wrong-but-secretish-0123456789']) assert.ok(!all.includes(secret), `no ${secret.slice(0, 8)}… in logs`);
  } finally {
    await h.close();
  }
});
