// Shapes of the sweep (scripts/alembic-sweep.ts, test/fixtures/alembic/sweep-cases.ts) that showed a bug, kept
// here through the real CLI on real alembic, git, Redis and PostgreSQL, judged as the sweep judges them (the fix
// commit checked on a fresh database; escalations push nothing and name the error):
// - alembic >= 1.16's pyproject templates (`alembic init -t pyproject_async`): the configuration is in
//   pyproject.toml [tool.alembic], alembic.ini holds only the URL and logging; the project could not be read and
//   the run ended in "a step failed". Now the async-on-psycopg2 env.py is fixed like the ini template's.
// - the multidb template (env.py connects with [engine1] sqlalchemy.url, the project's own database): the
//   "scratch" `alembic upgrade head` ran on the target's own database (0001 -> 0002) and the run ended as a stale
//   alert. Now alembic runs through python/alembic_guard.py, which refuses a connection to any database but the one
//   handed over before it is made: escalated, the target database untouched (the sweep's judge checks it).
// - Flask-SQLAlchemy (db.Model, `metadata = db.Column(db.JSON)`, env.py's `target_metadata = db.metadata`): the
//   rename left `Tenant.query.get_or_404(id).metadata` and `db.get_or_404(Tenant, id).metadata` in the views
//   (now the MetaData: silently wrong) and flagged env.py's db.metadata as a use to check. Now those resolve,
//   and a use that cannot be resolved is named in the outcome.
// - a new model module env.py's imports never reach, whose table was never migrated: autogenerate makes an EMPTY
//   migration (no "removed table"), so the run called the broken project a stale alert. Now a declared table that
//   is neither in the database at head nor created by autogenerate, in a module env.py does not import, is the
//   missing-imports cause: the import is added and the migration creating the table goes through review.
// - causes the runbook does not know escalate naming alembic's own error (a SyntaxError in env.py with its file
//   and line, a KeyError for an env var env.py reads), not only "a failure this runbook does not know".
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { debianEnv, isSkip, venvEnv, type PyEnvOrSkip } from '../fixtures/alembic/python-env.js';
import { pgAvailable } from '../fixtures/alembic/postgres.js';
import { SWEEP_CASES } from '../fixtures/alembic/sweep-cases.js';
import { hasTemplate, runCase, type SweepCase } from '../fixtures/alembic/sweep.js';

const pg = pgAvailable();
const envs: Record<string, PyEnvOrSkip> = {
  deb: debianEnv(),
  sa21: venvEnv(process.env.RW_TEST_SA21_VERSION ?? '2.1.1'),
  flask: venvEnv(process.env.RW_TEST_SA20_VERSION ?? '2.0.54', ['flask-sqlalchemy']),
};
const byName = (n: string): SweepCase => SWEEP_CASES.find((c) => c.name === n)!;

function skipFor(env: string): string | false {
  if (pg !== true) return pg.skip;
  const e = envs[env]!;
  return isSkip(e) ? e.skip : false;
}

describe('alembic runbook on the sweep shapes that showed bugs (the CLI)', { concurrency: 2, timeout: 900_000 }, () => {
  const sa21 = envs.sa21!;
  const pyprojectSkip = skipFor('sa21') || (!isSkip(sa21) && !hasTemplate(sa21.python, 'pyproject_async') ? `by design: alembic ${sa21.alembic} has no pyproject templates (1.16+)` : false);
  test('pyproject_async template on a psycopg2 URL: env.py fixed and landed, nothing else; a fresh database migrates and autogenerate finds nothing', { skip: pyprojectSkip }, async () => {
    const e = sa21 as Exclude<PyEnvOrSkip, { skip: string }>;
    const row = await runCase(byName('async-pyproject-template'), 'sa21', e);
    assert.ok(row.ok, `${row.got}: ${row.notes.join('; ')} | ${row.outcome}`);
    assert.match(row.got, /^succeeded \+commit on main \[alembic\/env\.py\]$/);
  });

  test('Flask-SQLAlchemy: the rename reaches Model.query / db.get_or_404 uses; the one use on an unknown object is named in the outcome', { skip: skipFor('flask') }, async () => {
    const e = envs.flask as Exclude<PyEnvOrSkip, { skip: string }>;
    const row = await runCase(byName('reserved-flask-sqlalchemy'), 'flask', e);
    assert.ok(row.ok, `${row.got}: ${row.notes.join('; ')} | ${row.outcome}`);
    assert.match(row.outcome, /left as they were \(approved at review_unresolved\): app\/views\.py:\d+\./, 'only the audit helper, not env.py');
  });

  test('a new model never imported nor migrated (empty autogenerate): imports fixed + the migration creating its table, not a stale alert', { skip: skipFor('deb') }, async () => {
    const e = envs.deb as Exclude<PyEnvOrSkip, { skip: string }>;
    const row = await runCase(byName('imports-new-model-never-migrated'), 'deb', e);
    assert.ok(row.ok, `${row.got}: ${row.notes.join('; ')} | ${row.outcome}`);
    assert.match(row.outcome, /migration: create_table invoices/);
  });

  for (const [name, env, named] of [
    ['env-syntax-error', 'deb', /SyntaxError: expected ':' \(alembic\/env\.py, line \d+\)/],
    ['url-env-var-missing', 'deb', /KeyError: 'APP_DB_DSN'/],
    ['multiple-heads', 'sa21', /FAILED: Multiple head revisions are present/],
    ['multidb-target-behind', 'deb', /RunwrightGuardError: env\.py connects to database 'rwsweep_\w+', not to the database runwright handed over/],
  ] as const) {
    test(`${name} (${env}): escalated, nothing pushed, the outcome names alembic's error`, { skip: skipFor(env) }, async () => {
      const e = envs[env] as Exclude<PyEnvOrSkip, { skip: string }>;
      const row = await runCase(byName(name), env, e);
      assert.ok(row.ok, `${row.got}: ${row.notes.join('; ')} | ${row.outcome}`);
      assert.equal(row.got, 'escalated');
      assert.match(row.outcome, new RegExp(`does not know - ${named.source}`));
    });
  }
});
