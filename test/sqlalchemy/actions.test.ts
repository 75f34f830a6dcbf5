// The sqlalchemy.* and git.* actions called one by one with a real ActionContext: real git clones and
// worktrees, real SQLAlchemy checks, a bare repo as the remote. Re-runs with the same idempotency key are safe.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RunwrightError } from '../../src/core/errors.js';
import { SECOND_BROKEN_MODEL } from '../../src/demo/sample-service.js';
import { alertText, changedPaths, git, runCheck } from '../fixtures/sqlalchemy/generate.js';
import { cleanupServices, isSkip, pythonFor, scenarios, service, type PythonEnv, type Service } from './helpers.js';
import { all, runner } from './runner.js';

const MODELS = 'backend/app/models';

after(() => cleanupServices());

function remoteHead(svc: Service): string {
  return git(svc.remote, ['rev-parse', 'main']);
}

const py14 = pythonFor(scenarios()[0]!, '1.4');
const skip = isSkip(py14) ? py14.skip : false;
const scn = (name: string) => scenarios().find((s) => s.name === name)!;

describe('sqlalchemy + git actions, one by one', { skip }, () => {
  test('missing class: checkout → identify → confirm → inspect → plan → apply A → commit → preflight → push', async () => {
    const svc = service(scn('missing_class'), py14 as PythonEnv);
    const userBefore = readFileSync(path.join(svc.userCopy, 'README.md'), 'utf8');
    const r = runner(svc, alertText(svc));

    const co = await r.call('git.checkout', 'checkout', {});
    assert.equal(co.head, svc.head);
    assert.equal(co.checkout, 'repo', 'the clone is named, not located');
    const at = (checkout: string) => path.join(r.workdir, checkout);
    assert.deepEqual(await r.call('git.checkout', 'checkout', {}), co, 're-run reuses the clone');

    const id = await r.call('sqlalchemy.identify', 'identify', { text: alertText(svc) });
    assert.equal(id.readable, true);
    assert.equal(id.mapper.class, 'Organization');
    assert.equal(id.cause.name, 'FeatureFlag');

    const cf = await r.call('sqlalchemy.confirm', 'confirm', { head: co.head, alertMapper: id.mapper.class });
    assert.equal(cf.healthy, false);
    assert.equal(cf.mapper.class, 'Organization');
    assert.equal(cf.agreesWithAlert, true);
    assert.match(cf.check.output, /failed to locate a name/);
    assert.deepEqual(changedPaths(at(cf.checkout)), [], 'the check ran in a clean worktree and left it clean');

    const ins = await r.call('sqlalchemy.inspect', 'inspect', { checkout: cf.checkout, mapper: 'Organization', cause: cf.cause });
    assert.deepEqual(ins.explained, ['Organization.feature_flags']);
    assert.deepEqual(ins.mapper, { class: 'Organization', inferred: false, found: true, path: `${MODELS}/organization.py`, line: 7, imported: true, table: 'organizations' });
    const verdicts = Object.fromEntries(ins.relationships.map((x: any) => [x.relationship, x.verdict]));
    assert.deepEqual(verdicts, { 'Organization.users': 'ok', 'Organization.feature_flags': 'broken', 'User.organization': 'ok' });
    assert.deepEqual(ins.problemKinds, ['missing_class']);
    assert.equal(ins.needsPerson, true);

    assert.equal(cf.failure.property, 'Organization.feature_flags', 'the probe names the property SQLAlchemy was configuring');
    assert.equal(cf.failure.file, `${MODELS}/organization.py`);
    assert.deepEqual(cf.mapped.classes, ['Organization', 'User']);
    const plan = await r.call('sqlalchemy.plan_fix', 'plan', { checkout: cf.checkout, mapper: 'Organization', problems: ins.problems, policy: 'auto', explained: ins.explained, failure: cf.failure });
    assert.equal(plan.fix, 'A');
    assert.deepEqual(plan.tied, ['Organization.feature_flags']);
    assert.equal(plan.needsPerson, true);
    assert.deepEqual(plan.sequence, ['A', 'B']);
    assert.equal(plan.options.C.applicable, false);
    assert.match(plan.options.C.why, /FeatureFlag|missing_class/);

    const ap = await r.call('sqlalchemy.apply_fix', 'apply', { base: co.head, fix: plan.fix, model: plan.model });
    assert.deepEqual(ap.touched, [`${MODELS}/organization.py`]);
    assert.match(ap.diff, /# TEMPORARY: Commented out - FeatureFlag model doesn't exist yet/);
    assert.equal(ap.subject, 'Fix SQLAlchemy: Comment out broken Organization.feature_flags relationship');
    // a re-delivered apply makes the same tree again
    const ap2 = await r.call('sqlalchemy.apply_fix', 'apply', { base: co.head, fix: plan.fix, model: plan.model });
    assert.equal(ap2.diff, ap.diff);

    const fixes = 'SQLAlchemy mapper error blocking all DB queries';
    const cm = await r.call('git.commit', 'commit', { checkout: ap.checkout, paths: ap.touched, subject: ap.subject, body: ap.body, fixes, base: co.head });
    assert.equal(cm.created, true);
    assert.deepEqual(cm.files, [`${MODELS}/organization.py`]);
    assert.equal(cm.clean, true);
    const msg = git(at(ap.checkout), ['log', '-1', '--format=%B']);
    const lines = msg.split('\n');
    assert.equal(lines[0], ap.subject);
    assert.equal(lines[1], '');
    assert.equal(lines[2], "FeatureFlag model doesn't exist, causing mapper initialization to fail.");
    assert.ok(lines.includes(`Fixes: ${fixes}`));
    const again = await r.call('git.commit', 'commit', { checkout: ap.checkout, paths: ap.touched, subject: ap.subject, body: ap.body, fixes, base: co.head });
    assert.equal(again.sha, cm.sha, 're-run with the same key returns the same commit');
    assert.equal(again.created, false);

    const pf = await r.call('sqlalchemy.preflight', 'preflight', { sha: cm.sha, fix: 'A', fallback: plan.fallback, before: cf.mapped, broken: plan.broken, edits: ap.edits, needsPerson: plan.needsPerson });
    assert.equal(pf.passed, true);
    assert.deepEqual(pf.lost, ['Organization.feature_flags'], 'only the broken relationship is gone');
    assert.equal(pf.needsApproval, true, 'a missing model class needs a person');
    assert.equal(pf.cleanWorktree, true);
    assert.equal('next' in pf, false);

    assert.equal(remoteHead(svc), svc.head, 'nothing pushed before push');
    const push = r.ctx('push');
    const planned = await all.get('git.push')!.plan!({ sha: cm.sha }, push);
    assert.match(planned.description, /fast-forward only/);
    assert.equal(remoteHead(svc), svc.head, 'a dry run pushes nothing');
    const ps = await r.call('git.push', 'push', { sha: cm.sha });
    assert.equal(ps.pushed, true);
    assert.equal(remoteHead(svc), cm.sha);
    assert.equal((await r.call('git.push', 'push', { sha: cm.sha })).pushed, false, 're-run: already there');

    // the new HEAD of the remote passes the check; the user's copy is as it was
    const fresh = path.join(svc.root, 'after');
    git(svc.root, ['clone', '-q', svc.remote, fresh]);
    assert.equal(runCheck(fresh, (py14 as PythonEnv).python).code, 0);
    assert.equal(readFileSync(path.join(svc.userCopy, 'README.md'), 'utf8'), userBefore);
    assert.equal(git(svc.userCopy, ['rev-parse', 'HEAD']), svc.head);
    assert.deepEqual(changedPaths(svc.userCopy), ['README.md']);
  });

  test('git.checkout re-delivered after dying mid-clone starts the clone over', async () => {
    const svc = service(scn('backpop_missing'), py14 as PythonEnv);
    const r = runner(svc);
    const partial = path.join(r.workdir, 'repo');
    mkdirSync(path.join(partial, 'backend'), { recursive: true });
    writeFileSync(path.join(partial, 'backend', 'half-written.py'), 'x');
    const co = await r.call('git.checkout', 'checkout', {});
    assert.equal(co.head, svc.head);
    assert.deepEqual(changedPaths(path.join(r.workdir, co.checkout)), []);
  });

  test('healthy repo: confirm says so, whatever the alert claims', async () => {
    const svc = service(scn('healthy'), py14 as PythonEnv);
    const r = runner(svc);
    const co = await r.call('git.checkout', 'checkout', {});
    const cf = await r.call('sqlalchemy.confirm', 'confirm', { head: co.head, alertMapper: 'Organization' });
    assert.equal(cf.healthy, true);
    assert.equal(cf.mapper, null);
    assert.equal(cf.uncovered, null, 'the alert names a class the check maps: stale');
    const gone = await r.call('sqlalchemy.confirm', 'confirm', { head: co.head, alertMapper: 'Invoice' });
    assert.equal(gone.uncovered, null, 'the alert names a class the repo no longer defines: stale');
  });

  test("healthy check, but the alert's mapper lives in a module the check never imports: uncovered, not stale", async () => {
    const h = scn('healthy');
    // The job imports app.reports (outside the models package; the demo's second broken model); the check imports
    // app.models only.
    const svc = service({ ...h, name: 'healthy_check_uncovered_job', files: { ...h.files, ...SECOND_BROKEN_MODEL } }, py14 as PythonEnv);
    const r = runner(svc);
    const co = await r.call('git.checkout', 'checkout', {});
    const cf = await r.call('sqlalchemy.confirm', 'confirm', { head: co.head, alertMapper: 'Report' });
    assert.equal(cf.healthy, true, 'the check passes: it never imports app.reports');
    assert.deepEqual(cf.uncovered, { class: 'Report', definedIn: ['backend/app/reports.py'] });
    assert.match(cf.summary, /the alert's mapper Report is defined in backend\/app\/reports\.py, which the check does not map/);
    // A name full of pattern characters is compared as a string (and is no Python identifier: not even looked for).
    const odd = await r.call('sqlalchemy.confirm', 'confirm', { head: co.head, alertMapper: 'Rep.*' });
    assert.equal(odd.uncovered, null);
  });

  test('first-use "has no property" names no failing mapper: the explaining relationship does; auto picks C', async () => {
    const svc = service(scn('backpop_missing'), py14 as PythonEnv);
    const r = runner(svc);
    const co = await r.call('git.checkout', 'checkout', {});
    const cf = await r.call('sqlalchemy.confirm', 'confirm', { head: co.head, alertMapper: 'Invoice' });
    // configure_mappers() says "Mapper 'User' has no property 'organization'": the target, not the failing mapper;
    // the runtime probe knows SQLAlchemy was configuring Organization.users when it raised
    assert.equal(cf.mapper.class, 'Organization');
    assert.equal(cf.mapperFrom, 'probe');
    assert.equal(cf.failure.property, 'Organization.users');
    assert.deepEqual(cf.cause, { kind: 'no_property', owner: 'User', attr: 'organization' });
    // the inspector can still infer the mapper from the cause alone (the check's text did not name it)
    const ins = await r.call('sqlalchemy.inspect', 'inspect', { checkout: cf.checkout, mapper: null, cause: cf.cause });
    assert.equal(ins.mapper.class, 'Organization', 'the relationship that explains the error names the failing mapper');
    assert.equal(ins.mapper.inferred, true);
    assert.deepEqual(ins.explained, ['Organization.users']);
    const plan = await r.call('sqlalchemy.plan_fix', 'plan', { checkout: cf.checkout, mapper: 'Organization', problems: ins.problems, explained: ins.explained, failure: cf.failure });
    assert.equal(plan.fix, 'C');
    assert.equal(plan.needsPerson, false);
    const forcedA = await r.call('sqlalchemy.plan_fix', 'plan', { checkout: cf.checkout, mapper: 'Organization', problems: ins.problems, policy: 'A', explained: ins.explained });
    assert.equal(forcedA.fix, 'A');
    assert.deepEqual(forcedA.sequence, ['A', 'B']);
  });

  test('an alert naming another mapper is overruled by the repo; policy C where only a person can help falls back to A', async () => {
    const svc = service(scn('two_missing_classes'), py14 as PythonEnv);
    const r = runner(svc);
    const co = await r.call('git.checkout', 'checkout', {});
    const cf = await r.call('sqlalchemy.confirm', 'confirm', { head: co.head, alertMapper: 'Invoice' });
    assert.equal(cf.mapper.class, 'Organization', 'the repo, not the alert');
    assert.equal(cf.agreesWithAlert, false);
    assert.match(cf.summary, /the alert said Invoice; following the repo/);
    const ins = await r.call('sqlalchemy.inspect', 'inspect', { checkout: cf.checkout, mapper: cf.mapper.class, cause: cf.cause });
    assert.equal(ins.problems.length, 2);
    const plan = await r.call('sqlalchemy.plan_fix', 'plan', { checkout: cf.checkout, mapper: 'Organization', problems: ins.problems, policy: 'C', explained: ins.explained, failure: cf.failure });
    assert.equal(plan.fix, 'A');
    assert.match(plan.reason, /policy C cannot apply.*falling back to A/);
  });

  test('pre-flight failure names the next fix (A → B) and nothing is pushed', async () => {
    const svc = service(scn('hidden_problem_a_to_b'), py14 as PythonEnv);
    const r = runner(svc);
    const co = await r.call('git.checkout', 'checkout', {});
    const ap = await r.call('sqlalchemy.apply_fix', 'apply', { base: co.head, fix: 'A' });
    const cm = await r.call('git.commit', 'commit', { checkout: ap.checkout, paths: ap.touched, subject: ap.subject, body: ap.body, fixes: 'x', base: co.head });
    const pf = await r.call('sqlalchemy.preflight', 'preflight', { sha: cm.sha, fix: 'A', fallback: { A: 'B' } });
    assert.equal(pf.passed, false);
    assert.equal(pf.next, 'B');
    assert.equal(pf.mapper.class, 'Organization');
    const ap2 = await r.call('sqlalchemy.apply_fix', 'apply', { base: co.head, fix: 'B', model: 'Organization' }, 2);
    assert.notEqual(ap2.checkout, ap.checkout, 'each visit gets its own fresh worktree');
    assert.match(ap2.checkout, /^wt\/fix-B-v2-[0-9a-f]{8}$/);
    const cm2 = await r.call('git.commit', 'commit', { checkout: ap2.checkout, paths: ap2.touched, subject: ap2.subject, body: ap2.body, fixes: 'x', base: co.head }, 2);
    assert.match(cm2.subject, /^Fix SQLAlchemy: Disable Organization model/);
    assert.deepEqual(cm2.files, [...ap2.touched].sort());
    const pf2 = await r.call('sqlalchemy.preflight', 'preflight', { sha: cm2.sha, fix: 'B', fallback: { A: 'B' } }, 2);
    assert.equal(pf2.passed, true);
    assert.equal(remoteHead(svc), svc.head);
  });

  test('a step delivered twice at once (its lock lost while it ran) gets two trees: both apply the same fix, neither sees the other\'s edits', async () => {
    const svc = service(scn('backpop_wrong_name'), py14 as PythonEnv);
    const r = runner(svc);
    const co = await r.call('git.checkout', 'checkout', {});
    const [a, b] = await Promise.all([1, 2].map(() => r.call('sqlalchemy.apply_fix', 'apply', { base: co.head, fix: 'C' })));
    assert.notEqual(a.checkout, b.checkout);
    assert.match(a.checkout, /^wt\/fix-C-v1-[0-9a-f]{8}$/);
    assert.deepEqual(b.touched, a.touched);
    assert.equal(b.diff, a.diff, 'the same fix, each from the base commit');
    const [p1, p2] = await Promise.all([a, b].map((ap) => r.call('sqlalchemy.preflight', 'preflight', { sha: co.head, fix: 'C', fallback: {} }).then((pf) => [ap, pf])));
    assert.equal(p1![1].passed, false, 'the base still fails in a pre-flight of its own');
    assert.equal(p2![1].passed, false);
  });

  test('refuses to work in anyone\'s working copy or outside the run\'s workdir', async () => {
    const svc = service(scn('missing_class'), py14 as PythonEnv);
    const r = runner(svc);
    const before = changedPaths(svc.userCopy);
    const attempts: [string, unknown][] = [
      ['git.commit', { dir: svc.userCopy, paths: ['README.md'], subject: 's', fixes: 'f' }],
      ['git.push', { dir: svc.userCopy, sha: svc.head }],
      ['sqlalchemy.apply_fix', { dir: svc.userCopy, base: svc.head, fix: 'A' }],
      ['sqlalchemy.confirm', { dir: path.join(r.workdir, '..'), head: svc.head }],
      ['sqlalchemy.inspect', { dir: `${r.workdir}/../../etc` }],
    ];
    for (const [name, params] of attempts) {
      await assert.rejects(r.call(name, name.replace('.', '_'), params), (e: unknown) => e instanceof RunwrightError && e.retryable === false, name);
    }
    // A checkout is named, never located: a crafted name fails the param check naming the field ...
    const crafted = ['../x', svc.userCopy, 'repo/../../etc', '/etc', 'wt/./x', ''];
    for (const checkout of crafted) {
      await assert.rejects(r.call('git.commit', 'commit', { checkout, paths: ['README.md'], subject: 's', fixes: 'f' }), /bad params for git\.commit: .*"path":\s*\[\s*"checkout"/s, checkout);
    }
    // ... and ctx.checkout refuses it too (permanently, with a code), as it does a name the run does not have.
    const ctx = r.ctx('x');
    for (const checkout of crafted) {
      await assert.rejects(ctx.checkout(checkout), (e: unknown) => e instanceof RunwrightError && e.code === 'bad_checkout' && e.retryable === false && /refusing checkout/.test(e.message), checkout);
    }
    await assert.rejects(r.call('sqlalchemy.inspect', 'inspect', { checkout: 'wt/nope' }), (e: unknown) => e instanceof RunwrightError && e.code === 'unknown_checkout' && /no checkout "wt\/nope"/.test(e.message));
    await assert.rejects(r.call('sqlalchemy.inspect', 'inspect', {}), (e: unknown) => e instanceof RunwrightError && e.code === 'no_checkout' && e.retryable === false, 'no clone yet');
    assert.deepEqual(changedPaths(svc.userCopy), before);
    assert.equal(git(svc.userCopy, ['rev-parse', 'HEAD']), svc.head);
  });

  test("deprecated for one release: an old-style `dir` (an earlier step's output.dir) still works", async () => {
    const svc = service(scn('backpop_missing'), py14 as PythonEnv);
    const r = runner(svc);
    const co = await r.call('git.checkout', 'checkout', {});
    assert.ok(co.dir.startsWith(r.workdir + path.sep), 'output.dir is still there for old runbooks');
    const ap = await r.call('sqlalchemy.apply_fix', 'apply', { dir: co.dir, base: co.head, fix: 'C' });
    assert.equal(ap.dir, path.join(r.workdir, ap.checkout));
    const cm = await r.call('git.commit', 'commit', { dir: ap.dir, paths: ap.touched, subject: ap.subject, body: ap.body, fixes: 'f', base: co.head });
    assert.deepEqual(cm.files, ap.touched);
    await assert.rejects(r.call('git.commit', 'commit', { dir: ap.dir, checkout: ap.checkout, paths: ap.touched, subject: 's', fixes: 'f' }), (e: unknown) => e instanceof RunwrightError && e.code === 'bad_params' && /not both/.test(e.message));
  });

  test('git.commit refuses a path that escapes the worktree; git.push never forces', async () => {
    const svc = service(scn('backpop_missing'), py14 as PythonEnv);
    const r = runner(svc);
    const co = await r.call('git.checkout', 'checkout', {});
    const ap = await r.call('sqlalchemy.apply_fix', 'apply', { base: co.head, fix: 'C' });
    await assert.rejects(r.call('git.commit', 'commit', { checkout: ap.checkout, paths: ['../../../etc/passwd'], subject: 's', fixes: 'f' }), /escapes/);
    const cm = await r.call('git.commit', 'commit', { checkout: ap.checkout, paths: ap.touched, subject: ap.subject, body: ap.body, fixes: 'f', base: co.head });
    // someone else pushes first: ours is no longer a fast-forward
    const other = path.join(svc.root, 'other');
    git(svc.root, ['clone', '-q', svc.remote, other]);
    writeFileSync(path.join(other, 'NOTE.md'), 'someone else\n');
    git(other, ['add', 'NOTE.md']);
    git(other, ['commit', '-q', '-m', 'other work']);
    git(other, ['push', '-q', 'origin', 'main']);
    const theirs = remoteHead(svc);
    await assert.rejects(r.call('git.push', 'push', { sha: cm.sha }), (e: unknown) => e instanceof RunwrightError && e.code === 'git_push_rejected');
    assert.equal(remoteHead(svc), theirs, 'their commit is still there');
  });
});
