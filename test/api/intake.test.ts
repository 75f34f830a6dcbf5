// Alert intake end to end on real Redis: every format starts the right runbook on the right target,
// no-match is recorded and answered 200 with the reason, dedup attaches, throttle holds back a flapping alert.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { harness, bearer, TOKENS, PUBSUB_AUDIENCE, PUBSUB_SA, PROJECT_RUNBOOKS_DIR, type Harness } from './harness.js';
import { FakeGoogleCerts } from '../fakes/google-oidc.js';

const dir = path.join(path.dirname(new URL(import.meta.url).pathname), 'payloads');
const load = (f: string) => JSON.parse(readFileSync(path.join(dir, f), 'utf8'));

let h: Harness;
let google: FakeGoogleCerts;
before(async () => {
  google = await new FakeGoogleCerts().start();
  h = await harness({ google });
});
after(async () => {
  await h.close();
  await google.close();
});

const post = (url: string, payload: unknown, headers: Record<string, string>) => h.app!.inject({ method: 'POST', url, payload: payload as object, headers });

test('generic JSON over real HTTP: 202 with the run id; the run holds the normalised alert', async () => {
  const res = await fetch(`${h.url}/intake/generic`, {
    method: 'POST',
    headers: { ...bearer(TOKENS.generic), 'content-type': 'application/json' },
    body: JSON.stringify({ text: 'the disk is full on billing-db-0', severity: 'critical', labels: { service: 'billing' }, fingerprint: 'generic-disk-1' }),
  });
  assert.equal(res.status, 202);
  const body = (await res.json()) as any;
  assert.match(body.runId, /^r[a-z0-9]+$/);
  assert.deepEqual(body.results, [{ fingerprint: 'generic-disk-1', outcome: 'started', runId: body.runId, runbook: 'disk-full', target: 'billing', status: 'running' }]);
  const run = (await h.engine.store.get(body.runId))!;
  assert.equal(run.runbookId, 'disk-full');
  assert.equal(run.target.name, 'billing');
  assert.equal(run.alert.source, 'generic');
  assert.equal(run.alert.text, 'the disk is full on billing-db-0');
  assert.equal(run.alert.severity, 'critical');
  assert.ok(Date.parse(run.alert.receivedAt) > Date.now() - 60_000);
  assert.deepEqual(run.inputs, { threshold: 90 });
});

test('alertmanager group of several alerts: one run per target of the group, resolved skipped, unmatched reported', async () => {
  const res = await post('/intake/alertmanager', load('alertmanager-group.json'), bearer(TOKENS.alertmanager));
  assert.equal(res.statusCode, 202);
  const body = res.json();
  assert.equal(body.accepted, 2);
  const byFp = Object.fromEntries(body.results.map((r: any) => [r.fingerprint, r]));
  assert.equal(byFp['5d7f4a9c1e2b3f60'].outcome, 'started');
  assert.equal(byFp['5d7f4a9c1e2b3f60'].target, 'billing');
  assert.equal(byFp['a81c09e3d44f2b17'].outcome, 'started');
  assert.equal(byFp['a81c09e3d44f2b17'].target, 'web');
  assert.equal(byFp['0c3e7d12aa9b5f44'].outcome, 'skipped');
  assert.equal(byFp['0c3e7d12aa9b5f44'].reason, 'alert DiskFull is resolved');
  assert.equal(byFp['f1e2d3c4b5a69788'].outcome, 'no_match');
  assert.equal(byFp['f1e2d3c4b5a69788'].reason, "runbook 'disk-full' matches, but no target's labels match the alert's labels");
  for (const fp of ['5d7f4a9c1e2b3f60', 'a81c09e3d44f2b17']) {
    const run = (await h.engine.store.get(byFp[fp].runId))!;
    assert.equal(run.runbookId, 'disk-full');
    assert.equal(run.alert.source, 'alertmanager');
    // The run's alert is the group's (groupKey + target), listing the group's alerts for that target.
    assert.notEqual(run.alert.fingerprint, fp);
    assert.equal((run.alert.raw as any).groupKey, load('alertmanager-group.json').groupKey);
    assert.deepEqual((run.alert.raw as any).alerts.map((a: any) => a.fingerprint), [fp]);
  }
});

test('cloud monitoring incident starts the latency runbook on the target its labels name', async () => {
  const res = await post('/intake/cloud-monitoring', load('cloud-monitoring-incident.json'), bearer(TOKENS.cloudMonitoring));
  assert.equal(res.statusCode, 202);
  const r = res.json().results[0];
  assert.equal(r.outcome, 'started');
  assert.equal(r.runbook, 'high-latency');
  assert.equal(r.target, 'web');
  const run = (await h.engine.store.get(r.runId))!;
  assert.equal(run.alert.fingerprint, 'cm:0.nq1r8xw2mkc4');
  assert.equal(run.alert.resource?.labels?.service_name, 'web');
});

test('pub/sub-wrapped SQLAlchemy log entry (OIDC-verified) starts the SQLAlchemy runbook on content-worker', async () => {
  const entry = load('sqlalchemy-log-entry.json');
  const envelope = { message: { data: Buffer.from(JSON.stringify(entry)).toString('base64'), attributes: { 'logging.googleapis.com/timestamp': entry.timestamp }, messageId: '9988776655', publishTime: '2024-05-02T10:20:04.001Z' }, subscription: 'projects/acme-prod/subscriptions/runwright-push' };
  const token = google.token({ aud: PUBSUB_AUDIENCE, email: PUBSUB_SA });
  const res = await fetch(`${h.url}/intake/pubsub`, { method: 'POST', headers: { ...bearer(token), 'content-type': 'application/json' }, body: JSON.stringify(envelope) });
  assert.equal(res.status, 202);
  const body = (await res.json()) as any;
  assert.equal(body.results[0].runbook, 'sqlalchemy-mapper');
  assert.equal(body.results[0].target, 'content-worker');
  const run = (await h.engine.store.get(body.runId))!;
  assert.equal(run.runbookId, 'sqlalchemy-mapper');
  assert.equal(run.alert.source, 'pubsub');
  assert.match(run.alert.text, /expression 'Auther' failed to locate a name/);
  assert.deepEqual(run.alert.resource, { type: 'cloud_run_job', labels: { job_name: 'content-worker', location: 'us-central1', project_id: 'acme-prod' } });
});

test('no match: answered 200 with the reason, recorded for the dashboard, nothing started', async () => {
  const before = (await h.engine.store.list({ limit: 500 })).runs.length;
  const res = await post('/intake/generic', { text: 'the coffee machine is out of beans', labels: { service: 'kitchen' }, fingerprint: 'coffee-1' }, bearer(TOKENS.generic));
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { accepted: 0, results: [{ fingerprint: 'coffee-1', outcome: 'no_match', reason: 'no runbook matches this alert' }] });
  const ambiguous = await post('/intake/generic', { text: 'the disk is full', labels: { team: 'shared' }, fingerprint: 'shared-1' }, bearer(TOKENS.generic));
  assert.equal(ambiguous.statusCode, 200);
  assert.match(ambiguous.json().results[0].reason, /several targets \(shared-a, shared-b\)/);
  assert.equal((await h.engine.store.list({ limit: 500 })).runs.length, before);
  const rec = await h.app!.inject({ method: 'GET', url: '/api/alerts?limit=5', headers: bearer(TOKENS.viewer) });
  assert.equal(rec.statusCode, 200);
  const coffee = rec.json().records.find((r: any) => r.fingerprint === 'coffee-1');
  assert.equal(coffee.outcome, 'no_match');
  assert.equal(coffee.reason, 'no runbook matches this alert');
  assert.equal(coffee.source, 'generic');
  assert.equal(coffee.text, 'the coffee machine is out of beans');
});

test('dedup: an alert whose fingerprint has an active run attaches to it (count and last-seen updated)', async () => {
  const alert = { text: 'p99 latency 2.1s on web', severity: 'critical', labels: { service: 'web' }, fingerprint: 'latency-web-1' };
  const first = await post('/intake/generic', alert, bearer(TOKENS.generic));
  assert.equal(first.statusCode, 202);
  const runId = first.json().runId;
  const run1 = (await h.engine.store.get(runId))!;
  const second = await fetch(`${h.url}/intake/generic`, { method: 'POST', headers: { ...bearer(TOKENS.generic), 'content-type': 'application/json' }, body: JSON.stringify(alert) });
  assert.equal(second.status, 202);
  const b2 = (await second.json()) as any;
  assert.equal(b2.runId, runId);
  assert.equal(b2.results[0].outcome, 'attached');
  const third = await post('/intake/generic', alert, bearer(TOKENS.generic));
  assert.deepEqual(third.json().results[0], { fingerprint: 'latency-web-1', outcome: 'attached', runId, runbook: 'high-latency', target: 'web', status: run1.status, reason: 'an active run for this fingerprint exists; 3 alerts attached' });
  const run = (await h.engine.store.get(runId))!;
  assert.equal(run.alertCount, 3);
  assert.ok(run.lastSeenAt! >= run1.lastSeenAt!);
  const runs = (await h.engine.store.list({ runbook: 'high-latency', limit: 500 })).runs.filter((r) => r.alert.fingerprint === 'latency-web-1');
  assert.equal(runs.length, 1, 'one run, not three');
  const evs = await h.engine.store.events(runId);
  assert.equal(evs.filter((e) => e.message === 'alert attached (deduplicated)').length, 2);
  // Each alert's intake record, the attached ones written by the attach itself, newest first.
  const records = (await h.app!.runwright.intakeLog.list({ limit: 500 })).records.filter((r) => r.fingerprint === 'latency-web-1');
  assert.deepEqual(records.map(({ id, at, ...r }) => r), ['attached', 'attached', 'started'].map((outcome) => ({ source: 'generic', fingerprint: 'latency-web-1', severity: 'critical', text: 'p99 latency 2.1s on web', runbook: 'high-latency', target: 'web', outcome, runId })));
  for (const r of records) assert.ok(Date.parse(r.at) > Date.now() - 60_000 && /^\d+-\d+$/.test(r.id!));
});

test('dedup under concurrency: 60 alerts over 3 fingerprints sent at once make exactly 3 runs, every other alert attached and counted', async () => {
  const fps = ['burst-a', 'burst-b', 'burst-c'];
  // Injected all at once: every request looks for an active run before any has created one (the race create.lua
  // settles: one creates, the others attach).
  const send = (i: number) => post('/intake/generic', { text: 'p99 latency 3s on web', severity: 'critical', labels: { service: 'web' }, fingerprint: fps[i % 3] }, bearer(TOKENS.generic)).then((r) => ({ status: r.statusCode, body: r.json() }));
  const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => send(i)));
  assert.deepEqual(answers.map((a) => a.status), answers.map(() => 202));
  const outcomes = answers.map((a) => a.body.results[0].outcome);
  assert.equal(outcomes.filter((o) => o === 'started').length, 3);
  assert.equal(outcomes.filter((o) => o === 'attached').length, 57);
  const runs = (await h.engine.store.list({ runbook: 'high-latency', limit: 500 })).runs.filter((r) => fps.includes(r.alert.fingerprint));
  assert.equal(runs.length, 3, 'one run per fingerprint');
  for (const run of runs) {
    assert.equal(run.alertCount, 20, `run ${run.id} (${run.alert.fingerprint}) counts its 20 alerts`);
    assert.deepEqual(new Set(answers.filter((a) => a.body.results[0].fingerprint === run.alert.fingerprint).map((a) => a.body.runId)), new Set([run.id]));
    const evs = await h.engine.store.events(run.id);
    assert.equal(evs.filter((e) => e.message === 'alert attached (deduplicated)').length, 19);
  }
  // Every alert has its intake record, however it attached (in the attach's own step or after a lost race).
  const records = (await h.app!.runwright.intakeLog.list({ limit: 500 })).records.filter((r) => fps.includes(r.fingerprint!));
  assert.equal(records.length, 60);
  assert.equal(records.filter((r) => r.outcome === 'attached').length, 57);
  for (const r of records) assert.equal(r.runId, runs.find((run) => run.alert.fingerprint === r.fingerprint)!.id);
});

test('throttle: once a run for the fingerprint has finished, the runbook window stops the next one; other fingerprints go through', async () => {
  const alert = { text: 'the disk is full', labels: { service: 'web' }, fingerprint: 'flapping-disk' };
  const first = await post('/intake/generic', alert, bearer(TOKENS.generic));
  assert.equal(first.statusCode, 202);
  const runId = first.json().runId;
  await h.engine.cancel(runId, 'test'); // the run is over: dedup no longer applies, the throttle does
  const again = await post('/intake/generic', alert, bearer(TOKENS.generic));
  assert.equal(again.statusCode, 200);
  const r = again.json().results[0];
  assert.equal(r.outcome, 'throttled');
  assert.equal(r.runId, runId);
  assert.ok(r.retryInMs > 29 * 60_000 && r.retryInMs <= 30 * 60_000, `window of the runbook (30m), got ${r.retryInMs}`);
  assert.match(r.reason, /already ran for this fingerprint/);
  const other = await post('/intake/generic', { ...alert, fingerprint: 'flapping-disk-2' }, bearer(TOKENS.generic));
  assert.equal(other.statusCode, 202);
  // high-latency has no throttle: after the run ends, the same alert starts a new run.
  const lat = { text: 'latency up', severity: 'critical', labels: { service: 'billing' }, fingerprint: 'lat-no-throttle' };
  const l1 = await post('/intake/generic', lat, bearer(TOKENS.generic));
  await h.engine.cancel(l1.json().runId, 'test');
  const l2 = await post('/intake/generic', lat, bearer(TOKENS.generic));
  assert.equal(l2.json().results[0].outcome, 'started');
  assert.notEqual(l2.json().runId, l1.json().runId);
});

test('forced runbook and target (query string) skip matching', async () => {
  const res = await post('/intake/alertmanager?runbook=high-latency&target=billing', load('alertmanager-group.json'), bearer(TOKENS.alertmanager));
  assert.equal(res.statusCode, 202);
  // Three firing alerts of one group on one (forced) target: one run, the other two attached to it.
  const results = res.json().results.filter((r: any) => r.outcome === 'started' || r.outcome === 'attached');
  assert.deepEqual(results.map((r: any) => r.outcome), ['started', 'attached', 'attached']);
  assert.ok(results.every((r: any) => r.runbook === 'high-latency' && r.target === 'billing' && r.runId === results[0].runId));
});

test("the project's real SQLAlchemy runbook is what a Pub/Sub-wrapped mapper error starts", async () => {
  // The project's runbooks name no approvers and these targets neither: deny by default refuses to load them
  // unless the config says who decides (here: admins).
  const real = await harness({ google, runbooksDir: PROJECT_RUNBOOKS_DIR, config: { api: { approvalDefault: 'admins' } } });
  try {
    assert.ok(real.engine.runbooks.has('sqlalchemy-mapper-failure'));
    const entry = load('sqlalchemy-log-entry.json');
    const envelope = { message: { data: Buffer.from(JSON.stringify(entry)).toString('base64'), messageId: '42' }, subscription: 'projects/acme-prod/subscriptions/runwright-push' };
    const res = await real.app!.inject({ method: 'POST', url: '/intake/pubsub', payload: envelope, headers: bearer(google.token({ aud: PUBSUB_AUDIENCE, email: PUBSUB_SA })) });
    assert.equal(res.statusCode, 202, res.body);
    const r = res.json().results[0];
    assert.equal(r.runbook, 'sqlalchemy-mapper-failure');
    assert.equal(r.target, 'content-worker');
    const run = (await real.engine.store.get(r.runId))!;
    assert.deepEqual(run.inputs, { fixPolicy: 'auto', preference: ['C', 'A', 'B'], requireApproval: false, rollbackOnFailure: false });
    // The same error again while that run is active: attached, not a second run.
    const again = await real.app!.inject({ method: 'POST', url: '/intake/pubsub', payload: { ...envelope, message: { ...envelope.message, messageId: '43' } }, headers: bearer(google.token({ aud: PUBSUB_AUDIENCE, email: PUBSUB_SA })) });
    assert.equal(again.json().results[0].outcome, 'attached');
    assert.equal(again.json().runId, r.runId);
  } finally {
    await real.close();
  }
});

test('alertmanager: one POST with 1,000 alerts of one group and target makes one run; the same group again attaches to it', async () => {
  const alerts = Array.from({ length: 1000 }, (_, i) => ({ status: 'firing', labels: { alertname: 'DiskFull', service: 'billing', pod: `billing-${i}` }, annotations: { summary: `disk is full on billing-${i}` }, fingerprint: `big${String(i).padStart(4, '0')}` }));
  const body = { version: '4', status: 'firing', receiver: 'runwright', groupKey: '{}:{alertname="DiskFull", service="billing"}', groupLabels: { alertname: 'DiskFull', service: 'billing' }, alerts };
  const before = (await h.engine.store.list({ target: 'billing', limit: 500 })).runs.length;
  const t0 = Date.now();
  const res = await post('/intake/alertmanager', body, bearer(TOKENS.alertmanager));
  const ms = Date.now() - t0;
  assert.equal(res.statusCode, 202, res.body);
  const results = res.json().results as any[];
  assert.equal(results.length, 1000);
  assert.equal(results.filter((r) => r.outcome === 'started').length, 1);
  assert.equal(results.filter((r) => r.outcome === 'attached').length, 999);
  assert.ok(results.every((r) => r.runId === results[0].runId));
  assert.equal((await h.engine.store.list({ target: 'billing', limit: 500 })).runs.length, before + 1, `one run (answered in ${ms} ms)`);
  const run = (await h.engine.store.get(results[0].runId))!;
  assert.equal((run.alert.raw as any).alertCount, 1000);
  assert.equal((run.alert.raw as any).alerts.length, 100, 'the first 100 of the group are listed');
  // Alertmanager re-sends the group (repeat_interval, or a retry): attached or throttled, never a new run.
  const again = await post('/intake/alertmanager', { ...body, alerts: alerts.slice(0, 3) }, bearer(TOKENS.alertmanager));
  assert.ok(['attached', 'throttled'].includes(again.json().results[0].outcome), again.body);
  assert.equal(again.json().results[0].runId, results[0].runId);
  assert.equal((await h.engine.store.list({ target: 'billing', limit: 500 })).runs.length, before + 1);
});
