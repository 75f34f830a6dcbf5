// The deploy.* actions on the local platform, for real: a git repository with a bare remote, the seed's broken
// Organization model, real SQLAlchemy (Debian's 1.4 under /usr/bin/python3) running the job. Each action is called
// directly with a real ActionContext.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { simpleGit } from 'simple-git';
import pushAction from '../../src/actions/deploy/push.js';
import buildAction from '../../src/actions/deploy/build.js';
import jobAction from '../../src/actions/deploy/job.js';
import verifyAction from '../../src/actions/deploy/verify-logs.js';
import rollbackAction from '../../src/actions/deploy/rollback.js';
import type { Action, ActionContext } from '../../src/core/action.js';
import { PermanentError } from '../../src/core/errors.js';
import { LocalBuild } from '../../src/adapters/local/build.js';
import { LocalDeploy } from '../../src/adapters/local/deploy.js';
import { LocalLogs } from '../../src/adapters/local/logs.js';
import { LocalPlatform, lineToEntry } from '../../src/adapters/local/platform.js';
import { LocalProcess } from '../../src/adapters/local/process.js';
import { LocalGit } from '../../src/adapters/local/git.js';
import { actionContext } from '../helpers/action-ctx.js';
import { commitFixA, commitNoCure, serviceFixture, type ServiceFixture } from './helpers.js';

const run = promisify(execFile);
const platformDir = mkdtempSync(path.join(os.tmpdir(), 'rw-platform-'));
const fixtures: ServiceFixture[] = [];
after(() => {
  for (const f of fixtures) f.cleanup();
  rmSync(platformDir, { recursive: true, force: true });
});

async function fixture(): Promise<ServiceFixture> {
  const f = await serviceFixture();
  fixtures.push(f);
  return f;
}

function ctxFor(f: ServiceFixture, step: string, runId: string, extra: Partial<Parameters<typeof actionContext>[0]> = {}): ActionContext {
  const proc = new LocalProcess();
  const git = new LocalGit();
  return actionContext({
    target: f.target,
    workdir: f.workdir,
    runId,
    stepId: step,
    ports: { git, proc, build: new LocalBuild(git, proc), deploy: new LocalDeploy(proc, platformDir), logs: new LocalLogs(platformDir) },
    ...extra,
  });
}

/** Validate params as the engine does, then run. */
async function call<P>(a: Action<P, any>, params: unknown, ctx: ActionContext): Promise<any> {
  const parsed = a.params.safeParse(params);
  if (!parsed.success) throw new Error(`bad params for ${a.name}: ${JSON.stringify(parsed.error.issues)}`);
  return await a.run(parsed.data, ctx);
}

async function remoteRef(f: ServiceFixture, branch: string): Promise<string> {
  return (await simpleGit(f.remote).raw(['rev-parse', `refs/heads/${branch}`])).trim();
}

/** push → build → job, as a runbook would chain them. */
async function deployCommit(f: ServiceFixture, runId: string, sha: string) {
  const pushed = await call(pushAction, { sha }, ctxFor(f, 'push', runId));
  const built = await call(buildAction, { sha: pushed.sha }, ctxFor(f, 'build', runId));
  // deploy.job finds the build's worktree by its checkout name, not by the path the build step saw
  const { artifactDir: _path, ...named } = built;
  const deployed = await call(jobAction, { build: named }, ctxFor(f, 'deploy', runId));
  return { pushed, built, deployed };
}

describe('deploy actions on the local platform', () => {
  test('the fix cures the job: push → build → job (real SQLAlchemy) → verify_logs succeeds', async () => {
    const f = await fixture();
    const mainBefore = await remoteRef(f, 'main');
    const sha = await commitFixA(f);
    const { pushed, built, deployed } = await deployCommit(f, 'run-cure', sha);

    assert.deepEqual(pushed, { remote: f.remote, branch: 'runwright/run-cure', sha, pushed: true, toTargetBranch: false });
    assert.equal(await remoteRef(f, 'runwright/run-cure'), sha);
    assert.equal(await remoteRef(f, 'main'), mainBefore, 'the target branch is untouched');

    assert.equal(built.commit, sha);
    assert.equal((await simpleGit(built.artifactDir).revparse(['HEAD'])).trim(), sha);
    assert.ok(built.artifactDir.startsWith(f.workdir), 'the worktree lives in the run workdir');
    assert.equal(path.join(f.workdir, built.checkout), built.artifactDir, 'and is named by its checkout');
    assert.equal(built.buildId, `local-${sha.slice(0, 12)}`);

    assert.equal(deployed.status, 'succeeded', JSON.stringify(deployed));
    assert.deepEqual(deployed.taskCounts, { succeeded: 1, failed: 0, cancelled: 0 });
    assert.equal(deployed.details.exitCode, 0);
    assert.equal(deployed.image, sha);
    const lines = readFileSync(deployed.details.logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => [l.severity, l.text]), [['INFO', 'content-worker: starting'], ['INFO', 'content-worker: processed 1 user(s)']]);

    const verified = await call(verifyAction, { deployment: deployed, text: ['sqlalchemy'] }, ctxFor(f, 'verify', 'run-cure'));
    assert.equal(verified.ok, true);
    assert.equal(verified.count, 0);
    assert.equal(verified.filter, `resource.type="runwright_local_job" AND resource.labels.job_name="content-worker" AND timestamp>="${deployed.startedAt}" AND "sqlalchemy"`);
  });

  test('a commit that does not cure: the job fails and verify_logs fails with the SQLAlchemy lines attached', async () => {
    const f = await fixture();
    const sha = await commitNoCure(f);
    const { deployed } = await deployCommit(f, 'run-nocure', sha);
    assert.equal(deployed.status, 'failed');
    assert.deepEqual(deployed.taskCounts, { succeeded: 0, failed: 1, cancelled: 0 });
    assert.equal(deployed.details.exitCode, 1);

    await assert.rejects(call(verifyAction, { deployment: deployed }, ctxFor(f, 'verify', 'run-nocure')), (e: unknown) => {
      assert.ok(e instanceof PermanentError);
      assert.equal(e.code, 'logs_matched');
      const d = e.details as any;
      assert.equal(d.executionStatus, 'failed');
      assert.equal(d.count, d.entries.length);
      assert.ok(d.entries.length >= 2);
      assert.ok(d.entries.every((x: any) => /sqlalchemy/i.test(x.text) && x.execution === deployed.executionName));
      // the structured line the worker logs, and the traceback's last line on stderr, both from real SQLAlchemy
      assert.ok(d.entries.some((x: any) => x.severity === 'ERROR' && /content-worker failed: sqlalchemy\.exc\.InvalidRequestError: .*expression 'FeatureFlag' failed to locate a name \('FeatureFlag'\)/.test(x.text)));
      assert.ok(d.entries.some((x: any) => /^sqlalchemy\.exc\.InvalidRequestError: /.test(x.text)));
      return true;
    });
  });

  test("Mistake 2 is impossible: a fix left uncommitted in the clone is not what gets built or run", async () => {
    const f = await fixture();
    const head = (await simpleGit(f.clone).revparse(['HEAD'])).trim(); // the broken commit, already on the remote
    const org = path.join(f.clone, 'backend/app/models/organization.py');
    writeFileSync(org, readFileSync(org, 'utf8').replace('    feature_flags = relationship(\n        "FeatureFlag",\n        back_populates="organization",\n        cascade="all, delete-orphan",\n    )\n', ''));
    assert.equal((await f.git.status(f.clone)).clean, false);
    const built = await call(buildAction, { sha: head }, ctxFor(f, 'build', 'run-m2'));
    assert.equal((await f.git.status(built.artifactDir)).clean, true);
    assert.match(readFileSync(path.join(built.artifactDir, 'backend/app/models/organization.py'), 'utf8'), /"FeatureFlag"/);
    const deployed = await call(jobAction, { build: built }, ctxFor(f, 'deploy', 'run-m2'));
    assert.equal(deployed.status, 'failed', 'the committed (broken) code ran, not the working tree');
  });

  test('build refuses a commit that is not on the remote (and leaves no worktree of it); push refuses a dir outside the run workdir', async () => {
    const f = await fixture();
    const sha = await commitFixA(f);
    await assert.rejects(call(buildAction, { sha }, ctxFor(f, 'build', 'run-unpushed')), (e: unknown) => e instanceof PermanentError && e.code === 'commit_not_pushed');
    const wt = path.join(path.dirname(f.clone), 'builds', sha.slice(0, 12));
    assert.equal(existsSync(wt), false, 'the worktree checked out while the remote was asked is gone');
    assert.equal((await simpleGit(f.clone).raw(['worktree', 'list', '--porcelain'])).includes(`worktree ${wt}\n`), false, 'and not registered');
    await assert.rejects(call(pushAction, { dir: path.dirname(f.remote), sha }, ctxFor(f, 'push', 'run-unpushed')), (e: unknown) => e instanceof PermanentError && e.code === 'not_own_dir');
    await assert.rejects(call(pushAction, { dir: '../origin/seed', sha }, ctxFor(f, 'push', 'run-unpushed')), (e: unknown) => e instanceof PermanentError && e.code === 'not_own_dir');
  });

  test('push goes to the target branch only when asked and approved; never forced', async () => {
    const f = await fixture();
    const sha = await commitFixA(f);
    const noApproval = await call(pushAction, { sha, toTargetBranch: true }, ctxFor(f, 'push', 'run-tb'));
    assert.equal(noApproval.branch, 'runwright/run-tb');
    assert.equal(noApproval.toTargetBranch, false);
    assert.match(noApproval.note, /no approval/);
    const approval = { decision: 'approved' as const, actor: 'U123', at: new Date().toISOString() };
    const approved = await call(pushAction, { sha, toTargetBranch: true }, ctxFor(f, 'push', 'run-tb', { approval }));
    assert.deepEqual([approved.branch, approved.toTargetBranch, approved.pushed], ['main', true, true]);
    assert.equal(await remoteRef(f, 'main'), sha);
    // re-delivery: already there
    const again = await call(pushAction, { sha, toTargetBranch: true }, ctxFor(f, 'push', 'run-tb', { approval }));
    assert.equal(again.pushed, false);
    // someone else moves main meanwhile: our next commit is not a fast-forward and is refused, not forced
    const theirs = path.join(f.root, 'theirs');
    await simpleGit().clone(f.remote, theirs);
    writeFileSync(path.join(theirs, 'README.md'), 'their change\n');
    await simpleGit(theirs).addConfig('user.name', 'Other').addConfig('user.email', 'o@example.com').add(['README.md']).commit('their change').push('origin', 'main');
    const theirSha = await remoteRef(f, 'main');
    writeFileSync(path.join(f.clone, 'README.md'), 'mine\n');
    const mine = (await f.git.commit(f.clone, { paths: ['README.md'], message: 'mine', key: 'mine' })).sha;
    await assert.rejects(call(pushAction, { sha: mine, toTargetBranch: true }, ctxFor(f, 'push', 'run-tb2', { approval })), (e: unknown) => e instanceof PermanentError && e.code === 'git_push_rejected');
    assert.equal(await remoteRef(f, 'main'), theirSha);
  });

  test('verify_logs keeps looking through the settle window: a late matching line fails it, silence passes it', async () => {
    const f = await fixture();
    const sha = await commitFixA(f);
    const { deployed } = await deployCommit(f, 'run-settle', sha);
    // silence for the whole window: success after more than one look
    const quiet = await call(verifyAction, { deployment: { ...deployed, finishedAt: new Date().toISOString() }, settle: '600ms' }, ctxFor(f, 'verify', 'run-settle'));
    assert.equal(quiet.ok, true);
    assert.ok(quiet.queries >= 2, `looked ${quiet.queries} times`);
    // a line that arrives late (log ingestion lag) while verify waits
    const ctx = ctxFor(f, 'verify', 'run-settle2');
    ctx.progress = async () => {
      new LocalPlatform(platformDir, f.target).append(deployed.executionName, lineToEntry('stderr', 'sqlalchemy.exc.InvalidRequestError: late', deployed.executionName));
    };
    await assert.rejects(call(verifyAction, { deployment: { ...deployed, finishedAt: new Date().toISOString() }, settle: '3s' }, ctx), (e: unknown) => {
      assert.ok(e instanceof PermanentError && e.code === 'logs_matched');
      assert.deepEqual((e.details as any).entries.map((x: any) => x.text), ['sqlalchemy.exc.InvalidRequestError: late']);
      assert.equal((e.details as any).queries, 2);
      return true;
    });
  });

  test('a re-delivered job step returns the recorded execution without running the job again', async () => {
    const f = await fixture();
    const sha = await commitFixA(f);
    const { built, deployed } = await deployCommit(f, 'run-redeliver', sha);
    const before = readFileSync(deployed.details.logFile, 'utf8');
    const again = await call(jobAction, { build: built }, ctxFor(f, 'deploy', 'run-redeliver'));
    assert.deepEqual(again, deployed);
    assert.equal(readFileSync(deployed.details.logFile, 'utf8'), before, 'no second run');
  });

  test('another process verifies what this one deployed (shared platform dir)', async () => {
    const f = await fixture();
    const sha = await commitNoCure(f);
    const { deployed } = await deployCommit(f, 'run-xproc', sha);
    const script = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'query-local-logs.ts');
    const { stdout } = await run(process.execPath, ['--import', 'tsx', script, platformDir, JSON.stringify(f.target), deployed.startedAt, 'FeatureFlag'], { cwd: process.cwd() });
    const other = JSON.parse(stdout);
    assert.notEqual(other.pid, process.pid);
    const here = await new LocalLogs(platformDir).query(f.target, { since: deployed.startedAt, textFilter: ['FeatureFlag'] });
    assert.ok(here.entries.length > 0);
    assert.deepEqual(other.entries, here.entries);
    assert.equal(other.filter, here.filter);
  });

  test('rollback points the target back at the previous commit and runs nothing', async () => {
    const f = await fixture();
    const first = (await simpleGit(f.clone).revparse(['HEAD'])).trim();
    const one = await deployCommit(f, 'run-rb1', first);
    const sha = await commitFixA(f);
    const two = await deployCommit(f, 'run-rb2', sha);
    assert.equal(two.deployed.previousImage, first);
    assert.notEqual(one.deployed.executionName, two.deployed.executionName);
    const execsBefore = readdirSync(path.dirname(two.deployed.details.logFile)).length;
    const r = await call(rollbackAction, { previousImage: two.deployed.previousImage }, ctxFor(f, 'rollback', 'run-rb2'));
    assert.deepEqual(r, { image: first, target: 'content-worker', platform: 'local' });
    const state = JSON.parse(readFileSync(path.join(platformDir, 'content-worker', 'state.json'), 'utf8'));
    assert.equal(state.image, first);
    assert.equal(state.previousImage, sha);
    assert.equal(readdirSync(path.dirname(two.deployed.details.logFile)).length, execsBefore);
    assert.ok(existsSync(two.deployed.details.logFile));
  });
});
