// The seed incident end to end on the local platform, through the engine (real Redis, BullMQ worker in process),
// runbooks/sqlalchemy-mapper-failure.yaml (with the deploy steps after push), real git and real SQLAlchemy:
// alert → identify → fix → commit → push (to a local bare remote) → build → deploy (the job runs) → verify.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { simpleGit } from 'simple-git';
import { runDemo, type DemoResult } from '../../src/demo/demo.js';
import { REDIS_URL } from '../helpers/redis.js';

function stepOrder(r: DemoResult): string[] {
  return r.events.filter((e) => e.kind === 'started').map((e) => e.step);
}

describe('seed incident end to end (local platform)', () => {
  test('the fix cures the job: the run ends succeeded after build, deploy and a clean log check', async () => {
    const lines: string[] = [];
    const r = await runDemo({ redisUrl: REDIS_URL, print: (l) => lines.push(l), keep: true });
    try {
      assert.equal(r.run.status, 'succeeded', r.run.outcome);
      const order = stepOrder(r);
      assert.deepEqual(order.slice(-4), ['push', 'build', 'deploy', 'verify']);
      assert.ok(order.indexOf('identify') === 0 && order.includes('commit') && order.includes('preflight'));
      const s = r.run.steps as Record<string, any>;
      const sha = s.push.output.sha;
      assert.equal(s.commit.output.sha, sha);
      assert.equal((await simpleGit(r.remote).raw(['rev-parse', 'refs/heads/main'])).trim(), sha, 'the fix is on the remote');
      assert.equal(s.build.output.commit, sha, 'built exactly the pushed commit');
      assert.equal(s.deploy.output.image, sha);
      assert.equal(s.deploy.output.status, 'succeeded');
      assert.deepEqual(s.deploy.output.taskCounts, { succeeded: 1, failed: 0, cancelled: 0 });
      assert.ok(s.deploy.output.previousImage && s.deploy.output.previousImage !== sha, 'the broken head it replaced');
      assert.equal(s.verify.output.count, 0);
      assert.match(s.verify.output.filter, /timestamp>="[^"]+" AND "sqlalchemy"$/);
      // printed as it happened, one line per event
      for (const step of ['identify', 'push', 'build', 'deploy', 'verify']) assert.ok(lines.some((l) => new RegExp(`✓ ${step}\\s+succeeded`).test(l)), `a line for ${step}`);
    } finally {
      const { rmSync } = await import('node:fs');
      rmSync(r.root, { recursive: true, force: true });
    }
  });

  test('the fix does not cure the job: the run ends failed at verify with the log lines recorded', async () => {
    const r = await runDemo({ redisUrl: REDIS_URL, variant: 'second-broken-model', print: () => {} });
    assert.equal(r.run.status, 'failed');
    const s = r.run.steps as Record<string, any>;
    assert.equal(s.preflight.output.passed, true, 'the models check passed: only the job shows the problem');
    assert.equal(s.deploy.output.status, 'failed');
    assert.equal(s.verify.status, 'failed');
    assert.equal(s.verify.error.code, 'logs_matched');
    const entries = s.verify.error.details.entries as Array<{ text: string; severity: string; execution: string }>;
    assert.ok(entries.length > 0);
    assert.ok(entries.every((e) => e.execution === s.deploy.output.executionName));
    assert.ok(entries.some((e) => e.severity === 'ERROR' && /expression 'Auditor' failed to locate a name \('Auditor'\)/.test(e.text)), 'real SQLAlchemy error text recorded');
    assert.match(r.run.outcome ?? '', /still show SQLAlchemy errors/);
    assert.ok(!stepOrder(r).includes('done'));
  });

  test('rollbackOnFailure: a fix that does not cure puts the job back on its previous image, and the outcome says so', async () => {
    const r = await runDemo({ redisUrl: REDIS_URL, variant: 'second-broken-model', print: () => {}, keep: true, inputs: { rollbackOnFailure: true } });
    try {
      assert.equal(r.run.status, 'failed');
      const s = r.run.steps as Record<string, any>;
      assert.equal(s.verify.status, 'failed');
      assert.equal(s.rollback.status, 'succeeded');
      const previous = s.deploy.output.previousImage as string;
      assert.match(previous, /^[0-9a-f]{40}$/);
      assert.notEqual(previous, s.push.output.sha);
      assert.equal(s.rollback.output.image, previous);
      const { readFileSync } = await import('node:fs');
      const state = JSON.parse(readFileSync(`${r.platformDir}/content-worker/state.json`, 'utf8'));
      assert.equal(state.image, previous, 'the job runs the image it ran before the deploy');
      assert.match(r.run.outcome ?? '', /Rolled the job back to [0-9a-f]{40}/);
      assert.equal((await simpleGit(r.remote).raw(['rev-parse', 'refs/heads/main'])).trim(), s.push.output.sha, 'the fix commit stays pushed');
    } finally {
      const { rmSync } = await import('node:fs');
      rmSync(r.root, { recursive: true, force: true });
    }
  });

  test('without rollbackOnFailure the outcome says the job still runs the fix', async () => {
    const r = await runDemo({ redisUrl: REDIS_URL, variant: 'second-broken-model', print: () => {} });
    assert.equal(r.run.status, 'failed');
    assert.equal((r.run.steps as Record<string, any>).rollback, undefined);
    assert.match(r.run.outcome ?? '', /Not rolled back: the job runs the fix/);
  });

  test('a dry run plans push, build and deploy (nothing pushed, nothing run) and the graph still reaches the end', async () => {
    const r = await runDemo({ redisUrl: REDIS_URL, dryRun: true, print: () => {}, keep: true });
    try {
      assert.equal(r.run.status, 'succeeded', r.run.outcome);
      const s = r.run.steps as Record<string, any>;
      assert.match(r.run.outcome ?? '', /^DRY RUN, nothing written: fix [ABC] would be pushed to main/, 'the outcome never claims a push it did not make');
      assert.equal(s.build.output.buildId, 'dry-run');
      assert.equal(s.deploy.output.executionName, 'dry-run');
      assert.equal(s.verify.output.count, 0);
      assert.equal(s.verify.output.dryRun, true, 'verify plans too: no execution ran, so none is said to have succeeded');
      assert.equal(s.verify.output.queries, 0);
      assert.equal(s.verify.output.executionStatus, undefined);
      assert.match(s.verify.output.plan, /nothing was deployed, so nothing was queried/);
      const main = (await simpleGit(r.remote).raw(['rev-parse', 'refs/heads/main'])).trim();
      assert.notEqual(main, s.commit.output.sha, 'nothing pushed');
      const { readdirSync } = await import('node:fs');
      assert.equal(readdirSync(`${r.platformDir}/content-worker/executions`).filter((f) => f.endsWith('.json')).length, 1, 'only the incident ran the job');
    } finally {
      const { rmSync } = await import('node:fs');
      rmSync(r.root, { recursive: true, force: true });
    }
  });
});
