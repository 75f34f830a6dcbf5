// The alembic-autogenerate-failure runbook through the Engine on real Redis, per generated project: each failure
// alone and combined, on Debian's SQLAlchemy 1.4 / alembic 1.8 and the 2.0 / 2.1 venvs (current alembic), with the
// alert text taken from what real alembic printed. Afterwards an independent check on a fresh clone of the remote's
// new HEAD and a new scratch database: upgrade head passes, every deployed column still exists, the app's own code
// runs, a new autogenerate finds only the model drift that existed before the fix (never committed); nobody's
// working copy changed; the run's scratch databases are gone. Stale alerts, unrelated alerts, failures the
// runbook does not know and a target database that disagrees end without a commit.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunRecord, Target } from '../../src/core/types.js';
import { matchesAlert } from '../../src/core/runbook.js';
import { alert as mkAlert, loadTestRunbooks, testEngine } from '../helpers/engine.js';
import { buildFixture, cloneFixture, EXPECTED_COLUMNS, failureText, fixtureTarget, git, type AlembicFixture, type FixtureOptions } from '../fixtures/alembic/generate.js';
import { allEnvs, isSkip, type PyEnv } from '../fixtures/alembic/python-env.js';
import { columns, databasesLike, dbUrl, deadPort, pgAvailable, PG_SYNC_URL, privateCluster, psql, scratchDb, type PrivateCluster } from '../fixtures/alembic/postgres.js';
import { alembic, py } from '../fixtures/alembic/run.js';

const RUNBOOK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../runbooks/alembic-autogenerate-failure.yaml');
const runbooks = loadTestRunbooks([RUNBOOK]);
const rb = runbooks.get('alembic-autogenerate-failure')!;
const pg = pgAvailable();
const envs = Object.fromEntries(allEnvs().map((x) => [x.name, x.env]));
const roots: string[] = [];

let h: Awaited<ReturnType<typeof testEngine>>;
let cluster: PrivateCluster | { skip: string } = { skip: 'not started' };
before(async () => {
  h = await testEngine({ runbooks });
  cluster = await privateCluster();
}, { timeout: 120_000 });
after(async () => {
  await h?.close();
  if (h) rmSync(h.config.workdir, { recursive: true, force: true });
  if (!('skip' in cluster)) cluster.stop();
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function envOr(name: string): PyEnv | { skip: string } {
  const e = envs[name]!;
  return e;
}
function skipFor(name: string, need: { asyncpg?: boolean } = {}): string | false {
  if (pg !== true) return pg.skip;
  const e = envOr(name);
  if (isSkip(e)) return e.skip;
  if (need.asyncpg && !e.asyncpg) return `${name}: no asyncpg + greenlet`;
  return false;
}

interface Case {
  fx: AlembicFixture;
  target: Target;
  env: PyEnv;
  runId: string;
  userReadme: string;
  text: string;
}

async function start(envName: string, opts: FixtureOptions, o: { databaseUrl?: string; secretEnv?: string; startDb?: string[]; text?: (fx: AlembicFixture, e: PyEnv) => string; wait?: object; matches?: boolean } = {}): Promise<Case> {
  const env = envOr(envName) as PyEnv;
  const fx = buildFixture(opts);
  roots.push(fx.root);
  const target = fixtureTarget(fx, { python: env.python, databaseUrl: o.databaseUrl ?? PG_SYNC_URL, databaseUrlFrom: o.secretEnv, startDb: o.startDb, wait: o.wait as any, name: `al-${path.basename(fx.root).toLowerCase().replace(/[^a-z0-9-]/g, '')}` });
  const text = o.text ? o.text(fx, env) : failureText(fx, env.python, fx.urlFor(o.databaseUrl ?? PG_SYNC_URL));
  const a = mkAlert(text);
  assert.equal(await matchesAlert(rb, a), o.matches ?? true, `the runbook matches the alert: ${text.slice(-400)}`);
  const res = await h.engine.submit({ runbookId: rb.id, alert: a, target, inputs: { ticket: 'INC-7' }, autoApprove: true });
  assert.equal(res.result, 'created');
  return { fx, target, env, runId: (res as { run: RunRecord }).run.id, userReadme: readFileSync(path.join(fx.userCopy, 'README.md'), 'utf8'), text };
}

const out = (run: RunRecord, step: string): any => run.steps[step]?.output as any;

function untouched(c: Case) {
  assert.equal(readFileSync(path.join(c.fx.userCopy, 'README.md'), 'utf8'), c.userReadme, "the user's working copy is as it was");
  assert.equal(git(c.fx.userCopy, ['status', '--porcelain']), 'M README.md');
  assert.equal(git(c.fx.userCopy, ['rev-parse', 'HEAD']), c.fx.head);
}

/** Nothing pushed: the remote's branches are exactly what they were. */
function nothingPushed(c: Case) {
  assert.equal(git(c.fx.remote, ['rev-parse', 'main']), c.fx.head, 'nothing pushed to main');
  assert.equal(git(c.fx.remote, ['for-each-ref', '--format=%(refname)', 'refs/heads/']), 'refs/heads/main', 'no other branch pushed');
  untouched(c);
}

/** Succeeded: one commit on the old head holding only the fix (and its own migration), checked independently. */
function succeeded(c: Case, run: RunRecord, expectFixed: { reserved?: boolean; envMode?: 'sync' | 'async'; imports?: boolean; migration?: string[] }) {
  assert.equal(run.status, 'succeeded', `${run.outcome}\n${JSON.stringify(out(run, 'verify'))?.slice(0, 3000)}`);
  untouched(c);
  const head = git(c.fx.remote, ['rev-parse', 'main']);
  assert.notEqual(head, c.fx.head);
  assert.equal(git(c.fx.remote, ['rev-parse', `${head}^`]), c.fx.head, 'exactly one commit on top of the old head');
  const message = git(c.fx.remote, ['log', '-1', '--format=%B', head]);
  assert.match(message, /^alembic: /);
  assert.match(message, /Fixes: INC-7/);
  const files = git(c.fx.remote, ['show', '--name-only', '--format=', head]).split('\n').filter(Boolean).sort();
  const v = out(run, 'verify');
  const migrations = files.filter((f) => f.includes('/versions/'));
  if (expectFixed.migration?.length) {
    assert.equal(migrations.length, 1, `one migration committed: ${files.join(', ')}`);
    assert.deepEqual([...v.migration.summary].sort(), [...expectFixed.migration].sort(), 'the migration holds exactly the fix\'s own change');
    assert.match(message, /Migration rw[0-9a-f]{10}/);
    assert.ok(run.steps.prepare_branch, 'a migration went to a review branch first');
    assert.equal(out(run, 'prepare_branch').branch, `runwright/${run.id}`);
    assert.equal(git(c.fx.remote, ['rev-parse', `runwright/${run.id}`]), head);
  } else {
    assert.deepEqual(migrations, [], `no migration committed for a pure code fix: ${files.join(', ')}`);
    assert.equal(v.migration.kept, false);
    assert.match(message, /implies no schema change/);
  }
  assert.deepEqual(files.filter((f) => !f.includes('/versions/') && !['backend/app/models/tenant.py', 'backend/app/models/event.py', 'backend/app/services/tenants.py', 'backend/alembic/env.py'].includes(f)), [], 'nothing unrelated committed');
  assert.equal(files.includes('backend/app/models/tenant.py'), !!expectFixed.reserved);
  assert.equal(files.includes('backend/alembic/env.py'), !!(expectFixed.envMode || expectFixed.imports));
  if (expectFixed.reserved) assert.match(message, /The column keeps its name/);
  if (expectFixed.envMode) assert.equal(out(run, 'fix_async').mode, expectFixed.envMode);
  if (expectFixed.imports) assert.deepEqual(out(run, 'fix_imports').missing, ['app.models.alert_rule', 'app.models.event']);
  // pre-existing drift: reported in the outcome and the message, never committed
  const ownMig = new Set<string>(expectFixed.migration ?? []);
  const drift = c.fx.drift.filter((d) => !ownMig.has(d)).sort();
  assert.deepEqual([...v.drift].sort(), drift);
  for (const d of drift) {
    assert.ok((run.outcome ?? '').includes(d), `drift ${d} listed in the outcome: ${run.outcome}`);
    assert.ok(message.includes(d), `drift ${d} named in the message`);
  }
  // every scratch database the run made is gone
  assert.deepEqual(databasesLike(v.scratchDb), []);
  assert.deepEqual(databasesLike(out(run, 'reproduce').scratchDb), []);

  // independent check of what was pushed, on a fresh database
  const dir = cloneFixture(c.fx, `after-${Math.random().toString(36).slice(2, 8)}`);
  const db = scratchDb('e2e');
  try {
    const url = c.fx.urlFor(dbUrl(db.name, PG_SYNC_URL));
    let r = alembic(c.env.python, dir, ['upgrade', 'head'], { DATABASE_URL: url });
    assert.equal(r.code, 0, r.stderr);
    const cols = columns(db.url);
    for (const [t, cs] of Object.entries(c.fx.deployedColumns)) for (const col of cs) assert.ok(cols[t]?.includes(col), `deployed column ${t}.${col} still exists`);
    if (!drift.length) assert.deepEqual(cols, EXPECTED_COLUMNS);
    const smoke = py(c.env.python, dir, ['smoke.py'], { DATABASE_URL: url });
    assert.equal(smoke.code, 0, smoke.stderr);
    r = alembic(c.env.python, dir, ['revision', '--autogenerate', '-m', 'check', '--rev-id', 'check1'], { DATABASE_URL: url });
    assert.equal(r.code, 0, r.stderr);
    const found = [...r.stderr.matchAll(/Detected (added table|added column) '([^']+)'/g)].map((m) => `${m[1] === 'added table' ? 'create_table' : 'add_column'} ${m[2]}`).sort();
    assert.deepEqual(found, drift, 'a new autogenerate finds only the drift that was there before the fix');
    assert.doesNotMatch(r.stderr, /Detected removed/);
  } finally {
    db.drop();
  }
}

// A stuck run fails its test (waitForEnd) and the file fails after 10 minutes at most, instead of hanging.
describe('alembic-autogenerate-failure through the engine', { concurrency: 3, timeout: 600_000 }, () => {
  test('pre-existing model drift + a reserved name (SQLAlchemy 1.4 raises): the commit holds only the rename, the drift is listed', { skip: skipFor('debian-1.4') }, async () => {
    const c = await start('debian-1.4', { failures: ['reserved'], drift: true });
    assert.match(c.text, /Attribute name 'metadata' is reserved/);
    const run = await h.engine.waitForEnd(c.runId, 180_000);
    succeeded(c, run, { reserved: true });
    assert.deepEqual(out(run, 'reproduce').causes, ['reserved_attr']);
    assert.equal(out(run, 'reproduce').baseline, null, 'autogenerate cannot run at the base commit');
    assert.ok(run.steps.review_unresolved, 'the unresolved use went past a person (auto-approved here)');
    assert.equal(run.steps.prepare_branch, undefined, 'a pure code fix lands without a review branch');
  });

  test('async engine on a sync driver alone (SQLAlchemy 2.0, no drift): sync engine on the sync URL, env.py only', { skip: skipFor('sa-2.0') }, async () => {
    const c = await start('sa-2.0', { failures: ['async'], drift: false });
    assert.match(c.text, /The asyncio extension requires an async driver to be used/);
    const run = await h.engine.waitForEnd(c.runId, 180_000);
    succeeded(c, run, { envMode: 'sync' });
    assert.match(git(c.fx.remote, ['log', '-1', '--format=%B', 'main']), /an async engine .* was given a sync driver URL \(the loaded 'psycopg2' is not async/);
  });

  test('missing model imports (SQLAlchemy 1.4, drift): the migration holds only the newly imported table, on a review branch first', { skip: skipFor('debian-1.4') }, async () => {
    const e = envOr('debian-1.4') as PyEnv;
    const c = await start('debian-1.4', { failures: ['imports'], drift: true }, {
      text: (fx) => {
        // what CI saw: autogenerate against a database at head proposes dropping 'events'
        const db = scratchDb('ci');
        try {
          const url = dbUrl(db.name, PG_SYNC_URL);
          const dir = cloneFixture(fx, 'ci');
          assert.equal(alembic(e.python, dir, ['upgrade', 'head'], { DATABASE_URL: url }).code, 0);
          return alembic(e.python, dir, ['revision', '--autogenerate', '-m', 'ci'], { DATABASE_URL: url }).stderr;
        } finally {
          db.drop();
        }
      },
    });
    assert.match(c.text, /Detected removed table 'events'/);
    const run = await h.engine.waitForEnd(c.runId, 180_000);
    succeeded(c, run, { imports: true, migration: ['create_table alert_rules'] });
    assert.deepEqual(out(run, 'reproduce').removedDeclared, ['events']);
    assert.equal(run.approval?.actor, 'auto-approve');
  });

  test('all three combined (SQLAlchemy 2.1: the reserved name only warns); fixed one after another', { skip: skipFor('sa-2.1') }, async () => {
    const c = await start('sa-2.1', { failures: ['reserved', 'async', 'imports'], drift: false });
    assert.match(c.text, /should be left reserved for the MetaData instance/);
    const run = await h.engine.waitForEnd(c.runId, 240_000);
    succeeded(c, run, { reserved: true, envMode: 'sync', imports: true });
  });

  test('async app throughout, typed models (SQLAlchemy 2.1): the run_sync recipe on asyncpg', { skip: skipFor('sa-2.1', { asyncpg: true }) }, async () => {
    const c = await start('sa-2.1', { failures: ['reserved', 'async'], app: 'async', style: 'typed', drift: false });
    const run = await h.engine.waitForEnd(c.runId, 240_000);
    succeeded(c, run, { reserved: true, envMode: 'async' });
  });

  test('stale alert: the reserved-name alert on a repo a person already fixed ends succeeded, nothing pushed', { skip: skipFor('debian-1.4') }, async () => {
    const e = envOr('debian-1.4') as PyEnv;
    const broken = buildFixture({ failures: ['reserved'] });
    roots.push(broken.root);
    const text = failureText(broken, e.python, PG_SYNC_URL);
    const c = await start('debian-1.4', { failures: [], drift: true }, { text: () => text });
    const run = await h.engine.waitForEnd(c.runId, 180_000);
    assert.equal(run.status, 'succeeded', run.outcome);
    assert.match(run.outcome ?? '', /stale alert/);
    assert.match(run.outcome ?? '', /add_column users\.display_name/, 'the pending drift is reported');
    assert.equal(out(run, 'reproduce').healthy, true);
    assert.equal(run.steps.commit, undefined);
    assert.equal(run.steps.fix_reserved, undefined, 'no fix ran');
    nothingPushed(c);
  });

  test('an unrelated app error that mentions no Alembic failure: nothing pushed, even with a broken repo', { skip: skipFor('debian-1.4') }, async () => {
    const text = 'Traceback (most recent call last):\n  File "/app/api/handlers.py", line 41, in get_invoice\n    return invoices[request.args["id"]]\nKeyError: \'id\'\n';
    const healthy = await start('debian-1.4', { failures: [], drift: false }, { text: () => text, matches: false });
    const broken = await start('debian-1.4', { failures: ['reserved'], drift: false }, { text: () => text, matches: false });
    const r1 = await h.engine.waitForEnd(healthy.runId, 180_000);
    const r2 = await h.engine.waitForEnd(broken.runId, 180_000);
    assert.equal(r1.status, 'succeeded', r1.outcome);
    assert.match(r1.outcome ?? '', /The alert shows no Alembic failure/);
    assert.equal(r2.status, 'escalated', r2.outcome);
    assert.match(r2.outcome ?? '', /no Alembic failure, but the repo does fail/);
    for (const [c, r] of [[healthy, r1], [broken, r2]] as const) {
      assert.equal(r.steps.commit, undefined);
      nothingPushed(c);
    }
  });

  test('a failure the runbook does not know: escalated with the real output, nothing verified or pushed', { skip: skipFor('debian-1.4') }, async () => {
    const e = envOr('debian-1.4') as PyEnv;
    const c = await start('debian-1.4', { failures: [], drift: false, extraFiles: { 'backend/alembic/versions/0002_broken.py': BROKEN_MIGRATION } }, {
      text: (fx) => {
        const db = scratchDb('ci');
        try {
          return alembic(e.python, cloneFixture(fx, 'ci'), ['upgrade', 'head'], { DATABASE_URL: dbUrl(db.name, PG_SYNC_URL) }).stderr + '\nalembic upgrade head failed';
        } finally {
          db.drop();
        }
      },
      matches: false, // not one of the four failures this runbook is selected for; run by hand (the CLI warns)
    });
    assert.match(c.text, /relation "no_such_table" does not exist/);
    const run = await h.engine.waitForEnd(c.runId, 180_000);
    assert.equal(run.status, 'escalated', run.outcome);
    assert.match(run.outcome ?? '', /does not fix/);
    assert.match(run.outcome ?? '', /no_such_table/);
    assert.equal(run.steps.verify, undefined);
    nothingPushed(c);
  });

  test("healthy on a scratch database but the target's own database disagrees: escalated, not stale", { skip: skipFor('debian-1.4') }, async () => {
    const e = envOr('debian-1.4') as PyEnv;
    const fx0 = buildFixture({ failures: [], drift: false });
    roots.push(fx0.root);
    const prod = scratchDb('prod');
    try {
      const dir = cloneFixture(fx0, 'prod');
      assert.equal(alembic(e.python, dir, ['upgrade', 'head'], { DATABASE_URL: prod.url }).code, 0);
      psql(prod.url, 'ALTER TABLE users DROP COLUMN display_name'); // someone changed production by hand
      const broken = buildFixture({ failures: ['reserved'] });
      roots.push(broken.root);
      const text = failureText(broken, e.python, PG_SYNC_URL);
      const c = await start('debian-1.4', { failures: [], drift: false }, { text: () => text, databaseUrl: prod.url.replace('postgresql:', 'postgresql+psycopg2:') });
      const run = await h.engine.waitForEnd(c.runId, 180_000);
      assert.equal(run.status, 'escalated', run.outcome);
      assert.match(run.outcome ?? '', /Not stale/);
      assert.match(run.outcome ?? '', /add_column users\.display_name/);
      assert.equal(out(run, 'reproduce').targetDb.revisions[0], '0001');
      nothingPushed(c);
      assert.deepEqual(columns(prod.url).users, ['email', 'id', 'tenant_id'], "the target's database was only read");
    } finally {
      prod.drop();
    }
  });

  test('database down and the target says how to start it: started, reproduced healthy, nothing committed', { skip: skipFor('debian-1.4') }, async (t) => {
    if ('skip' in cluster) return t.skip(cluster.skip);
    const url = cluster.url.replace('postgresql:', 'postgresql+psycopg2:');
    const c = await start('debian-1.4', { failures: [], drift: true }, { databaseUrl: url, startDb: cluster.startArgv });
    assert.match(c.text, /Connection refused/);
    const run = await h.engine.waitForEnd(c.runId, 240_000);
    assert.equal(out(run, 'wait_db')?.available, true, run.outcome);
    assert.equal(out(run, 'wait_db').started.code, 0);
    assert.equal(run.status, 'succeeded', run.outcome);
    assert.match(run.outcome ?? '', /The database was unavailable at first and answers now/);
    assert.equal(run.steps.reproduce!.visit, 2);
    nothingPushed(c);
  });

  test('database down and nothing says how to start it: escalated with what was tried, nothing written or pushed', { skip: skipFor('debian-1.4') }, async () => {
    const port = await deadPort();
    const url = `postgresql+psycopg2://postgres:NotInLogs99@127.0.0.1:${port}/postgres`;
    // the secret lives in runwright's environment (as in production), never in the target or the runbook
    const secretEnv = `RW_TEST_ALEMBIC_DB_${Math.random().toString(36).slice(2, 8).toUpperCase()}`;
    process.env[secretEnv] = url;
    let c: Case;
    let run: RunRecord;
    try {
      c = await start('debian-1.4', { failures: [] }, { databaseUrl: url, secretEnv, wait: { attempts: 3, delay: 100, maxDelay: 200 } });
      run = await h.engine.waitForEnd(c.runId, 120_000);
    } finally {
      delete process.env[secretEnv];
    }
    assert.match(c.text, /Connection refused/);
    assert.equal(run.status, 'escalated', run.outcome);
    assert.match(run.outcome ?? '', /unavailable after 3 probes/);
    assert.match(run.outcome ?? '', /No migration was written by hand/);
    assert.match(run.outcome ?? '', /no settings\.alembic\.startDb/);
    assert.doesNotMatch(JSON.stringify(run), /NotInLogs99/);
    const events = await h.engine.store.events(c.runId);
    assert.doesNotMatch(JSON.stringify(events), /NotInLogs99/);
    assert.equal(run.steps.verify, undefined, 'no verification, no migration');
    nothingPushed(c);
  });
});

const BROKEN_MIGRATION = `"""a data migration that references a table nobody created

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("UPDATE no_such_table SET x = 1")


def downgrade():
    pass
`;
