// The alembic-autogenerate-failure runbook through the Engine on real Redis, per generated project: each failure
// alone and combined, on Debian's SQLAlchemy 1.4 and the 2.0 / 2.1 venvs, with the alert text taken from what
// real alembic printed. Afterwards an independent check on a fresh clone of the remote's new HEAD and a new
// scratch database: upgrade head and downgrade -1 pass, column names are what the deployed schema had, the
// app's own code runs; nobody's working copy changed; the run's scratch databases are gone. The database that
// stays down ends escalated with what was tried and nothing pushed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunRecord, Target } from '../../src/core/types.js';
import { matchesAlert } from '../../src/core/runbook.js';
import { alert as mkAlert, loadTestRunbooks, testEngine } from '../helpers/engine.js';
import { buildFixture, cloneFixture, DEPLOYED_COLUMNS, EXPECTED_COLUMNS, failureText, fixtureTarget, git, type AlembicFixture, type FixtureOptions } from '../fixtures/alembic/generate.js';
import { allEnvs, isSkip, type PyEnv } from '../fixtures/alembic/python-env.js';
import { columns, databasesLike, dbUrl, deadPort, pgAvailable, PG_SYNC_URL, privateCluster, scratchDb, type PrivateCluster } from '../fixtures/alembic/postgres.js';
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

async function start(envName: string, opts: FixtureOptions, o: { databaseUrl?: string; secretEnv?: string; startDb?: string[]; text?: (fx: AlembicFixture, e: PyEnv) => string; wait?: object } = {}): Promise<Case> {
  const env = envOr(envName) as PyEnv;
  const fx = buildFixture(opts);
  roots.push(fx.root);
  const target = fixtureTarget(fx, { python: env.python, databaseUrl: o.databaseUrl ?? PG_SYNC_URL, databaseUrlFrom: o.secretEnv, startDb: o.startDb, wait: o.wait as any, name: `al-${path.basename(fx.root).toLowerCase().replace(/[^a-z0-9-]/g, '')}` });
  const text = o.text ? o.text(fx, env) : failureText(fx, env.python, fx.urlFor(o.databaseUrl ?? PG_SYNC_URL));
  const a = mkAlert(text);
  assert.equal(await matchesAlert(rb, a), true, `the runbook matches the alert: ${text.slice(-400)}`);
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

/** Succeeded: one commit on the old head, and an independent check of the pushed tree on a new scratch database. */
function succeeded(c: Case, run: RunRecord, expectFixed: { reserved?: boolean; envMode?: 'sync' | 'async'; imports?: boolean }) {
  assert.equal(run.status, 'succeeded', `${run.outcome}\n${JSON.stringify(out(run, 'verify'))?.slice(0, 3000)}`);
  untouched(c);
  const head = git(c.fx.remote, ['rev-parse', 'main']);
  assert.notEqual(head, c.fx.head);
  assert.equal(git(c.fx.remote, ['rev-parse', `${head}^`]), c.fx.head, 'exactly one commit on top of the old head');
  const message = git(c.fx.remote, ['log', '-1', '--format=%B', head]);
  assert.match(message, /^alembic: /);
  assert.match(message, /Migration rw[0-9a-f]{10}/);
  assert.match(message, /Fixes: INC-7/);
  const files = git(c.fx.remote, ['show', '--name-only', '--format=', head]).split('\n').filter(Boolean).sort();
  const mig = out(run, 'verify').migration;
  assert.ok(files.includes(mig.file), `${mig.file} committed`);
  assert.equal(files.includes('backend/app/models/tenant.py'), !!expectFixed.reserved);
  assert.equal(files.includes('backend/alembic/env.py'), !!(expectFixed.envMode || expectFixed.imports));
  if (expectFixed.reserved) assert.match(message, /The column keeps its name/);
  if (expectFixed.envMode) assert.equal(out(run, 'fix_async').mode, expectFixed.envMode);
  if (expectFixed.imports) assert.deepEqual(out(run, 'fix_imports').missing, ['app.models.alert_rule', 'app.models.event']);
  // every scratch database the run made is gone
  assert.deepEqual(databasesLike(out(run, 'verify').scratchDb), []);

  // independent check of what was pushed
  const dir = cloneFixture(c.fx, `after-${Math.random().toString(36).slice(2, 8)}`);
  const db = scratchDb('e2e');
  try {
    const url = c.fx.urlFor(dbUrl(db.name, PG_SYNC_URL));
    let r = alembic(c.env.python, dir, ['upgrade', 'head'], { DATABASE_URL: url });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(columns(db.url), EXPECTED_COLUMNS, 'database column names: metadata stays metadata');
    const smoke = py(c.env.python, dir, ['smoke.py'], { DATABASE_URL: url });
    assert.equal(smoke.code, 0, smoke.stderr);
    r = alembic(c.env.python, dir, ['downgrade', '-1'], { DATABASE_URL: url });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(columns(db.url), c.fx.deployedColumns);
    r = alembic(c.env.python, dir, ['check'], { DATABASE_URL: url });
    // `alembic check` exists from alembic 1.9: at the deployed revision it must see the new migration's changes pending
    if (!/invalid choice/.test(r.stderr)) assert.notEqual(r.code, 0);
  } finally {
    db.drop();
  }
}

// A stuck run fails its test (waitForEnd) and the file fails after 10 minutes at most, instead of hanging.
describe('alembic-autogenerate-failure through the engine', { concurrency: 3, timeout: 600_000 }, () => {
  test('reserved attribute alone (SQLAlchemy 1.4: raises at class definition)', { skip: skipFor('debian-1.4') }, async () => {
    const c = await start('debian-1.4', { failures: ['reserved'] });
    assert.match(c.text, /Attribute name 'metadata' is reserved/);
    const run = await h.engine.waitForEnd(c.runId, 180_000);
    succeeded(c, run, { reserved: true });
    assert.equal(out(run, 'classify').primary, 'reserved_attr');
    assert.ok(run.steps.review_unresolved, 'the unresolved use went past a person (auto-approved here)');
    assert.equal(run.approval?.actor, 'auto-approve');
  });

  test('async/sync driver mismatch alone (SQLAlchemy 2.0): sync engine on the sync URL', { skip: skipFor('sa-2.0') }, async () => {
    const c = await start('sa-2.0', { failures: ['async'] });
    assert.match(c.text, /The asyncio extension requires an async driver to be used/);
    const run = await h.engine.waitForEnd(c.runId, 180_000);
    succeeded(c, run, { envMode: 'sync' });
  });

  test('missing model imports alone (SQLAlchemy 1.4): autogenerate would drop deployed tables', { skip: skipFor('debian-1.4') }, async () => {
    const e = envOr('debian-1.4') as PyEnv;
    const c = await start('debian-1.4', { failures: ['imports'] }, {
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
    succeeded(c, run, { imports: true });
  });

  test('all three combined (SQLAlchemy 2.1: the reserved name only warns); fixed one after another', { skip: skipFor('sa-2.1') }, async () => {
    const c = await start('sa-2.1', { failures: ['reserved', 'async', 'imports'] });
    assert.match(c.text, /should be left reserved for the MetaData instance/);
    const run = await h.engine.waitForEnd(c.runId, 240_000);
    succeeded(c, run, { reserved: true, envMode: 'sync', imports: true });
    assert.ok(run.steps.verify!.visit >= 2, 'the missing imports were found by a failed verification and classified again');
  });

  test('all three combined (SQLAlchemy 1.4)', { skip: skipFor('debian-1.4') }, async () => {
    const c = await start('debian-1.4', { failures: ['reserved', 'async', 'imports'] });
    const run = await h.engine.waitForEnd(c.runId, 240_000);
    succeeded(c, run, { reserved: true, envMode: 'sync', imports: true });
    assert.equal(run.steps.verify!.visit, 3, 'reserved → verify (async) → verify (imports) → verify ok');
  });

  test('async app throughout, typed models (SQLAlchemy 2.1): the run_sync recipe on asyncpg', { skip: skipFor('sa-2.1', { asyncpg: true }) }, async () => {
    const c = await start('sa-2.1', { failures: ['reserved', 'async'], app: 'async', style: 'typed' });
    const run = await h.engine.waitForEnd(c.runId, 240_000);
    succeeded(c, run, { reserved: true, envMode: 'async' });
  });

  test('database down and the target says how to start it: started, then verified, migration committed', { skip: skipFor('debian-1.4') }, async (t) => {
    if ('skip' in cluster) return t.skip(cluster.skip);
    const url = cluster.url.replace('postgresql:', 'postgresql+psycopg2:');
    const c = await start('debian-1.4', { failures: [] }, { databaseUrl: url, startDb: cluster.startArgv });
    assert.match(c.text, /Connection refused/);
    const run = await h.engine.waitForEnd(c.runId, 240_000);
    assert.equal(out(run, 'wait_db')?.available, true, run.outcome);
    assert.equal(out(run, 'wait_db').started.code, 0);
    assert.match(out(run, 'verify').server, new RegExp(`127\\.0\\.0\\.1:${cluster.port}/`), 'verified on the database it started');
    succeeded(c, run, {});
    assert.match(git(c.fx.remote, ['log', '-1', '--format=%B', 'main']), /The database was unavailable at first; started it/);
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
    assert.equal(git(c.fx.remote, ['rev-parse', 'main']), c.fx.head, 'nothing pushed');
    assert.equal(run.steps.verify, undefined, 'no verification, no migration');
    untouched(c);
  });
});
