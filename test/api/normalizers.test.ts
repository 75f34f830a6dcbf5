// The intake normalizers (pure functions): every format becomes the one Alert shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { normalizeGeneric } from '../../src/api/intake/generic.js';
import { normalizeAlertmanager } from '../../src/api/intake/alertmanager.js';
import { normalizeCloudMonitoring } from '../../src/api/intake/cloud-monitoring.js';
import { normalizePubSub } from '../../src/api/intake/pubsub.js';
import { IntakeError } from '../../src/api/intake/common.js';

const dir = path.join(path.dirname(new URL(import.meta.url).pathname), 'payloads');
const load = (f: string) => JSON.parse(readFileSync(path.join(dir, f), 'utf8'));
const AT = '2024-05-02T10:20:05.000Z';
const push = (entry: unknown, attributes: Record<string, string> = {}) => ({
  message: { data: Buffer.from(JSON.stringify(entry)).toString('base64'), attributes, messageId: '11223344556677', publishTime: '2024-05-02T10:20:04.001Z' },
  subscription: 'projects/acme-prod/subscriptions/runwright-errors',
});

test('generic: text, severity, labels and resource kept; fingerprint given or derived from text and labels', () => {
  const a = normalizeGeneric({ text: 'the disk is full', severity: 'CRIT', labels: { service: 'billing' }, resource: { type: 'host', labels: { host: 'db-0' } }, fingerprint: 'fp-1' }, AT).alerts[0]!;
  assert.deepEqual(a, { source: 'generic', fingerprint: 'fp-1', severity: 'critical', text: 'the disk is full', labels: { service: 'billing' }, resource: { type: 'host', labels: { host: 'db-0' } }, receivedAt: AT });
  const b1 = normalizeGeneric({ text: 'x', labels: { service: 'a' } }, AT).alerts[0]!;
  const b2 = normalizeGeneric({ text: 'x', labels: { service: 'a' } }, AT).alerts[0]!;
  const b3 = normalizeGeneric({ text: 'x', labels: { service: 'b' } }, AT).alerts[0]!;
  assert.equal(b1.fingerprint, b2.fingerprint);
  assert.notEqual(b1.fingerprint, b3.fingerprint);
  assert.equal(b1.severity, 'warning', 'default severity');
  assert.throws(() => normalizeGeneric({ text: '  ' }, AT), (e: unknown) => e instanceof IntakeError && e.field === 'text');
});

test('alertmanager v4: one alert per firing alert of the group, common labels merged, resolved ones skipped', () => {
  const n = normalizeAlertmanager(load('alertmanager-group.json'), AT);
  assert.equal(n.alerts.length, 3);
  assert.deepEqual(n.alerts.map((a) => a.fingerprint), ['5d7f4a9c1e2b3f60', 'a81c09e3d44f2b17', 'f1e2d3c4b5a69788']);
  const billing = n.alerts[0]!;
  assert.equal(billing.source, 'alertmanager');
  assert.equal(billing.severity, 'critical');
  assert.equal(billing.text, 'Disk on billing-db-0 is 97% full\nFilesystem /var/lib/postgresql on billing-db-0 has 3% space left.\nDiskFull');
  assert.equal(billing.labels.service, 'billing');
  assert.equal(billing.labels.prometheus, 'monitoring/k8s');
  assert.deepEqual(billing.resource, { type: 'prometheus_target', labels: { job: 'node', instance: 'billing-db-0:9100' } });
  assert.equal(billing.receivedAt, AT);
  assert.deepEqual(n.skipped, [{ fingerprint: '0c3e7d12aa9b5f44', reason: 'alert DiskFull is resolved' }]);
  assert.throws(() => normalizeAlertmanager({ ...load('alertmanager-group.json'), version: '3' }, AT), (e: unknown) => e instanceof IntakeError && e.field === 'version');
});

test('cloud monitoring: an open incident becomes one alert; a closed one is skipped', () => {
  const body = load('cloud-monitoring-incident.json');
  const a = normalizeCloudMonitoring(body, AT).alerts[0]!;
  assert.equal(a.source, 'cloud-monitoring');
  assert.equal(a.fingerprint, 'cm:0.nq1r8xw2mkc4');
  assert.equal(a.severity, 'critical');
  assert.match(a.text, /^web latency above SLO\nRequest Latency for acme-prod web .* value of 1342\.500\.\np99 latency of the web service/);
  assert.deepEqual(a.resource, { type: 'cloud_run_revision', labels: { project_id: 'acme-prod', service_name: 'web', revision_name: 'web-00042-xyz', location: 'us-central1' } });
  assert.equal(a.labels.service, 'web');
  assert.equal(a.labels.team, 'frontend');
  assert.equal(a.labels.policy, 'web p99 latency');
  const closed = normalizeCloudMonitoring({ ...body, incident: { ...body.incident, state: 'closed' } }, AT);
  assert.deepEqual(closed.alerts, []);
  assert.equal(closed.skipped[0]!.reason, 'incident 0.nq1r8xw2mkc4 is closed');
});

test('pub/sub push: base64 LogEntry; text from textPayload, labels from resource.labels; recurring errors share a fingerprint', () => {
  const entry = load('sqlalchemy-log-entry.json');
  const a = normalizePubSub(push(entry), AT).alerts[0]!;
  assert.equal(a.source, 'pubsub');
  assert.equal(a.severity, 'error');
  assert.equal(a.text, entry.textPayload);
  assert.deepEqual(a.resource, { type: 'cloud_run_job', labels: { job_name: 'content-worker', location: 'us-central1', project_id: 'acme-prod' } });
  assert.equal(a.labels.job_name, 'content-worker');
  assert.equal(a.labels['run.googleapis.com/execution_name'], 'content-worker-7xk2p');
  assert.equal((a.raw as any).insertId, entry.insertId);
  // The same error from another execution (other insertId, instance, line numbers): same incident.
  const again = { ...entry, insertId: 'ffff', labels: { ...entry.labels, instanceId: 'other', 'run.googleapis.com/execution_name': 'content-worker-9abcd' }, textPayload: entry.textPayload.replace('line 41', 'line 43') };
  assert.equal(normalizePubSub(push(again), AT).alerts[0]!.fingerprint, a.fingerprint);
  const other = { ...entry, textPayload: "sqlalchemy.exc.InvalidRequestError: Mapper 'Mapper[Order(orders)]' has no property 'customer'" };
  assert.notEqual(normalizePubSub(push(other), AT).alerts[0]!.fingerprint, a.fingerprint);
  assert.equal(normalizePubSub(push(entry, { fingerprint: 'given' }), AT).alerts[0]!.fingerprint, 'given');
});

test('pub/sub push: jsonPayload message and traceback; Cloud Monitoring incidents sent through Pub/Sub', () => {
  const entry = { logName: 'projects/p/logs/app', resource: { type: 'k8s_container', labels: { container_name: 'api', namespace_name: 'prod' } }, severity: 'CRITICAL', jsonPayload: { message: 'request failed', stack_trace: 'Traceback ...\nValueError: boom', user: 'x' } };
  const a = normalizePubSub(push(entry), AT).alerts[0]!;
  assert.equal(a.text, 'request failed\nTraceback ...\nValueError: boom');
  assert.equal(a.severity, 'critical');
  assert.equal(a.labels.container_name, 'api');
  const inc = normalizePubSub(push(load('cloud-monitoring-incident.json')), AT).alerts[0]!;
  assert.equal(inc.source, 'pubsub');
  assert.equal(inc.fingerprint, 'cm:0.nq1r8xw2mkc4');
});

test('pub/sub push: data that is not base64 JSON, or a LogEntry without payload, names message.data', () => {
  const bad = (data: string) => () => normalizePubSub({ message: { data } }, AT);
  const isData = (e: unknown) => e instanceof IntakeError && e.field === 'message.data';
  assert.throws(bad('%%% not base64 %%%'), isData);
  assert.throws(bad(Buffer.from('not json').toString('base64')), isData);
  assert.throws(bad(Buffer.from('[1,2]').toString('base64')), isData);
  assert.throws(bad(Buffer.from(JSON.stringify({ logName: 'x', severity: 'ERROR' })).toString('base64')), (e: unknown) => isData(e) && /no textPayload/.test((e as Error).message));
});
