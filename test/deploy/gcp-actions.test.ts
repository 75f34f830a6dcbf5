// The deploy.* actions on the gcp platform, wired as the engine wires them (createPorts(config, 'gcp')), against
// the three loopback fakes: push to a real bare remote, Cloud Build of that commit, the Cloud Run job updated and
// executed (the fake execution writes its log lines into the fake Cloud Logging), the logs verified, and rollback.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pushAction from '../../src/actions/deploy/push.js';
import buildAction from '../../src/actions/deploy/build.js';
import jobAction from '../../src/actions/deploy/job.js';
import verifyAction from '../../src/actions/deploy/verify-logs.js';
import rollbackAction from '../../src/actions/deploy/rollback.js';
import type { Action, ActionContext } from '../../src/core/action.js';
import { PermanentError } from '../../src/core/errors.js';
import { createPorts } from '../../src/adapters/index.js';
import type { Ports } from '../../src/ports/index.js';
import type { Target } from '../../src/core/types.js';
import { FakeCloudBuild } from '../fakes/cloudbuild.js';
import { FakeCloudRun } from '../fakes/run.js';
import { FakeCloudLogging } from '../fakes/logging.js';
import { actionContext } from '../helpers/action-ctx.js';
import { commitFixA, commitNoCure, fakeGcpConfig, serviceFixture, type ServiceFixture } from './helpers.js';

const JOB = 'projects/demo-project/locations/us-central1/jobs/dev-content-worker';
const REPO = 'us-central1-docker.pkg.dev/demo-project/services/content-worker';
const OLD = `${REPO}@sha256:${'1'.repeat(64)}`;

async function call<P>(a: Action<P, any>, params: unknown, ctx: ActionContext): Promise<any> {
  const parsed = a.params.safeParse(params);
  if (!parsed.success) throw new Error(`bad params for ${a.name}: ${JSON.stringify(parsed.error.issues)}`);
  return await a.run(parsed.data, ctx);
}

describe('deploy actions on the gcp platform (official clients, loopback fakes)', () => {
  let cb: FakeCloudBuild;
  let run: FakeCloudRun;
  let logging: FakeCloudLogging;
  let ports: Ports;
  const fixtures: ServiceFixture[] = [];
  /** what the fake job prints when it runs: the cured or the broken worker */
  let jobPrints: 'ok' | 'mapper-error' = 'ok';

  before(async () => {
    [cb, run, logging] = await Promise.all([new FakeCloudBuild().start(), new FakeCloudRun().start(), new FakeCloudLogging().start()]);
    ports = createPorts(fakeGcpConfig({ cloudbuild: cb.port, run: run.port, logging: logging.port }), 'gcp');
    run.onExecute = (exec) => {
      const line = (text: string, severity: string, ms: number) =>
        logging.addJobLine({ project: 'demo-project', job: 'dev-content-worker', region: 'us-central1', execution: exec.name.split('/').pop(), text, severity, at: new Date(Date.parse(exec.createTime) + ms) });
      line('content-worker: starting', 'INFO', 100);
      if (jobPrints === 'ok') line('content-worker: processed 1 user(s)', 'INFO', 300);
      else {
        line("content-worker failed: sqlalchemy.exc.InvalidRequestError: When initializing mapper mapped class Organization->organizations, expression 'FeatureFlag' failed to locate a name ('FeatureFlag').", 'ERROR', 300);
        line('Traceback (most recent call last):', 'ERROR', 301);
      }
    };
  });
  after(async () => {
    for (const p of [ports.build, ports.deploy, ports.logs]) await (p as any).close();
    await Promise.all([cb.close(), run.close(), logging.close()]);
    for (const f of fixtures) f.cleanup();
  });
  beforeEach(() => {
    run.jobs.clear();
    run.addJob(JOB, { taskCount: 1, template: { containers: [{ name: 'worker', image: OLD }], maxRetries: 0, timeout: '600s' } });
  });

  async function fixture(): Promise<{ f: ServiceFixture; target: Target; ctx: (step: string, runId: string) => ActionContext }> {
    const f = await serviceFixture();
    fixtures.push(f);
    const target: Target = { ...f.target, platform: 'gcp' };
    return { f, target, ctx: (step, runId) => actionContext({ target, workdir: f.workdir, runId, stepId: step, ports }) };
  }

  test('cured: push → Cloud Build → Cloud Run execution → zero matching log entries', async () => {
    const { f, ctx } = await fixture();
    jobPrints = 'ok';
    run.executionOutcome = 'succeeded';
    const sha = await commitFixA(f);
    const pushed = await call(pushAction, { sha }, ctx('push', 'g1'));
    const built = await call(buildAction, { sha: pushed.sha }, ctx('build', 'g1'));
    assert.equal(cb.builds.get(built.buildId)!.source.gitSource.revision, sha);
    assert.match(built.image, new RegExp(`^${REPO}@sha256:[0-9a-f]{64}$`));
    const deployed = await call(jobAction, { build: built }, ctx('deploy', 'g1'));
    assert.equal(run.jobs.get(JOB)!.template.template.containers[0].image, built.image);
    assert.equal(deployed.status, 'succeeded');
    assert.equal(deployed.previousImage, OLD);
    const verified = await call(verifyAction, { deployment: deployed, settle: '0s' }, ctx('verify', 'g1'));
    assert.equal(verified.count, 0);
    const [list] = logging.calls('POST', '/v2/entries:list').slice(-1);
    assert.equal(list!.body.filter, verified.filter);
    assert.equal(verified.filter, `resource.type="cloud_run_job" AND resource.labels.job_name="dev-content-worker" AND resource.labels.location="us-central1" AND timestamp>="${deployed.startedAt}" AND "sqlalchemy"`);
  });

  test('not cured: the execution fails, verify_logs fails with the entries, rollback restores the old image', async () => {
    const { f, ctx } = await fixture();
    jobPrints = 'mapper-error';
    run.executionOutcome = 'failed';
    const sha = await commitNoCure(f);
    const pushed = await call(pushAction, { sha }, ctx('push', 'g2'));
    const built = await call(buildAction, { sha: pushed.sha }, ctx('build', 'g2'));
    const deployed = await call(jobAction, { build: built }, ctx('deploy', 'g2'));
    assert.equal(deployed.status, 'failed');
    assert.deepEqual(deployed.taskCounts, { succeeded: 0, failed: 1, cancelled: 0 });
    await assert.rejects(call(verifyAction, { deployment: deployed, settle: '0s', scope: 'execution' }, ctx('verify', 'g2')), (e: unknown) => {
      assert.ok(e instanceof PermanentError && e.code === 'logs_matched', String(e));
      const d = e.details as any;
      assert.match(d.filter, /labels\."run\.googleapis\.com\/execution_name"="dev-content-worker-[0-9a-f]{5}"/);
      assert.equal(d.count, 1);
      assert.match(d.entries[0].text, /failed to locate a name \('FeatureFlag'\)/);
      assert.equal(d.entries[0].severity, 'ERROR');
      assert.equal(d.entries[0].execution, deployed.executionName.split('/').pop());
      return true;
    });
    const back = await call(rollbackAction, { previousImage: deployed.previousImage }, ctx('rollback', 'g2'));
    assert.equal(back.image, OLD);
    assert.equal(run.jobs.get(JOB)!.template.template.containers[0].image, OLD);
  });
});
