// On gcp, confirm and preflight run the target's check inside the candidate image, in Cloud Build (official client,
// REST) against the loopback fake: the exact build request (the target's own steps from its committed build config,
// then the check step in the image they build; nothing pushed to a registry), a failing check failing the build,
// a broken image build told apart from a failing check, and nothing reaching the target branch.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { simpleGit } from 'simple-git';
import { protos } from '@google-cloud/cloudbuild';
import type { GcpBuild } from '../../src/adapters/gcp/build.js';
import { keyToken } from '../../src/adapters/gcp/ops.js';
import { createPorts } from '../../src/adapters/index.js';
import { PermanentError } from '../../src/core/errors.js';
import type { Target } from '../../src/core/types.js';
import { runCheck } from '../../src/actions/sqlalchemy/lib/tool.js';
import { SAMPLE_FILES } from '../../src/demo/sample-service.js';
import type { FakeCloudBuild } from '../fakes/cloudbuild.js';
import { actionContext } from '../helpers/action-ctx.js';
import { cloudBuildSuite, commitFixA, fakeGcpConfig, type ServiceFixture } from './helpers.js';

const PARENT = '/v1/projects/demo-project/locations/us-central1';
const CHECK = ['python', '-c', 'import app.models; from sqlalchemy.orm import configure_mappers; configure_mappers()'];

describe('the check in the target image (Cloud Build)', () => {
  const h = cloudBuildSuite();
  let fake: FakeCloudBuild;
  let f: ServiceFixture;
  let builder: GcpBuild;
  let target: Target;
  let mainBefore: string;

  before(async () => {
    ({ fake, f, builder } = h);
    target = { ...f.target, platform: 'gcp', check: { command: CHECK, cwd: 'backend', env: { APP_ENV: 'check' }, timeoutMs: 90_000 }, runtime: { env: { TZ_NAME: 'UTC' } } };
    mainBefore = (await simpleGit(f.remote).raw(['rev-parse', 'refs/heads/main'])).trim();
  });

  test('builds the image from the commit with the target build config, then runs the check in it; pushes no image', async () => {
    const sha = await commitFixA(f, 'fix-a-image');
    const r = await builder.checkInImage(target, { commit: sha, repoDir: f.clone, key: 'run1.preflight.1.check' });
    assert.equal(r.passed, true);
    const creates = fake.calls('POST', `${PARENT}/builds`);
    assert.equal(creates.length, 1);
    const body = creates[0]!.body;
    const committed = YAML.parse(SAMPLE_FILES['backend/cloudbuild.yaml']!);
    const image = committed.images[0];
    assert.deepEqual(body.source, { gitSource: { url: 'https://git.example.com/acme/content-worker.git', revision: sha, dir: 'backend' } });
    assert.deepEqual(body.steps, [
      ...committed.steps,
      {
        id: 'runwright-check',
        name: image,
        entrypoint: 'python',
        args: CHECK.slice(1),
        dir: '/workspace/backend',
        env: ['PYTHONDONTWRITEBYTECODE=1', 'TZ_NAME=UTC', 'APP_ENV=check'],
        timeout: '90s',
      },
    ]);
    assert.equal(body.images, undefined, 'a check build pushes no image');
    assert.deepEqual(body.options, { logging: protos.google.devtools.cloudbuild.v1.BuildOptions.LoggingMode.CLOUD_LOGGING_ONLY });
    assert.deepEqual(body.tags, [`rw-${keyToken('run1.preflight.1.check')}`, 'rw-check', `rw-commit-${sha.slice(0, 12)}`]);
    // the candidate was not on the remote: it went to a branch of its own, never to main
    assert.equal(r.pushedBranch, `runwright/check-${sha.slice(0, 12)}`);
    assert.equal((await simpleGit(f.remote).raw(['rev-parse', `refs/heads/runwright/check-${sha.slice(0, 12)}`])).trim(), sha);
    assert.equal((await simpleGit(f.remote).raw(['rev-parse', 'refs/heads/main'])).trim(), mainBefore, 'nothing reached the target branch');
    assert.equal(r.image, image);
    assert.equal(r.buildId, fake.builds.keys().next().value);
  });

  test('a failing check fails the build: passed false with the build, its log and the failed step', async () => {
    fake.outcome = 'failure';
    fake.failStep = 'last';
    const r = await builder.checkInImage(target, { commit: mainBefore, repoDir: f.clone, key: 'run2.confirm.1.check' });
    assert.equal(r.passed, false);
    assert.equal(r.pushedBranch, undefined, 'a commit the remote has is built from there');
    assert.match(r.output, /the check failed in .*content-worker:\$BUILD_ID/);
    assert.match(r.output, /build step 1 "us-central1-docker\.pkg\.dev\/\$PROJECT_ID\/services\/content-worker:\$BUILD_ID" failed/);
    assert.equal(fake.builds.get(r.buildId)!.status, 'FAILURE');
  });

  test('an image that does not build is an error, not a failing check', async () => {
    fake.outcome = 'failure';
    fake.failStep = 0;
    await assert.rejects(builder.checkInImage(target, { commit: mainBefore, repoDir: f.clone, key: 'run3.confirm.1.check' }), (e: unknown) => e instanceof PermanentError && e.code === 'image_build_failed');
  });

  test('re-run safe: the same key adopts its build instead of starting another', async () => {
    const a = await builder.checkInImage(target, { commit: mainBefore, repoDir: f.clone, key: 'run4.confirm.1.check' });
    const b = await builder.checkInImage(target, { commit: mainBefore, repoDir: f.clone, key: 'run4.confirm.1.check' });
    assert.equal(a.buildId, b.buildId);
    assert.equal(fake.calls('POST', `${PARENT}/builds`).length, 1);
  });

  test('confirm/preflight (runCheck) on a gcp target run the check in Cloud Build, not on the worker', async () => {
    fake.outcome = 'failure';
    fake.failStep = 'last';
    const ports = createPorts(fakeGcpConfig({ cloudbuild: fake.port }), 'gcp');
    const ctx = actionContext({ target, ports, workdir: f.workdir });
    const r = await runCheck(ctx, f.clone);
    assert.equal(r.passed, false);
    assert.equal(r.runtime?.sandbox, 'cloud-build');
    assert.equal(fake.calls('POST', `${PARENT}/builds`).length, 1);
    assert.equal(fake.calls('POST', `${PARENT}/builds`)[0]!.body.steps.at(-1).id, 'runwright-check');
    // gcp.checkIn: worker keeps it on the worker (sandboxed there)
    const local = await runCheck(actionContext({ target: { ...target, gcp: { ...target.gcp!, checkIn: 'worker' }, check: { ...target.check!, command: ['/usr/bin/python3', '-c', 'print(1)'] } }, ports, workdir: f.workdir }), f.clone);
    assert.equal(local.passed, true);
    assert.notEqual(local.runtime?.sandbox, 'cloud-build');
    assert.equal(fake.calls('POST', `${PARENT}/builds`).length, 1);
  });
});
