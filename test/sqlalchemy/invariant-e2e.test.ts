// The invariant of the sqlalchemy-mapper-failure runbook, through the real Engine on Redis with real git repos and
// real SQLAlchemy (Debian 1.4; 2.x in a venv): no push without a reproduced, identified, explained cause.
//  - property: for any healthy generated models package (classic or typed, explicit imports or a pkgutil loader)
//    and any stale alert naming its classes, the runbook never commits;
//  - a failure the analysis cannot explain escalates with where SQLAlchemy failed and what the check printed;
//  - an alert whose names are all refused ends escalated, even on a healthy repo;
//  - fix B always goes through the approval gate (auto-approve approves it, and the approval is recorded).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import type { RunRecord } from '../../src/core/types.js';
import { alert as mkAlert } from '../helpers/engine.js';
import { alertText, changedPaths, git } from '../fixtures/sqlalchemy/generate.js';
import { healthyScenario, modelSpec, staleAlert, unexplainedScenarios } from '../fixtures/sqlalchemy/generated-models.js';
import { interpreters, isSkip, scenarios, service, type PythonEnv, type Scenario } from './helpers.js';
import { sqlaRunbookEngine } from './engine-setup.js';

const e2e = sqlaRunbookEngine('sqlainv');
const rb = e2e.rb;
const h = {
  get engine() {
    return e2e.engine;
  },
};

async function run(s: Scenario, py: PythonEnv, text: string | null, opts: { autoApprove?: boolean; inputs?: Record<string, unknown> } = {}) {
  const svc = service(s, py);
  svc.target.name = `${svc.target.name}-${Math.random().toString(36).slice(2, 6)}`;
  const res = await h.engine.submit({ runbookId: rb.id, alert: mkAlert(text ?? alertText(svc)), target: svc.target, inputs: opts.inputs ?? {}, autoApprove: opts.autoApprove ?? true });
  assert.equal(res.result, 'created');
  return { svc, runId: (res as { run: RunRecord }).run.id };
}

const out = (r: RunRecord, step: string): any => r.steps[step]?.output as any;

function assertNothingPushed(svc: { remote: string; head: string; userCopy: string }, r: RunRecord) {
  assert.equal(git(svc.remote, ['rev-parse', 'main']), svc.head, 'nothing pushed to main');
  assert.deepEqual(git(svc.remote, ['for-each-ref', '--format=%(refname)', 'refs/heads']).split('\n'), ['refs/heads/main'], 'no branch pushed at all');
  assert.equal(r.steps.commit, undefined, 'nothing committed');
  assert.deepEqual(changedPaths(svc.userCopy), ['README.md']);
}

const { sa14, sa2 } = interpreters();

for (const [label, py, typed, runs] of [['1.4', sa14, false, 4], ['2.x', sa2, true, 3]] as const) {
  describe(`the invariant, SQLAlchemy ${label}`, () => {
    const skip = isSkip(py) ? py.skip : false;

    test(`property: for any healthy generated models package the runbook never commits (${runs} cases)`, { skip, timeout: 600_000 }, async () => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(modelSpec(typed), fc.nat(), fc.boolean(), async (spec, pick, wording2x) => {
          const s = healthyScenario(spec, n++);
          const { svc, runId } = await run(s, py as PythonEnv, staleAlert(spec, pick, wording2x ? '2.x' : '1.4'));
          const r = await h.engine.waitForEnd(runId, 170_000);
          assert.equal(r.status, 'succeeded', `${s.description}: ${r.outcome}`);
          assert.match(r.outcome ?? '', /Nothing to fix/);
          assert.equal(out(r, 'confirm').healthy, true);
          assert.equal(out(r, 'confirm').failure, null);
          // the probe lists every generated class as mapped (the pkgutil loader's too)
          assert.deepEqual(out(r, 'confirm').mapped.classes, [...spec.classes].sort());
          assert.equal(r.steps.plan, undefined);
          assertNothingPushed(svc, r);
        }),
        { numRuns: runs, seed: Number(process.env.RW_PROPERTY_SEED ?? Date.now() % 100_000), endOnFailure: true },
      );
    });

    for (const s of unexplainedScenarios()) {
      test(`unexplained: ${s.description} → escalated with the localisation, nothing pushed`, { skip, timeout: 180_000 }, async () => {
        const { svc, runId } = await run(s, py as PythonEnv, null);
        const r = await h.engine.waitForEnd(runId, 170_000);
        assert.equal(r.status, 'escalated', r.outcome);
        assert.equal(out(r, 'identify').route, 'proceed', 'the alert is about the models: the repo decides');
        const cf = out(r, 'confirm');
        assert.equal(cf.healthy, false);
        assert.notEqual(r.steps.plan?.output, undefined);
        assert.equal(out(r, 'plan').fix, null, 'nothing found that explains it: no fix offered');
        assert.equal(r.steps.apply, undefined);
        assert.match(r.outcome ?? '', /The check printed: /);
        assert.match(r.outcome ?? '', /Inspected \d+ module\(s\)/);
        assert.match(r.outcome ?? '', /Nothing pushed to main/);
        assert.doesNotMatch(r.outcome ?? '', /unreadable|carries no SQLAlchemy/);
        if (s.name === 'delete_orphan_many_to_one') {
          assert.equal(cf.configureError, true);
          assert.equal(cf.failure.property, 'User.organization');
          assert.equal(cf.failure.exceptionClass, 'ArgumentError');
          assert.equal(cf.failure.file, 'backend/app/models/user.py');
          assert.match(r.outcome ?? '', /User\.organization \(backend\/app\/models\/user\.py:14\): ArgumentError: For many-to-one relationship User\.organization, delete-orphan/);
        } else {
          assert.equal(cf.failure.phase, 'import');
          assert.equal(cf.failure.exceptionClass, 'KeyError');
          assert.equal(cf.failure.file, 'backend/app/models/user.py');
          assert.equal(cf.failure.line, 7);
          assert.match(r.outcome ?? '', /KeyError: 'CONTENT_WORKER_REGION'/);
        }
        assertNothingPushed(svc, r);
      });
    }
  });
}

describe('alerts whose names are all refused, and fix B', () => {
  const py = sa14;
  const skip = isSkip(py) ? py.skip : false;
  const hostile = (sentinel: string) =>
    `sqlalchemy.exc.InvalidRequestError: One or more mappers failed to initialize - can't proceed with initialization of other mappers. Triggering mapper: 'Mapper[../../../etc/passwd(x)]'. Original exception was: When initializing mapper Mapper[$(touch ${sentinel})(t)], expression '\`touch ${sentinel}\`' failed to locate a name ('../../../../etc/shadow; rm -rf ~').`;

  for (const name of ['healthy', 'missing_class']) {
    test(`every name refused, ${name} repo: escalated saying so, never succeeded, nothing pushed`, { skip, timeout: 180_000 }, async () => {
      const sentinel = path.join(os.tmpdir(), `rw-refused-${Math.random().toString(36).slice(2)}`);
      const s = scenarios().find((x) => x.name === name)!;
      const { svc, runId } = await run(s, py as PythonEnv, hostile(sentinel));
      const r = await h.engine.waitForEnd(runId, 170_000);
      assert.equal(r.status, 'escalated', r.outcome);
      assert.equal(out(r, 'identify').route, 'refused');
      assert.match(r.outcome ?? '', /names were all refused as unsafe/);
      assert.equal(out(r, 'confirm').healthy, name === 'healthy', 'the repo was still looked at');
      assert.equal(r.steps.inspect, undefined);
      assertNothingPushed(svc, r);
      assert.equal(existsSync(sentinel), false, 'no alert text reached a shell');
    });
  }

  test('fix B asked for by policy: the approval gate is reached (auto-approve records it), B lands', { skip, timeout: 180_000 }, async () => {
    const s = scenarios().find((x) => x.name === 'referenced_model_b')!;
    const { svc, runId } = await run(s, py as PythonEnv, null, { inputs: { fixPolicy: 'B', requireApproval: false } });
    const r = await h.engine.waitForEnd(runId, 170_000);
    assert.equal(r.status, 'succeeded', r.outcome);
    assert.equal(out(r, 'apply').fix, 'B');
    assert.equal(out(r, 'preflight').needsApproval, true);
    assert.match(out(r, 'preflight').approvalReason, /fix B disables a model/);
    assert.ok(out(r, 'preflight').lost.includes('Organization'));
    assert.equal(r.approval?.decision, 'approved');
    assert.equal(r.approval?.actor, 'auto-approve');
    assert.equal(out(r, 'prepare_branch').branch, `runwright/${r.id}`);
    assert.notEqual(git(svc.remote, ['rev-parse', 'main']), svc.head);
  });

  test('fix B without auto-approve waits for a person, with main untouched', { skip, timeout: 180_000 }, async () => {
    const s = scenarios().find((x) => x.name === 'backpop_missing')!;
    const { svc, runId } = await run(s, py as PythonEnv, null, { inputs: { fixPolicy: 'B' }, autoApprove: false });
    const waiting = await h.engine.waitFor(runId, (x) => x.status === 'waiting_approval' || !['running', 'queued'].includes(x.status), 150_000);
    assert.equal(waiting.status, 'waiting_approval', waiting.outcome);
    assert.equal(out(waiting, 'apply').fix, 'B');
    assert.equal(out(waiting, 'plan').needsPerson, true);
    assert.match(out(waiting, 'preflight').approvalReason, /fix B disables a model/);
    assert.equal(git(svc.remote, ['rev-parse', 'main']), svc.head);
    await h.engine.decide(runId, { decision: 'rejected', actor: 'dana' });
    const r = await h.engine.waitForEnd(runId, 60_000);
    assert.equal(r.status, 'escalated');
    assert.match(r.outcome ?? '', /Rejected by dana/);
    assert.equal(git(svc.remote, ['rev-parse', 'main']), svc.head);
  });
});
