// GcpDeploy (Cloud Run Admin v2 JobsClient/ExecutionsClient over REST) against a loopback fake Cloud Run: the job
// read, only its image changed (etag kept), the execution run with the updated etag and its operation polled to the
// end; the failures (job not found, permission denied, failed execution, an execution that never finishes, a stale
// etag); re-run safety; rollback.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GcpDeploy, KEY_LABEL, PREVIOUS_IMAGE_ANNOTATION, ROLLED_BACK_FROM_ANNOTATION } from '../../src/adapters/gcp/deploy.js';
import { keyToken } from '../../src/adapters/gcp/ops.js';
import { PermanentError, RetryableError } from '../../src/core/errors.js';
import type { BuildResult } from '../../src/ports/index.js';
import type { Target } from '../../src/core/types.js';
import { FakeCloudRun } from '../fakes/run.js';
import { rpcError } from '../fakes/http.js';
import { fakeGcpConfig } from './helpers.js';

const JOB = 'projects/demo-project/locations/us-central1/jobs/dev-content-worker';
const REPO = 'us-central1-docker.pkg.dev/demo-project/services/content-worker';
const OLD = `${REPO}@sha256:${'1'.repeat(64)}`;
const NEW = `${REPO}@sha256:${'2'.repeat(64)}`;
const target: Target = {
  name: 'content-worker', repo: 'https://git.example.com/acme/content-worker.git', branch: 'main', modelsDir: 'backend/app/models', platform: 'gcp', labels: {},
  gcp: { project: 'demo-project', region: 'us-central1', job: 'dev-content-worker', image: REPO },
};
const build: BuildResult = { buildId: 'b-1', commit: 'c'.repeat(40), image: NEW, imageDigest: `sha256:${'2'.repeat(64)}` };

/** Proto3 semantics: a scalar at its default ('' / 0 / false) or an empty list/map is the same as absent. */
function proto3(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(proto3);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const y = proto3(x);
      if (y === '' || y === 0 || y === false || y === null || (Array.isArray(y) && y.length === 0) || (y && typeof y === 'object' && !Array.isArray(y) && Object.keys(y).length === 0)) continue;
      out[k] = y;
    }
    return out;
  }
  return v;
}

function seedTemplate() {
  return {
    taskCount: 1,
    parallelism: 1,
    template: {
      containers: [{ name: 'worker', image: OLD, args: ['worker.py'], env: [{ name: 'DATABASE_URL', value: 'postgresql://db.internal/content' }], resources: { limits: { cpu: '1', memory: '512Mi' } } }],
      maxRetries: 3,
      timeout: '600s',
      serviceAccount: 'content-worker@demo-project.iam.gserviceaccount.com',
    },
  };
}

describe('gcp deploy (Cloud Run jobs)', () => {
  let fake: FakeCloudRun;
  let deployer: GcpDeploy;

  before(async () => {
    fake = await new FakeCloudRun().start();
    deployer = new GcpDeploy(fakeGcpConfig({ run: fake.port }).gcp);
  });
  after(async () => {
    await deployer.close();
    await fake.close();
  });
  beforeEach(() => {
    fake.requests.length = 0;
    fake.jobs.clear();
    fake.executions.clear();
    fake.executionOutcome = 'succeeded';
    fake.pollsBeforeDone = 2;
    fake.addJob(JOB, seedTemplate(), { labels: { team: 'content' }, annotations: { owner: 'content-team' } });
  });

  test('updates only the image (with the etag), executes with the new etag and waits for the execution', async () => {
    const before = structuredClone(fake.jobs.get(JOB)!);
    const r = await deployer.deploy(target, { build, key: 'run1.deploy.1' });

    const [patch] = fake.calls('PATCH', `/v2/${JOB}`);
    assert.ok(patch, 'updateJob sent');
    assert.equal(patch.body.etag, before.etag, 'the etag read is sent back');
    assert.equal(patch.body.template.template.containers[0].image, NEW);
    // everything else as read
    const sentTemplate = structuredClone(patch.body.template.template);
    sentTemplate.containers[0].image = OLD;
    assert.deepEqual(proto3(sentTemplate), proto3(before.template.template));
    assert.deepEqual(patch.body.labels, before.labels);
    assert.deepEqual(patch.body.annotations, { owner: 'content-team', [PREVIOUS_IMAGE_ANNOTATION]: OLD });
    assert.deepEqual(patch.body.template.labels, { [KEY_LABEL]: keyToken('run1.deploy.1') });
    assert.equal(patch.body.template.taskCount, 1);

    const updated = fake.jobs.get(JOB)!;
    const [run] = fake.calls('POST', `/v2/${JOB}:run`);
    assert.deepEqual(run!.body, { etag: updated.etag }, 'executes exactly the updated job version (the name is in the path)');
    assert.ok(fake.calls('GET', '/v2/projects/demo-project/locations/us-central1/operations/').length >= 4, 'both operations polled to completion');

    const exec = fake.executions.get(r.executionName)!;
    assert.ok(exec, 'the execution the fake ran');
    assert.equal(r.status, 'succeeded');
    assert.deepEqual(r.taskCounts, { succeeded: 1, failed: 0, cancelled: 0 });
    assert.equal(r.image, NEW);
    assert.equal(r.previousImage, OLD);
    assert.equal(r.startedAt, exec.createTime);
    assert.equal(r.finishedAt, exec.completionTime);
    assert.equal((r.details as any).updated, true);
    assert.equal((r.details as any).reusedExecution, false);
  });

  test('a re-delivered step neither updates nor executes again', async () => {
    const first = await deployer.deploy(target, { build, key: 'run1.deploy.1' });
    const again = await deployer.deploy(target, { build, key: 'run1.deploy.1' });
    assert.equal(fake.calls('PATCH', `/v2/${JOB}`).length, 1);
    assert.equal(fake.calls('POST', `/v2/${JOB}:run`).length, 1);
    assert.equal(again.executionName, first.executionName);
    assert.equal(again.previousImage, OLD, 'the replaced image is remembered in the job annotation');
    assert.equal((again.details as any).reusedExecution, true);
  });

  test('a failed execution is recorded with its task counts and condition', async () => {
    fake.executionOutcome = 'failed';
    const r = await deployer.deploy(target, { build, key: 'run2.deploy.1' });
    assert.equal(r.status, 'failed');
    assert.deepEqual(r.taskCounts, { succeeded: 0, failed: 1, cancelled: 0 });
    assert.equal((r.details as any).condition.state, 'CONDITION_FAILED');
    assert.match((r.details as any).condition.message, /failed/);
    assert.ok(fake.calls('GET', `/v2/${JOB}/executions`).length >= 2, 'the failed execution was looked up after the operation error');
  });

  test('an execution that never finishes times out (retryable); the retry waits for the same execution', async () => {
    fake.executionOutcome = 'never';
    await assert.rejects(deployer.deploy(target, { build, key: 'run3.deploy.1', timeoutMs: 300 }), (e: unknown) => e instanceof RetryableError && e.code === 'gcp_operation_timeout');
    const [name] = [...fake.executions.keys()];
    fake.executionOutcome = 'succeeded';
    fake.pollsBeforeDone = fake.executions.get(name!)!._polls + 3; // still running when the retry finds it
    const r = await deployer.deploy(target, { build, key: 'run3.deploy.1' });
    assert.equal(r.executionName, name);
    assert.equal(r.status, 'succeeded');
    assert.equal(fake.calls('POST', `/v2/${JOB}:run`).length, 1);
    assert.equal((r.details as any).reusedExecution, true, 'found by its label');
    assert.ok(fake.calls('GET', `/v2/${name}`).length >= 2, 'waited for the adopted execution');
  });

  test('job not found and permission denied are permanent; a stale etag is retryable', async () => {
    const missing = { ...target, gcp: { ...target.gcp!, job: 'no-such-job' } };
    await assert.rejects(deployer.deploy(missing, { build, key: 'k1' }), (e: unknown) => e instanceof PermanentError && e.code === 'gcp_not_found' && /no-such-job/.test(e.message));
    fake.fail((r) => r.method === 'GET' && r.path === `/v2/${JOB}`, rpcError('PERMISSION_DENIED', "Permission 'run.jobs.get' denied on resource"));
    await assert.rejects(deployer.deploy(target, { build, key: 'k2' }), (e: unknown) => e instanceof PermanentError && e.code === 'gcp_permission_denied');
    // someone changes the job between our read and our update
    fake.fail((r) => r.method === 'PATCH', rpcError('ABORTED', 'etag mismatch: the job was modified concurrently'));
    await assert.rejects(deployer.deploy(target, { build, key: 'k3' }), (e: unknown) => e instanceof RetryableError && e.code === 'gcp_aborted');
    assert.equal(fake.calls('POST', `/v2/${JOB}:run`).length, 0, 'nothing executed');
    await assert.rejects(deployer.deploy(target, { build: { ...build, image: `${REPO}:latest` }, key: 'k4' }), (e: unknown) => e instanceof PermanentError && e.code === 'bad_image');
  });

  test('rollback restores the previous image and nothing else; a second rollback changes nothing', async () => {
    const r = await deployer.deploy(target, { build, key: 'run4.deploy.1' });
    const deployed = structuredClone(fake.jobs.get(JOB)!);
    const back = await deployer.rollback(target, { previousImage: r.previousImage!, key: 'run4.rollback.1' });
    assert.equal(back.image, OLD);
    const patches = fake.calls('PATCH', `/v2/${JOB}`);
    assert.equal(patches.length, 2);
    const sent = patches[1]!.body;
    assert.equal(sent.etag, deployed.etag);
    assert.equal(sent.template.template.containers[0].image, OLD);
    const rest = structuredClone(sent.template.template);
    rest.containers[0].image = NEW;
    assert.deepEqual(proto3(rest), proto3(deployed.template.template));
    assert.equal(sent.annotations[ROLLED_BACK_FROM_ANNOTATION], NEW);
    assert.equal(fake.jobs.get(JOB)!.template.template.containers[0].image, OLD);
    await deployer.rollback(target, { previousImage: OLD, key: 'run4.rollback.1' });
    assert.equal(fake.calls('PATCH', `/v2/${JOB}`).length, 2, 're-run is a no-op');
    assert.equal(fake.calls('POST', `/v2/${JOB}:run`).length, 1, 'rollback executes nothing');
  });
});
