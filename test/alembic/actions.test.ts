// The alembic.* actions called directly with a real ActionContext: a real clone (git.checkout), real alembic
// and PostgreSQL, the failure texts produced by running the broken projects for real.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Action, ActionContext } from '../../src/core/action.js';
import type { Target } from '../../src/core/types.js';
import { PermanentError } from '../../src/core/errors.js';
import { actions as alembicActions } from '../../src/actions/alembic/index.js';
import { actions as gitActions } from '../../src/actions/git/index.js';
import { actionContext } from '../helpers/action-ctx.js';
import { buildFixture, cloneFixture, DEPLOYED_COLUMNS, failureText, EXPECTED_COLUMNS, fixtureTarget, git, type AlembicFixture, type Failure, type FixtureOptions } from '../fixtures/alembic/generate.js';
import { debianEnv, isSkip, venvEnv, type PyEnv } from '../fixtures/alembic/python-env.js';
import { databasesLike, dbUrl, deadPort, pgAvailable, PG_SYNC_URL, privateCluster, scratchDb, type PrivateCluster } from '../fixtures/alembic/postgres.js';
import { alembic } from '../fixtures/alembic/run.js';

const byName = new Map<string, Action>([...alembicActions, ...gitActions].map((a) => [a.name, a]));
async function call(name: string, params: unknown, ctx: ActionContext): Promise<any> {
  const a = byName.get(name)!;
  const parsed = a.params.safeParse(params);
  if (!parsed.success) throw new Error(`bad params for ${name}: ${JSON.stringify(parsed.error.issues)}`);
  return await a.run(parsed.data, ctx);
}

const pg = pgAvailable();
const deb = debianEnv();
const skip = pg !== true ? pg.skip : isSkip(deb) ? deb.skip : false;
const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function fixture(failures: Failure[], opts: Partial<FixtureOptions> = {}): AlembicFixture {
  const fx = buildFixture({ failures, ...opts });
  roots.push(fx.root);
  return fx;
}

/** A context on a fresh clone of the fixture (git.checkout into the run's workdir). */
async function cloned(target: Target, stepId = 'step'): Promise<{ ctx: ActionContext; dir: string }> {
  const ctx = actionContext({ target, stepId });
  roots.push(ctx.workdir);
  const co = await call('git.checkout', { name: 'repo' }, ctx);
  assert.equal(co.checkout, 'repo');
  return { ctx, dir: path.join(ctx.workdir, co.checkout) };
}

describe('alembic.classify on what real alembic prints', { skip }, () => {
  const e = deb as PyEnv;
  test('each failure alone, and combined (first the one that stops the rest)', async () => {
    const ctx = actionContext({ target: fixtureTarget(fixture([]), { python: e.python, databaseUrl: PG_SYNC_URL }) });
    const cls = (text: string) => call('alembic.classify', { text }, ctx);
    const port = await deadPort();
    const cases: [Failure[], string, string[]][] = [
      [['reserved'], PG_SYNC_URL, ['reserved_attr']],
      [['async'], PG_SYNC_URL, ['async_driver']],
      [['reserved', 'async', 'imports'], PG_SYNC_URL, ['reserved_attr']],
      [[], `postgresql+psycopg2://postgres@127.0.0.1:${port}/postgres`, ['db_unavailable']],
    ];
    for (const [failures, url, causes] of cases) {
      const r = await cls(failureText(fixture(failures), e.python, url));
      assert.deepEqual(r.causes, causes, `${failures.join('+') || 'healthy, database down'}: ${JSON.stringify(r.hits)}`);
    }
    // missing imports show up as autogenerate wanting to drop a deployed table (the database must be at head)
    const fx = fixture(['imports']);
    const dir = cloneFixture(fx, 'imports-probe');
    const db = scratchDb('cls');
    try {
      const url = dbUrl(db.name, PG_SYNC_URL);
      assert.equal(alembic(e.python, dir, ['upgrade', 'head'], { DATABASE_URL: url }).code, 0);
      const r = alembic(e.python, dir, ['revision', '--autogenerate', '-m', 'x'], { DATABASE_URL: url });
      const c = await cls(r.stderr);
      assert.deepEqual(c.causes, ['missing_imports']);
      assert.equal(c.reservedAttributes.length, 0);
    } finally {
      db.drop();
    }
  });

  test("hostile or wrong text: 'id' is not reserved, regex metacharacters and huge input are inert", async () => {
    const ctx = actionContext({ target: fixtureTarget(fixture([]), { python: e.python, databaseUrl: PG_SYNC_URL }) });
    const r = await call('alembic.classify', { text: "InvalidRequestError: Attribute name 'id' is reserved when using the Declarative API. $(rm -rf /) ../../etc/passwd (a+)+$" }, ctx);
    assert.deepEqual(r.causes, []);
    assert.equal(r.primary, 'unknown');
    assert.deepEqual(r.notReserved, ['id']);
    const t0 = Date.now();
    const big = await call('alembic.classify', { text: `${'a'.repeat(500_000)}Attribute name '${'x'.repeat(5000)}` }, ctx);
    assert.deepEqual(big.causes, []);
    assert.ok(Date.now() - t0 < 2000, `classification took ${Date.now() - t0} ms`);
  });
});

describe('fix actions and verify on a real clone', { skip }, () => {
  const e = deb as PyEnv;
  test('combined failures: each fix, then verify passes, keeps columns, drops its scratch database; commit_message explains it', async () => {
    const fx = fixture(['reserved', 'async', 'imports']);
    const target = fixtureTarget(fx, { python: e.python, databaseUrl: PG_SYNC_URL.replace('postgres@', 'postgres:Sup3rSecretPW@') });
    const { ctx, dir } = await cloned(target, 'verify');
    const userCopyBefore = readFileSync(path.join(fx.userCopy, 'README.md'), 'utf8');

    // verify first: fails, and says why in words classify understands
    const v0 = await call('alembic.verify', {}, ctx);
    assert.equal(v0.ok, false);
    assert.equal(v0.stage, 'upgrade_existing');
    assert.deepEqual((await call('alembic.classify', { text: v0.failureText }, ctx)).causes, ['reserved_attr']);

    const reserved = await call('alembic.fix_reserved_attr', {}, ctx);
    assert.equal(reserved.found, true);
    assert.deepEqual(reserved.changedFiles.sort(), ['backend/app/models/event.py', 'backend/app/models/tenant.py', 'backend/app/services/tenants.py']);
    assert.equal(reserved.unresolvedCount, 1);
    assert.match(reserved.diff, /\+    tenant_metadata = Column\("metadata", JSONB, nullable=True\)/);
    const asyncEnv = await call('alembic.fix_async_env', {}, ctx);
    assert.equal(asyncEnv.mode, 'sync');
    assert.deepEqual(asyncEnv.changedFiles, ['backend/alembic/env.py']);

    // missing imports: verify refuses the migration that would drop 'events'
    const v1 = await call('alembic.verify', {}, { ...ctx, idempotencyKey: `${ctx.idempotencyKey}.b` });
    assert.equal(v1.ok, false);
    assert.equal(v1.stage, 'review');
    assert.match(v1.failureText, /drop_table events/);
    assert.deepEqual((await call('alembic.classify', { text: v1.failureText }, ctx)).causes, ['missing_imports']);
    assert.equal(git(dir, ['status', '--porcelain', '--', 'backend/alembic/versions']), '', 'a refused migration is not left behind');

    const imports = await call('alembic.fix_model_imports', {}, ctx);
    assert.deepEqual(imports.missing, ['app.models.alert_rule', 'app.models.event']);
    const ctxC = { ...ctx, idempotencyKey: `${ctx.idempotencyKey}.c` };
    const v2 = await call('alembic.verify', { importedModules: imports.missing, baseline: null }, ctxC);
    assert.equal(v2.ok, true, v2.failureText);
    // at-least-once delivery: the same step delivered again regenerates the same revision, once
    const again = await call('alembic.verify', { importedModules: imports.missing, baseline: null }, ctxC);
    assert.equal(again.ok, true, again.failureText);
    assert.equal(again.migration.revision, v2.migration.revision);
    assert.equal(again.scratchDb, v2.scratchDb);
    assert.equal(git(dir, ['status', '--porcelain', '--', 'backend/alembic/versions']).split('\n').filter(Boolean).length, 1);
    assert.deepEqual(v2.columns.before, DEPLOYED_COLUMNS);
    assert.deepEqual(v2.addedColumns, ['alert_rules.expression', 'alert_rules.id', 'alert_rules.tenant_id']);
    assert.equal(v2.migration.kept, true);
    // only the table the imports fix brought in; users.display_name was pending before the fix: reported, pruned
    assert.deepEqual(v2.migration.summary, ['create_table alert_rules']);
    assert.deepEqual(v2.drift, ['add_column users.display_name']);
    assert.match(v2.migration.text, /op\.create_table\('alert_rules'/);
    assert.doesNotMatch(v2.migration.text, /display_name/);
    assert.ok(v2.offlineSqlBytes > 0);
    assert.deepEqual(databasesLike(v2.scratchDb), [], 'scratch database dropped');
    for (const out of [v0, v1, v2]) assert.doesNotMatch(JSON.stringify(out), /Sup3rSecretPW/);
    assert.match(v2.server, /postgres:\*\*\*@/);

    const msg = await call('alembic.commit_message', { causes: ['reserved_attr', 'async_driver', 'missing_imports'], reserved, asyncEnv, imports, verify: v2 }, ctx);
    assert.deepEqual(msg.paths, ['backend/alembic/env.py', v2.migration.file, 'backend/app/models/event.py', 'backend/app/models/tenant.py', 'backend/app/services/tenants.py'].sort());
    assert.deepEqual(msg.unexpected, []);
    assert.match(msg.subject, /rename reserved (Event\.metadata, Tenant\.metadata|Tenant\.metadata, Event\.metadata); sync engine in env\.py; import every model module; add migration rw[0-9a-f]{10}/);
    assert.match(msg.body, /The column keeps its name/);
    assert.match(msg.body, /backend\/app\/services\/tenants\.py:\d+: return repr\(obj\.metadata\)/);
    const committed = await call('git.commit', { paths: msg.paths, subject: msg.subject, body: msg.body, fixes: 'INC-7' }, ctx);
    assert.equal(git(dir, ['status', '--porcelain']), '');
    assert.match(git(dir, ['show', '--stat', '--format=%B', committed.sha]), /Migration rw[0-9a-f]{10}/);
    // the user's working copy was never touched
    assert.equal(readFileSync(path.join(fx.userCopy, 'README.md'), 'utf8'), userCopyBefore);
    assert.equal(git(fx.userCopy, ['status', '--porcelain']), 'M README.md');
  });

  test('verify refuses a clone outside the run workdir (a user working copy)', async () => {
    const fx = fixture([]);
    const { ctx } = await cloned(fixtureTarget(fx, { python: e.python, databaseUrl: PG_SYNC_URL }));
    await assert.rejects(call('alembic.verify', { dir: fx.userCopy }, ctx), /outside the run's workdir/);
    await assert.rejects(call('alembic.fix_reserved_attr', { dir: fx.userCopy }, ctx), /outside the run's workdir/);
    // named, never located: a crafted checkout name is refused before any tool runs
    for (const checkout of ['../x', fx.userCopy, 'repo/../../etc']) {
      await assert.rejects(call('alembic.verify', { checkout }, ctx), /checkout/, checkout);
      await assert.rejects(ctx.checkout(checkout), (err: unknown) => err instanceof PermanentError && err.code === 'bad_checkout', checkout);
    }
  });
});

describe('alembic.wait_for_db', { skip }, () => {
  const e = deb as PyEnv;
  let cluster: PrivateCluster | { skip: string };
  before(async () => {
    cluster = await privateCluster();
  });
  after(() => {
    if (!('skip' in cluster)) cluster.stop();
  });

  test('down and no way to start it: bounded probes, then available=false with what was tried', async () => {
    const port = await deadPort();
    const fx = fixture([]);
    const target = fixtureTarget(fx, { python: e.python, databaseUrl: `postgresql+psycopg2://postgres:pw1234567@127.0.0.1:${port}/postgres`, wait: { attempts: 3, delay: 50, maxDelay: 100 } });
    const ctx = actionContext({ target });
    roots.push(ctx.workdir);
    const r = await call('alembic.wait_for_db', {}, ctx);
    assert.equal(r.available, false);
    assert.equal(r.kind, 'refused');
    assert.equal(r.started, null);
    assert.equal(r.tried.filter((t: string) => t.startsWith('probe')).length, 3);
    assert.match(r.tried.at(-1), /no settings\.alembic\.startDb/);
    assert.match(r.summary, /No migration was written by hand/);
    assert.doesNotMatch(JSON.stringify(r), /pw1234567/);
  });

  test("down, and the target says how to start it: started once, then up", async (t) => {
    if ('skip' in cluster) return t.skip(cluster.skip);
    const c = cluster;
    const fx = fixture([]);
    const target = fixtureTarget(fx, { python: e.python, databaseUrl: c.url.replace('postgresql:', 'postgresql+psycopg2:'), startDb: c.startArgv });
    const { ctx } = await cloned(target);
    const r = await call('alembic.wait_for_db', {}, ctx);
    assert.equal(r.available, true, JSON.stringify(r));
    assert.equal(r.started.code, 0, r.started.output);
    assert.match(r.tried[0], /^probe 1\/\d+: refused/);
    assert.ok(r.attempts >= 2);
    // and it really is a database alembic can use: verify passes on it
    const v = await call('alembic.verify', {}, ctx);
    assert.equal(v.ok, true, v.failureText);
  });
});

describe('2.x: the async app keeps run_sync', () => {
  const sa = venvEnv(process.env.RW_TEST_SA21_VERSION ?? '2.1.1');
  test('fix_async_env picks the run_sync recipe and verify passes on asyncpg', { skip: pg !== true ? pg.skip : isSkip(sa) ? sa.skip : !(sa as PyEnv).asyncpg ? 'no asyncpg' : false }, async () => {
    const e = sa as PyEnv;
    const fx = fixture(['async'], { app: 'async', style: 'typed', drift: false });
    const { ctx, dir } = await cloned(fixtureTarget(fx, { python: e.python, databaseUrl: PG_SYNC_URL }));
    const before = await call('alembic.verify', {}, ctx);
    assert.equal(before.ok, false);
    assert.deepEqual((await call('alembic.classify', { text: before.failureText }, ctx)).causes, ['async_driver']);
    const f = await call('alembic.fix_async_env', {}, ctx);
    assert.equal(f.mode, 'async');
    assert.match(f.diff, /_runwright_async_section\(/);
    const v = await call('alembic.verify', {}, { ...ctx, idempotencyKey: `${ctx.idempotencyKey}.2` });
    assert.equal(v.ok, true, v.failureText);
    assert.deepEqual(Object.keys(v.columns.after).sort(), Object.keys(EXPECTED_COLUMNS));
    assert.equal(v.migration.kept, false, 'an env.py fix implies no schema change');
    assert.deepEqual(v.drift, []);
    // a second fix on the fixed env.py changes nothing, and says so: not fixed
    const f2 = await call('alembic.fix_async_env', {}, ctx);
    assert.equal(f2.changed, false);
    assert.equal(f2.fixed, false);
    assert.match(f2.problems[0], /nothing to change/);
  });
});
