// Trace fields in the logs. On Google Cloud (here: K_SERVICE and GOOGLE_CLOUD_PROJECT set for this test process) a
// request's `traceparent` (W3C) or `X-Cloud-Trace-Context` header puts Cloud Logging's trace fields on its log lines,
// and on the run it creates: the run record keeps the trace in Redis, and the worker's log lines for that run's steps
// carry the same fields. Header text that is not a valid trace (wrong length, not hex, all zero, version ff, extra
// text) gives no trace and is never echoed. Elsewhere: plain traceId/spanId/traceSampled.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, bearer, TOKENS, type Harness } from './harness.js';
import { traceFields, traceFromHeaders } from '../../src/logging.js';

process.env.K_SERVICE = 'runwright-api';
process.env.GOOGLE_CLOUD_PROJECT = 'acme-prod';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

test('traceparent and X-Cloud-Trace-Context are parsed strictly', () => {
  assert.deepEqual(traceFromHeaders({ traceparent: `00-${TRACE}-${SPAN}-01` }), { traceId: TRACE, spanId: SPAN, sampled: true });
  assert.deepEqual(traceFromHeaders({ traceparent: `00-${TRACE}-${SPAN}-00` }), { traceId: TRACE, spanId: SPAN, sampled: false });
  assert.deepEqual(traceFromHeaders({ traceparent: `01-${TRACE}-${SPAN}-03-future` }), { traceId: TRACE, spanId: SPAN, sampled: true }, 'a later version may add fields');
  assert.deepEqual(traceFromHeaders({ 'x-cloud-trace-context': `${TRACE.toUpperCase()}/12345;o=1` }), { traceId: TRACE, spanId: '0000000000003039', sampled: true });
  assert.deepEqual(traceFromHeaders({ 'x-cloud-trace-context': TRACE }), { traceId: TRACE });
  assert.deepEqual(traceFromHeaders({ 'x-cloud-trace-context': `${TRACE}/18446744073709551616;o=0` }), { traceId: TRACE, sampled: false }, 'a span id past 64 bits is dropped');
  // traceparent wins over X-Cloud-Trace-Context; an invalid traceparent falls back to it
  assert.equal(traceFromHeaders({ traceparent: `00-${TRACE}-${SPAN}-01`, 'x-cloud-trace-context': `${'a'.repeat(32)}/1` })!.traceId, TRACE);
  assert.equal(traceFromHeaders({ traceparent: 'garbage', 'x-cloud-trace-context': `${'a'.repeat(32)}/1` })!.traceId, 'a'.repeat(32));
  for (const bad of [
    `00-${TRACE.toUpperCase()}-${SPAN}-01`, // W3C ids are lower-case
    `00-${TRACE.slice(1)}-${SPAN}-01`,
    `00-${TRACE}-${SPAN}0-01`,
    `00-${'0'.repeat(32)}-${SPAN}-01`,
    `00-${TRACE}-${'0'.repeat(16)}-01`,
    `ff-${TRACE}-${SPAN}-01`,
    `00-${TRACE}-${SPAN}-01-extra`, // version 00 has exactly four fields
    `00-${TRACE}-${SPAN}-01\n{"severity":"EMERGENCY"}`,
    `00-${TRACE}-${SPAN}-zz`,
  ]) assert.equal(traceFromHeaders({ traceparent: bad }), undefined, bad);
  for (const bad of [`${TRACE}x`, `${TRACE}/abc`, `${'0'.repeat(32)}/1;o=1`, `${TRACE}/1;o=1"injected`, `projects/x/traces/${TRACE}`]) assert.equal(traceFromHeaders({ 'x-cloud-trace-context': bad }), undefined, bad);
  assert.equal(traceFromHeaders({ traceparent: [`00-${TRACE}-${SPAN}-01`, `00-${TRACE}-${SPAN}-01`] }), undefined, 'a repeated header is not trusted');
});

test('the log fields: Cloud Logging special fields on Google Cloud with a project, plain fields elsewhere', () => {
  const t = { traceId: TRACE, spanId: SPAN, sampled: true };
  assert.deepEqual(traceFields(t, { K_SERVICE: 'api', GOOGLE_CLOUD_PROJECT: 'acme-prod' }), {
    'logging.googleapis.com/trace': `projects/acme-prod/traces/${TRACE}`,
    'logging.googleapis.com/spanId': SPAN,
    'logging.googleapis.com/trace_sampled': true,
  });
  assert.deepEqual(traceFields(t, {}), { traceId: TRACE, spanId: SPAN, traceSampled: true });
  assert.deepEqual(traceFields(t, { K_SERVICE: 'api' }), { traceId: TRACE, spanId: SPAN, traceSampled: true }, 'no project known: plain fields');
  assert.deepEqual(traceFields(undefined, {}), {});
  assert.deepEqual(traceFields({ traceId: 'not-hex' } as never, {}), {}, 'a stored trace is checked again');
});

let h: Harness;
before(async () => {
  h = await harness({ worker: true });
});
after(async () => {
  await h.close();
});

const lines = () => h.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
const CLOUD = { 'logging.googleapis.com/trace': `projects/acme-prod/traces/${TRACE}`, 'logging.googleapis.com/spanId': SPAN, 'logging.googleapis.com/trace_sampled': true };
const traceOf = (l: Record<string, unknown>) => Object.fromEntries(Object.entries(l).filter(([k]) => k.startsWith('logging.googleapis.com/')));

test('an intake request with traceparent: its log line and the worker lines for its run carry the trace; the run keeps it in Redis', async () => {
  const res = await h.app!.inject({ method: 'POST', url: '/intake/generic', headers: { ...bearer(TOKENS.generic), traceparent: `00-${TRACE}-${SPAN}-01` }, payload: { text: 'fail once please', labels: { service: 'web' }, fingerprint: 'trace-1' } });
  assert.equal(res.statusCode, 202, res.body);
  const runId = res.json().runId as string;
  const run = await h.engine.waitForEnd(runId, 15_000);
  assert.equal(run.status, 'failed');
  assert.deepEqual((await h.engine.store.get(runId))!.trace, { traceId: TRACE, spanId: SPAN, sampled: true }, 'stored with the run');
  const request = lines().find((l) => l.msg === 'request' && l.path === '/intake/generic' && l.runId === runId);
  assert.ok(request, 'the request line');
  assert.deepEqual(traceOf(request!), CLOUD);
  assert.equal(request!.severity, 'INFO');
  const stepLines = lines().filter((l) => l.runId === runId && l.step === 'two' && l.msg === 'step failed');
  assert.ok(stepLines.length >= 1, 'the worker logged the failing step');
  for (const l of stepLines) assert.deepEqual(traceOf(l), CLOUD);
});

test('X-Cloud-Trace-Context on an API request; a bad header gives no trace and is not echoed', async () => {
  const res = await h.app!.inject({ method: 'POST', url: '/api/runs', headers: { ...bearer(TOKENS.admin), 'x-cloud-trace-context': `${TRACE}/12345;o=0` }, payload: { runbook: 'disk-full', target: 'web', text: 'disk is full (trace test)', fingerprint: 'trace-2' } });
  assert.ok(res.statusCode === 201 || res.statusCode === 202, res.body);
  const runId = res.json().run.id as string;
  await h.engine.waitForEnd(runId, 15_000);
  assert.deepEqual((await h.engine.store.get(runId))!.trace, { traceId: TRACE, spanId: '0000000000003039', sampled: false });
  const request = lines().find((l) => l.msg === 'request' && l.runId === runId)!;
  assert.deepEqual(traceOf(request), { 'logging.googleapis.com/trace': `projects/acme-prod/traces/${TRACE}`, 'logging.googleapis.com/spanId': '0000000000003039', 'logging.googleapis.com/trace_sampled': false });

  const evil = `00-${TRACE}-${SPAN}-01 injected-${'x'.repeat(8)}`;
  const bad = await h.app!.inject({ method: 'POST', url: '/intake/generic', headers: { ...bearer(TOKENS.generic), traceparent: evil }, payload: { text: 'disk is full again', labels: { service: 'billing' }, fingerprint: 'trace-3' } });
  assert.equal(bad.statusCode, 202, bad.body);
  const badRun = bad.json().runId as string;
  await h.engine.waitForEnd(badRun, 15_000);
  assert.equal((await h.engine.store.get(badRun))!.trace, undefined);
  const line = lines().find((l) => l.msg === 'request' && l.runId === badRun)!;
  assert.deepEqual(traceOf(line), {});
  assert.ok(!h.logs.some((l) => l.includes('injected-xxxxxxxx')), 'the header text is never in a log line');
});
