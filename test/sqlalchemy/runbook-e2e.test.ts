// The whole sqlalchemy-mapper-failure runbook through the Engine on real Redis, per scenario: real git (a bare
// remote, fresh clones and worktrees), real SQLAlchemy (Debian 1.4; 2.x in a venv). Afterwards the check passes
// at the remote's new HEAD, the commit touches exactly what it must, and nobody's working copy changed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunRecord } from '../../src/core/types.js';
import { matchesAlert } from '../../src/core/runbook.js';
import { alert as mkAlert } from '../helpers/engine.js';
import { alertText, changedPaths, git, runCheck, runWorker } from '../fixtures/sqlalchemy/generate.js';
import { isSkip, pythonFor, scenarios, service, type PythonEnv, type Scenario, type Service } from './helpers.js';
import { sqlaRunbookEngine } from './engine-setup.js';

const e2e = sqlaRunbookEngine('sqlae2e');
const rb = e2e.rb;
const h = {
  get engine() {
    return e2e.engine;
  },
};

interface Started {
  svc: Service;
  runId: string;
  userReadme: string;
  sentinel: string;
}

async function start(s: Scenario, py: PythonEnv, opts: { autoApprove?: boolean; dryRun?: boolean; inputs?: Record<string, unknown> } = {}): Promise<Started> {
  const svc = service(s, py);
  svc.target.name = `${svc.target.name}-${py.label.replace(/[^a-z0-9]/gi, '')}-${Math.random().toString(36).slice(2, 6)}`;
  const sentinel = path.join(os.tmpdir(), `rw-hostile-${Math.random().toString(36).slice(2)}`);
  const text = alertText(svc, { sentinel });
  const a = mkAlert(text);
  if (s.alert !== 'garbage') assert.equal(await matchesAlert(rb, a), true, `the runbook matches the alert of ${s.name}`);
  else assert.equal(await matchesAlert(rb, a), false);
  const res = await h.engine.submit({ runbookId: rb.id, alert: a, target: svc.target, inputs: { ...(s.inputs ?? {}), ...(opts.inputs ?? {}) }, autoApprove: opts.autoApprove ?? true, dryRun: opts.dryRun });
  assert.equal(res.result, 'created');
  return { svc, runId: (res as { run: RunRecord }).run.id, userReadme: readFileSync(path.join(svc.userCopy, 'README.md'), 'utf8'), sentinel };
}

function out(run: RunRecord, step: string): any {
  return run.steps[step]?.output as any;
}

function assertUntouched(st: Started) {
  assert.equal(readFileSync(path.join(st.svc.userCopy, 'README.md'), 'utf8'), st.userReadme, "the user's working copy is as it was");
  assert.deepEqual(changedPaths(st.svc.userCopy), ['README.md']);
  assert.equal(git(st.svc.userCopy, ['rev-parse', 'HEAD']), st.svc.head);
  assert.equal(existsSync(st.sentinel), false, 'no alert text ever reached a shell');
}

/** What every scenario must show after its run. */
function verify(s: Scenario, py: PythonEnv, st: Started, run: RunRecord) {
  const svc = st.svc;
  assert.equal(run.status, s.expect.status, `${s.name}: ${run.outcome}`);
  assertUntouched(st);
  const newHead = git(svc.remote, ['rev-parse', 'main']);
  if (s.expect.status !== 'succeeded' || !s.expect.broken) {
    assert.equal(newHead, svc.head, 'nothing pushed');
    if (!s.expect.broken) {
      assert.match(run.outcome ?? '', /Nothing to fix/);
      assert.equal(out(run, 'confirm').healthy, true);
      assert.equal(run.steps.apply, undefined);
    } else {
      assert.equal(run.steps.checkout, undefined, 'an unreadable alert stops before cloning');
      assert.match(run.outcome ?? '', /no SQLAlchemy mapper error/);
    }
    return;
  }
  // One new commit on top of the old head, touching exactly the fix's files, seed message shape.
  assert.notEqual(newHead, svc.head);
  assert.equal(git(svc.remote, ['rev-parse', `${newHead}^`]), svc.head, 'exactly one commit, a fast-forward');
  const files = git(svc.remote, ['diff', '--name-only', '--no-renames', svc.head, newHead]).split('\n').sort();
  assert.deepEqual(files, [...s.expect.touched!].sort());
  const msg = git(svc.remote, ['log', '-1', '--format=%B', newHead]).split('\n');
  assert.match(msg[0]!, /^Fix SQLAlchemy: /);
  assert.equal(msg[1], '');
  assert.ok(msg.some((l) => l.startsWith('Fixes: SQLAlchemy mapper error blocking all DB queries')));
  assert.ok(msg.some((l) => l.startsWith('Runwright-Key: ')));
  // The check and the job pass at the new HEAD, in a fresh clone.
  const fresh = path.join(svc.root, `verify-${Math.random().toString(36).slice(2, 6)}`);
  git(svc.root, ['clone', '-q', svc.remote, fresh]);
  assert.equal(runCheck(fresh, py.python).code, 0);
  assert.equal(runWorker(fresh, py.python).code, 0);
  // Every step recorded what it found.
  assert.equal(out(run, 'identify').readable, true);
  assert.equal(out(run, 'confirm').healthy, false);
  assert.equal(out(run, 'inspect').mapper.class, s.expect.mapper);
  assert.ok(out(run, 'inspect').relationships.length > 0);
  assert.ok(out(run, 'inspect').relationships.every((r: any) => ['ok', 'broken', 'not_loaded'].includes(r.verdict)));
  assert.deepEqual(out(run, 'inspect').problemKinds, s.expect.problems);
  assert.equal(out(run, 'plan').fix, s.expect.fix);
  assert.equal(out(run, 'plan').needsPerson, s.expect.needsPerson);
  assert.equal(out(run, 'apply').fix, s.expect.committed);
  assert.equal(out(run, 'commit').clean, true, 'the worktree is clean after the commit');
  assert.match(out(run, 'commit').diff, /^diff --git/m);
  assert.equal(out(run, 'preflight').passed, true);
  assert.equal(out(run, 'push').sha, newHead);
  // then the seed's deployment steps: built from exactly that commit, the job ran, and its logs are clean
  assert.equal(out(run, 'build').commit, newHead);
  assert.equal(out(run, 'deploy').status, 'succeeded');
  assert.equal(out(run, 'verify').ok, true);
  assert.equal(out(run, 'verify').count, 0);
  assert.match(run.outcome ?? '', /no SQLAlchemy errors in the job's logs/);
  if (s.expect.needsPerson) {
    assert.equal(out(run, 'prepare_branch').branch, `runwright/${run.id}`, 'the prepared fix went to a review branch first');
    assert.equal(git(svc.remote, ['rev-parse', out(run, 'prepare_branch').branch]), newHead);
    assert.equal(run.approval?.decision, 'approved');
    assert.equal(run.approval?.actor, 'auto-approve');
    assert.equal(run.approval?.choice, s.expect.committed);
  } else {
    assert.equal(run.approval, undefined, 'no person needed, no approval asked');
    assert.equal(run.steps.prepare_branch, undefined);
  }
  if (s.expect.fix !== s.expect.committed) assert.equal(run.steps.apply!.visit, 2, 'the first fix failed pre-flight; the next one passed');
}

for (const line of ['1.4', '2.x'] as const) {
  // Runs of different targets go in parallel (the engine's worker takes 4 steps at once), as in production.
  describe(`runbook end to end, SQLAlchemy ${line}`, { concurrency: 3 }, () => {
    // 2.x: every scenario would double the time; by default the ones whose behaviour differs by version or
    // style (the tool tests run every scenario on 2.x). RW_SQLA_E2E_ALL=1 runs them all on 2.x too.
    const all = line === '1.4' || process.env.RW_SQLA_E2E_ALL === '1';
    const pick = all ? scenarios() : scenarios().filter((s) => ['typed_missing_class', 'backpop_missing', 'fk_table_string', 'hidden_problem_a_to_b', 'not_imported'].includes(s.name));
    for (const s of pick) {
      const py = pythonFor(s, line);
      test(`${s.name}: ${s.description}`, { skip: isSkip(py) ? py.skip : false, timeout: 180_000 }, async () => {
        const st = await start(s, py as PythonEnv);
        const run = await h.engine.waitForEnd(st.runId, 170_000);
        verify(s, py as PythonEnv, st, run);
      });
    }
  });
}

describe('approvals, dry runs and a hostile target', () => {
  const py = pythonFor(scenarios()[0]!, '1.4');
  const skip = isSkip(py) ? py.skip : false;
  const missing = () => scenarios().find((s) => s.name === 'missing_class')!;

  test('a missing model waits for a person, who chooses B instead of the prepared A', { skip, timeout: 180_000 }, async () => {
    const st = await start(missing(), py as PythonEnv, { autoApprove: false });
    const waiting = await h.engine.waitFor(st.runId, (r) => r.status === 'waiting_approval' || r.status !== 'running' && r.status !== 'queued', 120_000);
    assert.equal(waiting.status, 'waiting_approval');
    assert.equal(out(waiting, 'apply').fix, 'A');
    assert.equal(out(waiting, 'preflight').passed, true);
    assert.equal(git(st.svc.remote, ['rev-parse', 'main']), st.svc.head, 'prepared, not pushed to main');
    const review = out(waiting, 'prepare_branch');
    assert.equal(review.branch, `runwright/${st.runId}`);
    assert.equal(git(st.svc.remote, ['rev-parse', review.branch]), out(waiting, 'commit').sha, 'the prepared fix is on its review branch');
    assert.equal(git(st.svc.remote, ['rev-parse', `${review.branch}^`]), st.svc.head);
    await h.engine.decide(st.runId, { decision: 'approved', actor: 'alice', choice: 'B', comment: 'disable it until FeatureFlag exists' });
    const run = await h.engine.waitForEnd(st.runId, 120_000);
    assert.equal(run.status, 'succeeded', run.outcome);
    assert.equal(out(run, 'apply').fix, 'B');
    const newHead = git(st.svc.remote, ['rev-parse', 'main']);
    const files = git(st.svc.remote, ['diff', '--name-only', '--no-renames', st.svc.head, newHead]).split('\n');
    assert.ok(files.includes('backend/app/models/organization.py.disabled'));
    const fresh = path.join(st.svc.root, 'after-b');
    git(st.svc.root, ['clone', '-q', st.svc.remote, fresh]);
    assert.equal(runCheck(fresh, (py as PythonEnv).python).code, 0);
    assertUntouched(st);
  });

  test('an approver choosing C where no mechanical repair exists escalates with why, nothing pushed', { skip, timeout: 180_000 }, async () => {
    const st = await start(missing(), py as PythonEnv, { autoApprove: false });
    await h.engine.waitFor(st.runId, (r) => r.status === 'waiting_approval', 120_000);
    await h.engine.decide(st.runId, { decision: 'approved', actor: 'carol', choice: 'C' });
    const run = await h.engine.waitForEnd(st.runId, 60_000);
    assert.equal(run.status, 'escalated');
    assert.match(run.outcome ?? '', /Fix could not be applied: .*no mechanical repair/);
    assert.equal(git(st.svc.remote, ['rev-parse', 'main']), st.svc.head);
    assertUntouched(st);
  });

  test('a rejected fix escalates and pushes nothing', { skip, timeout: 180_000 }, async () => {
    const st = await start(missing(), py as PythonEnv, { autoApprove: false });
    await h.engine.waitFor(st.runId, (r) => r.status === 'waiting_approval', 120_000);
    await h.engine.decide(st.runId, { decision: 'rejected', actor: 'bob', comment: 'I will write FeatureFlag today' });
    const run = await h.engine.waitForEnd(st.runId, 60_000);
    assert.equal(run.status, 'escalated');
    assert.match(run.outcome ?? '', /Rejected by bob/);
    assert.equal(git(st.svc.remote, ['rev-parse', 'main']), st.svc.head);
    assertUntouched(st);
  });

  test('a dry run goes all the way (real pre-flight) and pushes nothing', { skip, timeout: 180_000 }, async () => {
    const s = scenarios().find((x) => x.name === 'backpop_missing')!;
    const st = await start(s, py as PythonEnv, { dryRun: true });
    const run = await h.engine.waitForEnd(st.runId, 120_000);
    assert.equal(run.status, 'succeeded', run.outcome);
    assert.equal(out(run, 'preflight').passed, true);
    assert.equal(out(run, 'push').dryRun, true);
    assert.match(out(run, 'push').plan, /fast-forward only/);
    assert.equal(out(run, 'build').dryRun, true);
    assert.equal(out(run, 'deploy').dryRun, true);
    assert.equal(git(st.svc.remote, ['rev-parse', 'main']), st.svc.head);
  });

  test('a models folder that leaves the repo (../ or a symlink) fails safely: escalated, nothing written or pushed', { skip, timeout: 180_000 }, async () => {
    for (const modelsDir of ['../../../../etc', 'backend/app/models/vendor']) {
      const s = scenarios().find((x) => x.name === 'symlink_escape')!;
      const svc = service(s, py as PythonEnv);
      svc.target.name = `svc-hostile-models-${Math.random().toString(36).slice(2, 8)}`;
      svc.target.modelsDir = modelsDir;
      const outsideBefore = readFileSync(path.join(svc.outsideDir, 'feature_flag.py'), 'utf8');
      const res = await h.engine.submit({ runbookId: rb.id, alert: mkAlert(alertText(svc)), target: svc.target, autoApprove: true });
      const run = await h.engine.waitForEnd((res as { run: RunRecord }).run.id, 120_000);
      assert.equal(run.status, 'escalated', run.outcome);
      assert.equal(run.steps.confirm?.status, 'failed');
      assert.equal(run.steps.confirm?.error?.code, 'unsafe_path', 'refused by resolveInside before any target code or Python tool runs');
      assert.equal(run.steps.inspect, undefined);
      assert.equal(run.steps.commit, undefined);
      assert.equal(git(svc.remote, ['rev-parse', 'main']), svc.head);
      assert.equal(readFileSync(path.join(svc.outsideDir, 'feature_flag.py'), 'utf8'), outsideBefore);
    }
  });
});
