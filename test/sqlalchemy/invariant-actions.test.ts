// The invariant's parts one by one: the runtime probe on real SQLAlchemy 1.4 and 2.x (localisation of the failing
// property to a file and line, mapped snapshot, target code printing to stdout, run-time loaders), plan_fix refusing
// to offer anything when nothing found explains the failure, pre-flight refusing a fix that lost a working
// relationship (real git), and the pure decisions (route, ties, losses, approval, escalation text).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Target } from '../../src/core/types.js';
import { readSqlalchemyError } from '../../src/actions/sqlalchemy/lib/error-text.js';
import { localisation, runProbe } from '../../src/actions/sqlalchemy/lib/probe.js';
import { routeOf } from '../../src/actions/sqlalchemy/identify.js';
import { brokenNames, tiedProblems } from '../../src/actions/sqlalchemy/plan-fix.js';
import { approvalReason, judgeLoss } from '../../src/actions/sqlalchemy/preflight.js';
import { escalationText } from '../../src/actions/sqlalchemy/escalation.js';
import { firstErrorLine } from '../../src/actions/sqlalchemy/confirm.js';
import { actionContext } from '../helpers/action-ctx.js';
import { CHECK_CODE, git } from '../fixtures/sqlalchemy/generate.js';
import { cleanupServices, interpreters, isSkip, scenarios, service, type PythonEnv } from './helpers.js';
import { runner } from './runner.js';

const M = 'backend/app/models';
const tmp: string[] = [];
after(() => {
  cleanupServices();
  for (const d of tmp) rmSync(d, { recursive: true, force: true });
});

const HEAD = `from sqlalchemy import Column, ForeignKey, Integer, String
from sqlalchemy.orm import declared_attr, relationship

from app.models.base import Base
`;

/** A models package written as files (no git needed for the probe), probed in that python's runtime. */
async function probe(py: PythonEnv, files: Record<string, string>, typed = false, checkCwd = 'backend') {
  const root = mkdtempSync(path.join(os.tmpdir(), 'rw-probe-'));
  tmp.push(root);
  const all: Record<string, string> = {
    'backend/app/__init__.py': '',
    [`${M}/base.py`]: typed ? 'from sqlalchemy.orm import DeclarativeBase\n\n\nclass Base(DeclarativeBase):\n    pass\n' : 'from sqlalchemy.orm import declarative_base\n\nBase = declarative_base()\n',
    ...files,
  };
  for (const [rel, text] of Object.entries(all)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  const target: Target = { name: 'probe-test', repo: root, branch: 'main', modelsDir: M, platform: 'local', python: py.python, check: { command: [py.python, '-c', CHECK_CODE], cwd: checkCwd, timeoutMs: 60_000 } } as Target;
  const r = await runProbe(actionContext({ target }), root);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.probe;
}

const MIXIN = {
  [`${M}/mixins.py`]: `from sqlalchemy import Column, ForeignKey, Integer
from sqlalchemy.orm import declared_attr, relationship


class OwnedMixin:
    @declared_attr
    def owner_id(cls):
        return Column(Integer, ForeignKey("accounts.id"))

    @declared_attr
    def owner(cls):
        return relationship("Acount")
`,
  [`${M}/account.py`]: HEAD + '\n\nclass Account(Base):\n    __tablename__ = "accounts"\n    id = Column(Integer, primary_key=True)\n',
  [`${M}/billing.py`]: HEAD + 'from app.models.mixins import OwnedMixin\n\n\nclass Invoice(OwnedMixin, Base):\n    __tablename__ = "invoices"\n    id = Column(Integer, primary_key=True)\n\n\nclass Project(OwnedMixin, Base):\n    __tablename__ = "projects"\n    id = Column(Integer, primary_key=True)\n',
  [`${M}/__init__.py`]: 'from app.models.base import Base\nfrom app.models.account import Account\nfrom app.models.billing import Invoice, Project\n',
};

const AMBIGUOUS = {
  [`${M}/account.py`]: HEAD + '\n\nclass Account(Base):\n    __tablename__ = "accounts"\n    id = Column(Integer, primary_key=True)\n',
  [`${M}/invoice.py`]:
    HEAD +
    '\n\nclass Invoice(Base):\n    __tablename__ = "invoices"\n    id = Column(Integer, primary_key=True)\n    created_by_id = Column(Integer, ForeignKey("accounts.id"))\n    approved_by_id = Column(Integer, ForeignKey("accounts.id"))\n\n    creator = relationship("Account")\n',
  [`${M}/__init__.py`]: 'from app.models.base import Base\nfrom app.models.account import Account\nfrom app.models.invoice import Invoice\n',
};

const LOADER = {
  [`${M}/account.py`]: HEAD + '\n\nclass Account(Base):\n    __tablename__ = "accounts"\n    id = Column(Integer, primary_key=True)\n    invoices = relationship("Invoice", back_populates="account")\n',
  [`${M}/invoice.py`]: HEAD + '\n\nclass Invoice(Base):\n    __tablename__ = "invoices"\n    id = Column(Integer, primary_key=True)\n    account_id = Column(Integer, ForeignKey("accounts.id"))\n    account = relationship("Account", back_populates="invoices")\n',
  [`${M}/_wip_export.py`]: HEAD + '\n\nclass Export(Base):\n    __tablename__ = "exports"\n    id = Column(Integer, primary_key=True)\n',
  // a run-time loader, and target code that prints (JSON-looking text too) to stdout while being imported
  [`${M}/__init__.py`]:
    'import importlib\nimport pkgutil\nimport sys\n\nfrom app.models.base import Base\n\nprint(\'{"ok": false, "error": "printed by the target"}\')\nsys.stdout.write("loading models\\n")\nfor _m in pkgutil.iter_modules(__path__):\n    if not _m.name.startswith("_wip"):\n        importlib.import_module(__name__ + "." + _m.name)\n',
};

const { sa14, sa2 } = interpreters();

for (const [label, py] of [['1.4', sa14], ['2.x', sa2]] as const) {
  describe(`the runtime probe, SQLAlchemy ${label}`, { skip: isSkip(py) ? py.skip : false }, () => {
    const p = py as PythonEnv;

    test('a relationship made by @declared_attr on a mixin: the failing property, located in the mixin', async () => {
      const r = await probe(p, MIXIN);
      assert.equal(r.imported, true);
      assert.equal(r.configured, false);
      const f = r.failure!;
      assert.equal(f.phase, 'configure');
      assert.ok(['Invoice', 'Project'].includes(f.mapper!.class));
      assert.equal(f.property, `${f.mapper!.class}.owner`);
      assert.equal(f.exceptionClass, 'InvalidRequestError');
      assert.equal(f.file, `${M}/mixins.py`);
      assert.equal(f.line, 10, 'the @declared_attr of owner');
      assert.equal(f.declaredIn, 'OwnedMixin');
      assert.equal(readSqlalchemyError(f.message).cause?.name, 'Acount');
      assert.deepEqual(r.mapped, { classes: ['Account', 'Invoice', 'Project'], relationships: ['Invoice.owner', 'Project.owner'], declaredIn: { 'Invoice.owner': 'OwnedMixin', 'Project.owner': 'OwnedMixin' }, complete: true });
    });

    test('AmbiguousForeignKeysError: the exception class and the relationship, never "unreadable"', async () => {
      const r = await probe(p, AMBIGUOUS);
      const f = r.failure!;
      assert.equal(f.exceptionClass, 'AmbiguousForeignKeysError');
      assert.equal(f.exceptionType, 'sqlalchemy.exc.AmbiguousForeignKeysError');
      assert.equal(f.property, 'Invoice.creator');
      assert.deepEqual([f.file, f.line], [`${M}/invoice.py`, 13]);
      assert.match(localisation(f), /^Invoice\.creator \(backend\/app\/models\/invoice\.py:13\): AmbiguousForeignKeysError: Could not determine join condition/);
    });

    test('a pkgutil loader is followed; what it skips is listed as not imported; target stdout never corrupts the answer', async () => {
      const r = await probe(p, LOADER);
      assert.equal(r.configured, true);
      assert.equal(r.failure, null);
      assert.deepEqual(r.mapped.classes, ['Account', 'Invoice']);
      assert.deepEqual(r.mapped.relationships, ['Account.invoices', 'Invoice.account']);
      assert.deepEqual(r.notImported, [`${M}/_wip_export.py`]);
      assert.ok(r.modules.includes(`${M}/invoice.py`));
      assert.equal(r.package, 'app.models');
    });

    test('a check run from the repo root (backend/ is no package): the models are imported as app.models all the same', async () => {
      const r = await probe(p, LOADER, false, '.');
      assert.equal(r.package, 'app.models');
      assert.equal(r.configured, true);
      assert.deepEqual(r.mapped.classes, ['Account', 'Invoice']);
    });

    test('an import-time error: file and line from the traceback, the declared classes so far, complete=false', async () => {
      const r = await probe(p, { ...LOADER, [`${M}/invoice.py`]: LOADER[`${M}/invoice.py`]!.replace('account = relationship', 'account = relationshp') });
      const f = r.failure!;
      assert.equal(f.phase, 'import');
      assert.equal(f.exceptionClass, 'NameError');
      assert.deepEqual([f.file, f.line], [`${M}/invoice.py`, 11]);
      assert.equal(r.mapped.complete, false);
      assert.match(localisation(f), /^backend\/app\/models\/invoice\.py:11: NameError: name 'relationshp' is not defined/);
    });

    if (label === '2.x')
      test('2.0 typed mapping: Mapped[List["Missing"]] is the failing property', async () => {
        const r = await probe(
          p,
          {
            [`${M}/account.py`]:
              'from typing import List\n\nfrom sqlalchemy.orm import Mapped, mapped_column, relationship\n\nfrom app.models.base import Base\n\n\nclass Account(Base):\n    __tablename__ = "accounts"\n    id: Mapped[int] = mapped_column(primary_key=True)\n    flags: Mapped[List["FeatureFlag"]] = relationship()\n',
            [`${M}/__init__.py`]: 'from app.models.base import Base\nfrom app.models.account import Account\n',
          },
          true,
        );
        assert.equal(r.failure!.property, 'Account.flags');
        assert.equal(r.failure!.line, 11);
      });
  });
}

describe('plan_fix and pre-flight on real repos (SQLAlchemy 1.4)', { skip: isSkip(sa14) ? sa14.skip : false }, () => {
  const py = sa14 as PythonEnv;
  const scn = (n: string) => scenarios().find((s) => s.name === n)!;

  test('problems found that do not explain the reproduced failure: no fix is picked or offered, whatever the policy', async () => {
    const svc = service(scn('two_missing_classes'), py);
    const r = runner(svc);
    const co = await r.call('git.checkout', 'checkout', {});
    const cf = await r.call('sqlalchemy.confirm', 'confirm', { head: co.head });
    const ins = await r.call('sqlalchemy.inspect', 'inspect', { checkout: cf.checkout, mapper: cf.mapper.class, cause: cf.cause });
    assert.equal(ins.problems.length, 2);
    // the failure as if SQLAlchemy had failed elsewhere (a property the analysis found nothing wrong with)
    const elsewhere = { ...cf.failure, property: 'User.organization', file: `${M}/user.py`, line: 1 };
    for (const policy of ['auto', 'A', 'B', 'C']) {
      const plan = await r.call('sqlalchemy.plan_fix', 'plan', { checkout: cf.checkout, problems: ins.problems, policy, explained: [], failure: elsewhere });
      assert.equal(plan.fix, null, policy);
      assert.equal(plan.explained, false);
      assert.deepEqual(plan.sequence, []);
      assert.ok(['A', 'B', 'C'].every((f) => plan.options[f].applicable === false));
      assert.match(plan.reason, /nothing the analysis found explains the reproduced failure/);
    }
    // no evidence at all (neither the error's names nor the probe): nothing either
    assert.equal((await r.call('sqlalchemy.plan_fix', 'plan', { checkout: cf.checkout, problems: ins.problems })).fix, null);
    // with the probe's real failure, the same problems are tied and a fix is offered
    const tied = await r.call('sqlalchemy.plan_fix', 'plan', { checkout: cf.checkout, problems: ins.problems, failure: cf.failure });
    assert.equal(tied.fix, 'A');
    assert.deepEqual(tied.tied, [cf.failure.property]);
  });

  test('pre-flight refuses a fix that lost a working relationship, listing it; the same commit minus that loss passes', async () => {
    const svc = service(scn('missing_class'), py);
    const r = runner(svc);
    const co = await r.call('git.checkout', 'checkout', {});
    const cf = await r.call('sqlalchemy.confirm', 'confirm', { head: co.head });
    assert.deepEqual(cf.mapped.relationships, ['Organization.feature_flags', 'Organization.users', 'User.organization']);
    const ap = await r.call('sqlalchemy.apply_fix', 'apply', { base: co.head, fix: 'A' });
    // the honest fix A: only the broken relationship goes
    const cm = await r.call('git.commit', 'commit', { checkout: ap.checkout, paths: ap.touched, subject: ap.subject, body: ap.body, fixes: 'x', base: co.head });
    const ok = await r.call('sqlalchemy.preflight', 'preflight', { sha: cm.sha, fix: 'A', before: cf.mapped, broken: ['Organization.feature_flags'], edits: ap.edits });
    assert.equal(ok.passed, true, ok.summary);
    assert.deepEqual(ok.lost, ['Organization.feature_flags']);
    assert.equal(ok.needsApproval, false, 'A that removed only the broken relationship may land unasked');
    // a "fix" that also drops the working Organization.users / User.organization pair: the check passes, pre-flight refuses
    const wt = path.join(r.workdir, 'greedy');
    git(path.join(r.workdir, co.checkout), ['worktree', 'add', '-q', '--detach', wt, cm.sha]);
    for (const [rel, re] of [[`${M}/organization.py`, /^\s*users = relationship\(.*\n/m], [`${M}/user.py`, /^\s*organization = relationship\(.*\n/m]] as const) {
      const f = path.join(wt, rel);
      const text = readFileSync(f, 'utf8');
      assert.match(text, re);
      writeFileSync(f, text.replace(re, ''));
    }
    git(wt, ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qam', 'greedy fix']);
    const greedy = git(wt, ['rev-parse', 'HEAD']);
    const bad = await r.call('sqlalchemy.preflight', 'preflight', { sha: greedy, fix: 'A', before: cf.mapped, broken: ['Organization.feature_flags'], edits: ap.edits, fallback: { A: 'B' } }, 2);
    assert.equal(bad.checkPassed, true, 'the check alone would have let it through');
    assert.equal(bad.passed, false);
    assert.deepEqual(bad.unexpectedLoss, ['Organization.users', 'User.organization']);
    assert.match(bad.summary, /lost what it did not mean to: Organization\.users, User\.organization/);
    assert.equal(bad.next, 'B');
  });
});

describe('decisions (pure)', () => {
  test('route: refused only when every name is unsafe; unrelated only when the text is not about SQLAlchemy', () => {
    const route = (t: string) => routeOf(t, readSqlalchemyError(t)).route;
    assert.equal(route("Triggering mapper: 'Mapper[../../etc/passwd(x)]'. One or more mappers failed to initialize"), 'refused');
    assert.equal(route("When initializing mapper Mapper[$(reboot)(t)], expression '`id`' failed to locate a name ('a;b')"), 'refused');
    assert.equal(route("When initializing mapper Mapper[Org(orgs)], expression 'X' failed to locate a name ('X'). Triggering mapper: 'Mapper[../x(y)]'"), 'proceed');
    assert.equal(route('sqlalchemy.exc.ArgumentError: For many-to-one relationship User.organization, delete-orphan cascade ...'), 'proceed');
    assert.equal(route('sqlalchemy.exc.AmbiguousForeignKeysError: Could not determine join condition between parent/child tables on relationship Invoice.creator'), 'proceed');
    assert.equal(route('Disk usage high on /var/lib/postgresql ../../etc/shadow $(reboot)'), 'unrelated');
    assert.equal(route("When initializing mapper mapped class Organization->organizations, expression 'FeatureFlag' failed to locate a name ('FeatureFlag')"), 'proceed');
  });

  test('ties: named by the error, the property being configured, or the statement the failure points at', () => {
    const problems = [
      { class: 'Org', attr: 'flags', path: 'm/org.py', line: 10, end_line: 12 },
      { class: 'User', attr: 'org', path: 'm/user.py', line: 5, end_line: 5 },
    ];
    assert.deepEqual(tiedProblems(problems, ['User.org'], null).tied, [problems[1]]);
    assert.deepEqual(tiedProblems(problems, null, { property: 'Org.flags' }).tied, [problems[0]]);
    assert.deepEqual(tiedProblems(problems, null, { file: 'm/org.py', line: 11 }).tied, [problems[0]]);
    const mixin = [{ class: 'OwnedMixin', attr: 'owner', path: 'm/mixins.py', line: 11, end_line: 12 }];
    assert.deepEqual(tiedProblems(mixin, null, { property: 'Invoice.owner', declaredIn: 'OwnedMixin', file: 'm/mixins.py', line: 10 }).tied, mixin);
    assert.deepEqual(tiedProblems(mixin, null, { property: 'Invoice.owner', declaredIn: 'Invoice', file: 'm/billing.py', line: 3 }).tied, []);
    assert.deepEqual(tiedProblems(problems, [], { property: 'Team.members', file: 'm/team.py', line: 3 }).tied, []);
    assert.deepEqual(tiedProblems(problems, null, null).tied, []);
  });

  test('losses and approval: B, removed working names and unknown "before" always ask; A/C keeping everything do not', () => {
    const before = { classes: ['Org', 'User'], relationships: ['Org.flags', 'Org.users', 'User.org'], complete: true };
    const after = { classes: ['Org', 'User'], relationships: ['Org.users', 'User.org'], complete: true };
    const a = judgeLoss(before, after, ['Org.flags'], { relationships: ['Org.flags'], classes: [] });
    assert.deepEqual(a, { lost: { classes: [], relationships: ['Org.flags'] }, unexpected: [], working: [] });
    assert.equal(approvalReason({ fix: 'A', needsPerson: false, requireApproval: false, working: a.working, before, removesUnbroken: [] }), null);
    assert.equal(approvalReason({ fix: 'C', needsPerson: false, requireApproval: false, working: [], before, removesUnbroken: [] }), null);
    const b = judgeLoss(before, { classes: ['User'], relationships: [], complete: true }, ['Org.flags'], { relationships: ['User.org'], classes: ['Org'] });
    assert.deepEqual(b.unexpected, []);
    assert.deepEqual(b.working, ['Org', 'Org.users', 'User.org']);
    assert.match(approvalReason({ fix: 'B', needsPerson: false, requireApproval: false, working: b.working, before, removesUnbroken: [] })!, /fix B disables a model; it removes what was working: Org, Org.users, User.org/);
    // two relationships the analysis calls broken, only one shown broken by the failure: losing the other asks a person
    const two = judgeLoss(before, { classes: ['Org', 'User'], relationships: ['Org.users'], complete: true }, ['Org.flags', 'User.org'], { relationships: ['Org.flags', 'User.org'], classes: [] }, ['Org.flags']);
    assert.deepEqual(two.unexpected, []);
    assert.deepEqual(two.working, ['User.org']);
    // a mixin's relationship commented out where it is written: every mapped class inheriting it loses it, as meant
    const mixinBefore = { classes: ['Contract', 'Memo'], relationships: ['Contract.owner', 'Memo.owner', 'Memo.notes'], declaredIn: { 'Contract.owner': 'OwnedMixin', 'Memo.owner': 'OwnedMixin' }, complete: true };
    const mixin = judgeLoss(mixinBefore, { classes: ['Contract', 'Memo'], relationships: ['Memo.notes'], complete: true }, ['OwnedMixin.owner'], { relationships: ['OwnedMixin.owner'], classes: [] }, ['OwnedMixin.owner']);
    assert.deepEqual(mixin, { lost: { classes: [], relationships: ['Contract.owner', 'Memo.owner'] }, unexpected: [], working: [] });
    const greedy = judgeLoss(before, { classes: ['Org', 'User'], relationships: [], complete: true }, ['Org.flags'], { relationships: ['Org.flags'], classes: [] });
    assert.deepEqual(greedy.unexpected, ['Org.users', 'User.org']);
    assert.match(approvalReason({ fix: 'C', needsPerson: false, requireApproval: false, working: [], before: null, removesUnbroken: [] })!, /could not be listed/);
    assert.match(approvalReason({ fix: 'C', needsPerson: false, requireApproval: true, working: [], before, removesUnbroken: [] })!, /before every push/);
  });

  test('escalation text: why, what the check printed, where, what was inspected, nothing pushed', () => {
    const text = escalationText(
      { name: 'svc', branch: 'main' },
      {
        identify: { status: 'succeeded', output: { route: 'proceed' } },
        confirm: { status: 'succeeded', output: { healthy: false, head: 'a'.repeat(40), localisation: 'User.organization (m/user.py:14): ArgumentError: For many-to-one', failure: { phase: 'configure' }, checkSaid: 'sqlalchemy.exc.ArgumentError: For many-to-one relationship User.organization' } },
        inspect: { status: 'succeeded', output: { package: { import_name: 'app.models' }, modules: [{}, {}, {}], relationships: [{}, {}], otherRelationships: 1, summary: ['no broken relationship found around User'] } },
        plan: { status: 'succeeded', output: { fix: null, reason: 'the analysis found no broken relationship that explains the reproduced failure, so no fix is offered' } },
      },
      null,
    );
    assert.equal(
      text,
      'Needs a person (svc): SQLAlchemy fails configuring User.organization (m/user.py:14): ArgumentError: For many-to-one. The check printed: "sqlalchemy.exc.ArgumentError: For many-to-one relationship User.organization". Inspected 3 module(s) of app.models and 3 relationship(s): no broken relationship found around User. The analysis found no broken relationship that explains the reproduced failure, so no fix is offered. Nothing pushed to main.',
    );
    const refused = escalationText({ name: 'svc', branch: 'main' }, { identify: { output: { route: 'refused', why: 'every name in the alert was refused as unsafe (3 ...); none was used' } }, confirm: { output: { healthy: true, head: 'b'.repeat(40) } } }, { decision: 'rejected', actor: 'bob', comment: 'no' });
    assert.match(refused, /^Needs a person \(svc\): The alert's names were all refused as unsafe: every name .* The check passes at bbbbbbbbbbbb: the repo looks healthy, but the alert cannot be trusted\. Rejected by bob \(no\)\. Nothing pushed to main\.$/);
  });

  test('the check line that says what went wrong', () => {
    assert.equal(firstErrorLine('Traceback (most recent call last):\n  File "x.py", line 1, in <module>\nKeyError: \'REGION\'\n'), "KeyError: 'REGION'");
    assert.equal(firstErrorLine('warming up\nsqlalchemy.exc.InvalidRequestError: One or more mappers failed\nexit'), 'sqlalchemy.exc.InvalidRequestError: One or more mappers failed');
    assert.equal(firstErrorLine('just some text\n'), 'just some text');
  });
});

describe('plan_fix: what counts as broken', () => {
  test("a mixin's @declared_attr problem makes the attribute broken on every class that inherits it, and nothing else", () => {
    const problems = [
      { class: 'OwnedMixin', attr: 'owner', mapped_as: ['Contract', 'Memo'] },
      { class: 'User', attr: 'org' },
      { class: 'Odd', attr: 'x', mapped_as: 'not-a-list' },
    ];
    assert.deepEqual(brokenNames(problems), ['Contract.owner', 'Memo.owner', 'Odd.x', 'OwnedMixin.owner', 'User.org']);
    assert.deepEqual(brokenNames([]), []);
  });
});
