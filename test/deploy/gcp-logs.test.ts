// GcpLogs (@google-cloud/logging getEntries over REST) against a loopback fake Cloud Logging that evaluates the
// filter: the exact filter string and request, our own timestamp bound (no 24-hour default window added by the
// client), paging with autoPaginate off, escaping of text terms, and permission denied.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GcpLogs } from '../../src/adapters/gcp/logs.js';
import { PermanentError } from '../../src/core/errors.js';
import type { Target } from '../../src/core/types.js';
import { FakeCloudLogging } from '../fakes/logging.js';
import { rpcError } from '../fakes/http.js';
import { fakeGcpConfig } from './helpers.js';

const target: Target = {
  name: 'content-worker', repo: 'https://git.example.com/acme/content-worker.git', branch: 'main', modelsDir: 'backend/app/models', platform: 'gcp', labels: {},
  gcp: { project: 'demo-project', region: 'us-central1', job: 'dev-content-worker' },
};
const job = { project: 'demo-project', job: 'dev-content-worker', region: 'us-central1' };
const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000);

describe('gcp logs (Cloud Logging)', () => {
  let fake: FakeCloudLogging;
  let logs: GcpLogs;

  before(async () => {
    fake = await new FakeCloudLogging().start();
    logs = new GcpLogs(fakeGcpConfig({ logging: fake.port }).gcp);
  });
  after(async () => {
    await logs.close();
    await fake.close();
  });
  beforeEach(() => {
    fake.requests.length = 0;
    fake.entries.length = 0;
    fake.maxPageSize = 1000;
    // before the deploy: an old failure of the same job
    fake.addJobLine({ ...job, execution: 'dev-content-worker-old01', at: at(-60), severity: 'ERROR', text: 'sqlalchemy.exc.InvalidRequestError: One or more mappers failed to initialize' });
    // after: the new execution's lines, and another job's error
    fake.addJobLine({ ...job, execution: 'dev-content-worker-new01', at: at(5), severity: 'INFO', text: 'content-worker: starting' });
    fake.addJobLine({ ...job, execution: 'dev-content-worker-new01', at: at(6), severity: 'ERROR', text: "When initializing mapper Mapper[Organization(organizations)], expression 'FeatureFlag' failed to locate a name ('FeatureFlag')" });
    fake.addJobLine({ ...job, execution: 'dev-content-worker-new01', at: at(7), severity: 'ERROR', text: 'Traceback: sqlalchemy.exc.InvalidRequestError' });
    fake.addJobLine({ ...job, job: 'other-job', execution: 'other-job-x', at: at(8), severity: 'ERROR', text: 'sqlalchemy error elsewhere' });
  });

  test('sends the exact filter and request; only this job, since the deploy, matching the text', async () => {
    const since = at(0).toISOString();
    const r = await logs.query(target, { since, textFilter: ['sqlalchemy'], limit: 50 });
    const expected = `resource.type="cloud_run_job" AND resource.labels.job_name="dev-content-worker" AND resource.labels.location="us-central1" AND timestamp>="${since}" AND "sqlalchemy"`;
    assert.equal(r.filter, expected);
    const [req] = fake.calls('POST', '/v2/entries:list');
    assert.deepEqual(req!.body, { resourceNames: ['projects/demo-project'], filter: expected, orderBy: 'timestamp asc', pageSize: 50 }, 'no 24-hour window added: the filter names a timestamp');
    assert.deepEqual(r.entries.map((e) => e.text), ['Traceback: sqlalchemy.exc.InvalidRequestError']);
    const e = r.entries[0]!;
    assert.equal(e.timestamp, at(7).toISOString());
    assert.equal(e.severity, 'ERROR');
    assert.equal(e.execution, 'dev-content-worker-new01');
  });

  test('several terms are ORed, severity and execution narrow it', async () => {
    const since = at(0).toISOString();
    const r = await logs.query(target, { since, textFilter: ['sqlalchemy', 'failed to locate a name'], minSeverity: 'error', execution: 'dev-content-worker-new01' });
    assert.equal(r.filter, `resource.type="cloud_run_job" AND resource.labels.job_name="dev-content-worker" AND resource.labels.location="us-central1" AND labels."run.googleapis.com/execution_name"="dev-content-worker-new01" AND severity>=ERROR AND timestamp>="${since}" AND ("sqlalchemy" OR "failed to locate a name")`);
    assert.equal(r.entries.length, 2);
    assert.ok(r.entries.every((e) => e.severity === 'ERROR'));
    const none = await logs.query(target, { since, textFilter: ['sqlalchemy'], execution: 'dev-content-worker-old01' });
    assert.equal(none.entries.length, 0, 'the old execution is before the deploy');
  });

  test('pages with autoPaginate off until the limit', async () => {
    fake.maxPageSize = 1;
    const r = await logs.query(target, { since: at(0).toISOString(), limit: 2 });
    assert.equal(r.entries.length, 2);
    const reqs = fake.calls('POST', '/v2/entries:list');
    assert.equal(reqs.length, 2);
    assert.equal(reqs[0]!.body.pageToken, undefined);
    assert.ok(reqs[1]!.body.pageToken, 'second page asked by token');
    assert.deepEqual(r.entries.map((e) => e.text), ['content-worker: starting', "When initializing mapper Mapper[Organization(organizations)], expression 'FeatureFlag' failed to locate a name ('FeatureFlag')"]);
  });

  test('a term with quotes and backslashes stays one string literal', async () => {
    fake.addJobLine({ ...job, execution: 'dev-content-worker-new01', at: at(9), severity: 'ERROR', text: 'he said "stop" \\ then OR left' });
    const r = await logs.query(target, { since: at(0).toISOString(), textFilter: ['said "stop" \\ then'] });
    assert.ok(r.filter.endsWith(' AND "said \\"stop\\" \\\\ then"'));
    assert.equal(r.entries.length, 1);
    assert.equal(r.entries[0]!.text, 'he said "stop" \\ then OR left');
  });

  test('permission denied is permanent; a bad timestamp never reaches the API', async () => {
    fake.fail(() => true, rpcError('PERMISSION_DENIED', "Permission 'logging.logEntries.list' denied"));
    await assert.rejects(logs.query(target, { since: at(0).toISOString() }), (e: unknown) => e instanceof PermanentError && e.code === 'gcp_permission_denied');
    const n = fake.requests.length;
    await assert.rejects(logs.query(target, { since: 'yesterday" OR "' }), (e: unknown) => e instanceof PermanentError && e.code === 'bad_timestamp');
    assert.equal(fake.requests.length, n);
  });
});
