// GcpBuild (Cloud Build over the official client, REST) against a loopback fake Cloud Build: the exact request,
// the operation polled to completion, and the failures (unpushed commit, failed build, operation that never
// finishes, permission denied, unavailable), plus re-run safety by the idempotency key.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { protos } from '@google-cloud/cloudbuild';
import type { GcpBuild } from '../../src/adapters/gcp/build.js';
import { keyToken } from '../../src/adapters/gcp/ops.js';
import { PermanentError, RetryableError } from '../../src/core/errors.js';
import { SAMPLE_FILES } from '../../src/demo/sample-service.js';
import { FakeCloudBuild } from '../fakes/cloudbuild.js';
import { rpcError } from '../fakes/http.js';
import { cloudBuildSuite, commitFixA, type ServiceFixture } from './helpers.js';

const PARENT = '/v1/projects/demo-project/locations/us-central1';

describe('gcp build (Cloud Build)', () => {
  const h = cloudBuildSuite();
  let fake: FakeCloudBuild;
  let f: ServiceFixture;
  let sha: string;
  let builder: GcpBuild;

  before(async () => {
    ({ fake, f, builder } = h);
    sha = await commitFixA(f);
    await f.git.push(f.clone, { branch: 'runwright/run1', sha });
  });

  test('builds the pushed commit from the git remote with the committed build config, polling the operation to completion', async () => {
    // An uncommitted edit of the build config in the clone must not reach the build (Mistake 2).
    writeFileSync(path.join(f.clone, 'backend/cloudbuild.yaml'), 'steps:\n  - name: evil\n    args: [uploaded-from-working-tree]\n');
    const r = await builder.build(f.target, { commit: sha, repoDir: f.clone, key: 'run1.build.1' });

    const creates = fake.calls('POST', `${PARENT}/builds`);
    assert.equal(creates.length, 1);
    const body = creates[0]!.body;
    const committed = YAML.parse(SAMPLE_FILES['backend/cloudbuild.yaml']!);
    assert.deepEqual(body.source, { gitSource: { url: 'https://git.example.com/acme/content-worker.git', revision: sha, dir: 'backend' } });
    assert.deepEqual(body.steps, committed.steps);
    assert.deepEqual(body.images, committed.images);
    // enums travel as numbers ($alt=json;enum-encoding=int)
    assert.deepEqual(body.options, { logging: protos.google.devtools.cloudbuild.v1.BuildOptions.LoggingMode[committed.options.logging as 'CLOUD_LOGGING_ONLY'] });
    assert.deepEqual(body.tags, [`rw-${keyToken('run1.build.1')}`, `rw-commit-${sha.slice(0, 12)}`]);
    // looked for an earlier build of this key first, then polled the operation until done
    assert.equal(fake.calls('GET', `${PARENT}/builds`)[0]!.query.filter, `tags="rw-${keyToken('run1.build.1')}"`);
    assert.equal(fake.calls('GET', `${PARENT}/operations/`).length, 2);

    const b = fake.builds.get(r.buildId)!;
    assert.equal(b.status, 'SUCCESS');
    const image = `us-central1-docker.pkg.dev/demo-project/services/content-worker:${r.buildId}`;
    assert.equal(r.imageDigest, FakeCloudBuild.digestFor(image, sha));
    assert.equal(r.image, `us-central1-docker.pkg.dev/demo-project/services/content-worker@${r.imageDigest}`);
    assert.equal(r.logUrl, b.logUrl);
    assert.equal(r.commit, sha);
    assert.equal((r.details as any).status, 'SUCCESS');
    assert.equal((r.details as any).reused, false);
  });

  test('a re-delivered step finds its build by tag instead of starting another', async () => {
    const first = await builder.build(f.target, { commit: sha, repoDir: f.clone, key: 'run1.build.again' });
    const again = await builder.build(f.target, { commit: sha, repoDir: f.clone, key: 'run1.build.again' });
    assert.equal(fake.calls('POST', `${PARENT}/builds`).length, 1);
    assert.equal(again.buildId, first.buildId);
    assert.equal(again.image, first.image);
    assert.equal((again.details as any).reused, true);
  });

  test('refuses a commit that is not on the remote, before any request', async () => {
    const local = (await f.git.commit(f.clone, { paths: ['backend/cloudbuild.yaml'], message: 'unpushed', key: 'unpushed' })).sha;
    await assert.rejects(builder.build(f.target, { commit: local, repoDir: f.clone, key: 'k-unpushed' }), (e: unknown) => e instanceof PermanentError && e.code === 'commit_not_pushed');
    assert.equal(fake.requests.length, 0);
  });

  test('a failed build is a permanent error carrying the build id, log URL and failure', async () => {
    fake.outcome = 'failure';
    await assert.rejects(builder.build(f.target, { commit: sha, repoDir: f.clone, key: 'k-fail' }), (e: unknown) => {
      assert.ok(e instanceof PermanentError);
      assert.equal(e.code, 'build_failed');
      const d = e.details as any;
      assert.equal(fake.builds.get(d.buildId)?.status, 'FAILURE');
      assert.match(d.logUrl, /^https:\/\/console\.cloud\.google\.com\/cloud-build\/builds;region=us-central1\//);
      assert.match(d.failure, /step exited with non-zero status: 1/);
      return true;
    });
  });

  test('an operation that never finishes times out (retryable); the retry adopts the same build and waits for it', async () => {
    fake.outcome = 'never';
    const t0 = Date.now();
    await assert.rejects(
      builder.build(f.target, { commit: sha, repoDir: f.clone, key: 'k-slow', timeoutMs: 300 }),
      (e: unknown) => e instanceof RetryableError && e.code === 'gcp_operation_timeout',
    );
    assert.ok(Date.now() - t0 < 5_000);
    assert.ok(fake.calls('GET', `${PARENT}/operations/`).length >= 2, 'polled while waiting');
    const [id] = [...fake.builds.keys()].slice(-1);
    assert.equal(fake.builds.get(id!)!.status, 'WORKING');
    fake.outcome = 'success'; // the build finishes while nobody waits
    const r = await builder.build(f.target, { commit: sha, repoDir: f.clone, key: 'k-slow' });
    assert.equal(r.buildId, id);
    assert.equal(r.commit, sha);
    assert.ok(r.imageDigest?.startsWith('sha256:'));
    assert.equal(fake.calls('POST', `${PARENT}/builds`).length, 1, 'no second build');
    assert.ok(fake.calls('GET', `${PARENT}/builds/${id}`).length >= 1, 'waited on the adopted build');
  });

  test('permission denied is permanent, unavailable is retryable', async () => {
    fake.fail((r) => r.method === 'POST', rpcError('PERMISSION_DENIED', "The caller does not have permission 'cloudbuild.builds.create'"));
    await assert.rejects(builder.build(f.target, { commit: sha, repoDir: f.clone, key: 'k-denied' }), (e: unknown) => e instanceof PermanentError && e.code === 'gcp_permission_denied' && /cloudbuild\.builds\.create/.test(e.message));
    fake.fail((r) => r.method === 'GET', rpcError('UNAVAILABLE', 'The service is currently unavailable.'));
    await assert.rejects(builder.build(f.target, { commit: sha, repoDir: f.clone, key: 'k-503' }), (e: unknown) => e instanceof RetryableError && e.code === 'gcp_unavailable');
  });

  test('a private repo behind a Cloud Build connection is built from connectedRepository at the sha', async () => {
    const repository = 'projects/demo-project/locations/us-central1/connections/github/repositories/acme-content-worker';
    const r = await builder.build({ ...f.target, gcp: { ...f.target.gcp!, repoUrl: repository } }, { commit: sha, repoDir: f.clone, key: 'k-connected' });
    const [create] = fake.calls('POST', `${PARENT}/builds`);
    assert.deepEqual(create!.body.source, { connectedRepository: { repository, revision: sha, dir: 'backend' } });
    assert.equal(fake.builds.get(r.buildId)!.status, 'SUCCESS');
  });

  test('a target without an https repo URL or gcp section is refused', async () => {
    await assert.rejects(builder.build({ ...f.target, gcp: { ...f.target.gcp!, repoUrl: undefined } }, { commit: sha, repoDir: f.clone, key: 'k' }), (e: unknown) => e instanceof PermanentError && e.code === 'bad_repo_url');
    await assert.rejects(builder.build({ ...f.target, gcp: undefined }, { commit: sha, repoDir: f.clone, key: 'k' }), (e: unknown) => e instanceof PermanentError && e.code === 'target_not_gcp');
  });
});
