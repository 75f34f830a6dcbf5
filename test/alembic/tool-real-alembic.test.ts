// python/alembic_tool.py against real alembic and real PostgreSQL, on Debian's SQLAlchemy 1.4 and the 2.0 / 2.1
// venvs: each generated project fails the way SQLAlchemy really fails, the tool's fixes make
// `revision --autogenerate`, `upgrade head` and `downgrade -1` pass, the app's own code still works (smoke.py),
// and the database keeps its column names ("metadata" stays "metadata").
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { buildFixture, cloneFixture, DEPLOYED_COLUMNS, EXPECTED_COLUMNS } from '../fixtures/alembic/generate.js';
import { allEnvs, isSkip, type PyEnv } from '../fixtures/alembic/python-env.js';
import { columns, dbUrl, pgAvailable, PG_SYNC_URL, scratchDb } from '../fixtures/alembic/postgres.js';
import { alembic, py, tool } from '../fixtures/alembic/run.js';

const pg = pgAvailable();
const envs = allEnvs();
const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function generated(dir: string, rid: string): string {
  const f = readdirSync(path.join(dir, 'alembic', 'versions')).find((n) => n.startsWith(`${rid}_`));
  assert.ok(f, `alembic wrote no ${rid}_*.py`);
  return path.join(dir, 'alembic', 'versions', f);
}

/** upgrade head, the app's smoke test, downgrade -1 and offline SQL, with the database's columns after each. */
function migratesBothWays(e: PyEnv, dir: string, envVars: Record<string, string>, url: string, deployed: Record<string, string[]>): void {
  let r = alembic(e.python, dir, ['upgrade', 'head'], envVars);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(columns(url), EXPECTED_COLUMNS);
  const smoke = py(e.python, dir, ['smoke.py'], envVars);
  assert.equal(smoke.code, 0, smoke.stderr);
  assert.deepEqual(JSON.parse(smoke.stdout), { plan: 'pro', pro: ['acme'], source: 'api' });
  r = alembic(e.python, dir, ['downgrade', '-1'], envVars);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(columns(url), deployed);
  r = alembic(e.python, dir, ['upgrade', 'head', '--sql'], envVars);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /CREATE TABLE alert_rules/);
}

for (const { name, env } of envs) {
  describe(`alembic_tool on ${name}`, { skip: pg !== true ? pg.skip : isSkip(env) ? env.skip : false }, () => {
    const e = env as PyEnv;
    const major = Number(e.sqlalchemy.split('.')[0]);
    const minor = Number(e.sqlalchemy.split('.')[1]);

    test('reserved + async + missing imports: each failure is real, each fix is needed, the result migrates both ways', () => {
      const fx = buildFixture({ failures: ['reserved', 'async', 'imports'] });
      roots.push(fx.root);
      const dir = cloneFixture(fx);
      const db = scratchDb('tool');
      try {
        const envVars = { DATABASE_URL: dbUrl(db.name, PG_SYNC_URL) };
        // 1. as committed: the reserved attribute (1.4/2.0 raise; 2.1 warns and then hits the async engine)
        let r = alembic(e.python, dir, ['upgrade', 'head'], envVars);
        assert.notEqual(r.code, 0);
        if (major === 2 && minor >= 1) {
          assert.match(r.stderr, /Attribute name 'metadata' should be left reserved/);
          assert.match(r.stderr, /The asyncio extension requires an async driver to be used\. The loaded 'psycopg2' is not async\./);
        } else {
          assert.match(r.stderr, /Attribute name 'metadata' is reserved/);
        }
        const fixed = tool(e.python, 'reserved-fix', { root: dir, exclude: ['alembic/versions'] });
        assert.deepEqual(fixed.renamed.map((x: any) => [x.class, x.newAttribute, x.column]).sort(), [['Event', 'event_metadata', 'metadata'], ['Tenant', 'tenant_metadata', 'metadata']]);
        assert.match(readFileSync(path.join(dir, 'app/models/tenant.py'), 'utf8'), /tenant_metadata = Column\("metadata", JSONB, nullable=True\)/);
        assert.equal(fixed.unresolved.length, 1, JSON.stringify(fixed.unresolved));
        assert.equal(fixed.unresolved[0].code, 'return repr(obj.metadata)');

        // 2. the async engine on a sync driver
        r = alembic(e.python, dir, ['upgrade', 'head'], envVars);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /The asyncio extension requires an async driver to be used/);
        const envFix = tool(e.python, 'env-fix', { projectDir: dir, envPy: 'alembic/env.py', exclude: ['alembic'] });
        assert.equal(envFix.mode, 'sync');
        assert.deepEqual(envFix.problems, []);
        r = alembic(e.python, dir, ['upgrade', 'head'], envVars);
        assert.equal(r.code, 0, r.stderr);

        // 3. missing imports: autogenerate wants to drop a deployed table
        r = alembic(e.python, dir, ['revision', '--autogenerate', '-m', 'probe', '--rev-id', 'probe1'], envVars);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /Detected removed table 'events'/);
        const probeFile = generated(dir, 'probe1');
        const probeOps = tool(e.python, 'migration-ops', { file: probeFile });
        assert.ok(probeOps.destructive.some((o: any) => o.op === 'drop_table' && o.table === 'events'), JSON.stringify(probeOps));
        rmSync(probeFile);
        const imp = tool(e.python, 'imports-fix', { projectDir: dir, envPy: 'alembic/env.py', modelsDir: 'app/models', exclude: ['alembic/versions'] });
        assert.deepEqual(imp.missing, ['app.models.alert_rule', 'app.models.event']);

        // 4. verification: autogenerate, upgrade, app smoke, downgrade, offline
        r = alembic(e.python, dir, ['revision', '--autogenerate', '-m', 'pending model changes', '--rev-id', 'rw0002'], envVars);
        assert.equal(r.code, 0, r.stderr);
        const ops = tool(e.python, 'migration-ops', { file: generated(dir, 'rw0002') });
        assert.deepEqual(ops.destructive, []);
        assert.deepEqual(ops.upgrade.map((o: any) => `${o.op}:${o.table}${o.column ? '.' + o.column : ''}`).sort(), ['add_column:users.display_name', 'create_table:alert_rules']);
        migratesBothWays(e, dir, envVars, db.url, DEPLOYED_COLUMNS);

        // 5. the fixes are idempotent: a second pass changes nothing
        assert.deepEqual(tool(e.python, 'reserved-fix', { root: dir, exclude: ['alembic/versions'] }).changedFiles, []);
        assert.deepEqual(tool(e.python, 'env-fix', { projectDir: dir, envPy: 'alembic/env.py', exclude: ['alembic'] }).changedFiles, []);
        assert.deepEqual(tool(e.python, 'imports-fix', { projectDir: dir, envPy: 'alembic/env.py', modelsDir: 'app/models', exclude: ['alembic/versions'] }).changedFiles, []);
      } finally {
        db.drop();
      }
    });

    test('async app throughout (typed models): the run_sync recipe on asyncpg, offline mode intact', { skip: major < 2 ? 'by design: async_sessionmaker and Mapped need SQLAlchemy 2.x (this env has 1.4)' : !e.asyncpg ? 'no asyncpg+greenlet in this env' : false }, () => {
      const fx = buildFixture({ failures: ['reserved', 'async'], style: 'typed', app: 'async' });
      roots.push(fx.root);
      const dir = cloneFixture(fx);
      const db = scratchDb('tasync');
      try {
        const envVars = { DATABASE_URL: fx.urlFor(db.url) };
        assert.match(envVars.DATABASE_URL, /^postgresql\+asyncpg:/);
        let r = alembic(e.python, dir, ['upgrade', 'head'], envVars);
        assert.notEqual(r.code, 0);
        const fixed = tool(e.python, 'reserved-fix', { root: dir, exclude: ['alembic/versions'] });
        assert.match(readFileSync(path.join(dir, 'app/models/tenant.py'), 'utf8'), /tenant_metadata: Mapped\[Optional\[dict\]\] = mapped_column\("metadata", JSONB, nullable=True\)/);
        assert.equal(fixed.renamed.length, 2);
        r = alembic(e.python, dir, ['upgrade', 'head'], envVars);
        assert.notEqual(r.code, 0);
        // 2.0: psycopg2 loaded into the async engine; 2.1: the bare URL's default driver (psycopg) is not installed
        assert.match(r.stderr, /The asyncio extension requires an async driver|No module named 'psycopg'/);
        const envFix = tool(e.python, 'env-fix', { projectDir: dir, envPy: 'alembic/env.py', exclude: ['alembic'] });
        assert.equal(envFix.mode, 'async');
        assert.equal(envFix.analysis.asyncThroughout, true);
        const envText = readFileSync(path.join(dir, 'alembic/env.py'), 'utf8');
        assert.match(envText, /await connection\.run_sync\(do_run_migrations\)/);
        assert.match(envText, /async_engine_from_config\(\s*_runwright_async_section\(/);
        r = alembic(e.python, dir, ['upgrade', 'head'], envVars);
        assert.equal(r.code, 0, r.stderr);
        r = alembic(e.python, dir, ['revision', '--autogenerate', '-m', 'pending', '--rev-id', 'rwa002'], envVars);
        assert.equal(r.code, 0, r.stderr);
        const ops = tool(e.python, 'migration-ops', { file: generated(dir, 'rwa002') });
        assert.deepEqual(ops.destructive, []);
        assert.ok(ops.upgrade.some((o: any) => o.op === 'create_table' && o.table === 'alert_rules'));
        migratesBothWays(e, dir, envVars, db.url, DEPLOYED_COLUMNS);
      } finally {
        db.drop();
      }
    });
  });
}

describe('alembic_tool on a project without migration history', { skip: pg !== true ? pg.skip : isSkip(envs[0]!.env) ? envs[0]!.env.skip : false }, () => {
  let e: PyEnv;
  before(() => {
    e = envs[0]!.env as PyEnv;
  });
  test('missing imports on an empty database: autogenerate silently leaves tables out until every model module is imported', () => {
    const fx = buildFixture({ failures: ['imports'], history: false });
    roots.push(fx.root);
    const dir = cloneFixture(fx);
    const db = scratchDb('fresh');
    try {
      const envVars = { DATABASE_URL: dbUrl(db.name, PG_SYNC_URL) };
      const declared = tool(e.python, 'model-tables', { root: dir, modelsDir: 'app/models', exclude: ['alembic/versions'] });
      assert.deepEqual(Object.keys(declared.tables).sort(), ['alert_rules', 'events', 'tenants', 'users']);
      let r = alembic(e.python, dir, ['revision', '--autogenerate', '-m', 'initial', '--rev-id', 'before'], envVars);
      assert.equal(r.code, 0, r.stderr);
      const before = tool(e.python, 'migration-ops', { file: generated(dir, 'before') });
      assert.deepEqual(before.upgrade.filter((o: any) => o.op === 'create_table').map((o: any) => o.table).sort(), ['tenants', 'users']);
      rmSync(generated(dir, 'before'));
      tool(e.python, 'imports-fix', { projectDir: dir, envPy: 'alembic/env.py', modelsDir: 'app/models', exclude: ['alembic/versions'] });
      r = alembic(e.python, dir, ['revision', '--autogenerate', '-m', 'initial', '--rev-id', 'after1'], envVars);
      assert.equal(r.code, 0, r.stderr);
      const afterOps = tool(e.python, 'migration-ops', { file: generated(dir, 'after1') });
      assert.deepEqual(afterOps.upgrade.filter((o: any) => o.op === 'create_table').map((o: any) => o.table).sort(), ['alert_rules', 'events', 'tenants', 'users']);
      r = alembic(e.python, dir, ['upgrade', 'head'], envVars);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(columns(db.url), EXPECTED_COLUMNS);
      r = alembic(e.python, dir, ['downgrade', '-1'], envVars);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(columns(db.url), {});
    } finally {
      db.drop();
    }
  });
});
