// Every template x driver: projects made by the real `alembic init -t generic|async` of Debian's alembic 1.8
// (SQLAlchemy 1.4) and of the index's current alembic (SQLAlchemy 2.1 venv), with sqlalchemy.url naming a sync
// (psycopg2) or an async (asyncpg) driver, in several layouts (monorepo subfolder, src layout through
// prepend_sys_path, script_location elsewhere, two version_locations). Each goes through the runbook on the
// Engine: the healthy ones end as stale alerts with nothing pushed; the broken ones get env.py (or the reserved
// name) fixed, pushed, and checked independently on a fresh database: upgrade head passes, the deployed columns
// exist, a new autogenerate finds nothing, and the commit holds only the fix.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunRecord } from '../../src/core/types.js';
import { iniWithUrl } from '../../src/actions/alembic/lib/common.js';
import { alert as mkAlert, loadTestRunbooks, testEngine } from '../helpers/engine.js';
import { git } from '../fixtures/alembic/generate.js';
import { debianEnv, isSkip, venvEnv, type PyEnv, type PyEnvOrSkip } from '../fixtures/alembic/python-env.js';
import { columns, pgAvailable, PG_SYNC_URL, scratchDb, type ScratchDb } from '../fixtures/alembic/postgres.js';
import { py, tool } from '../fixtures/alembic/run.js';
import { TEMPLATE_COLUMNS, templateProject, templateTarget, type Layout, type Template, type TemplateOptions, type TemplateProject } from '../fixtures/alembic/templates.js';

const RUNBOOK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../runbooks/alembic-autogenerate-failure.yaml');
const runbooks = loadTestRunbooks([RUNBOOK]);
const rb = runbooks.get('alembic-autogenerate-failure')!;
const pg = pgAvailable();
const envs: Record<string, PyEnvOrSkip> = { 'alembic-1.8': debianEnv(), current: venvEnv(process.env.RW_TEST_SA21_VERSION ?? '2.1.1') };
const roots: string[] = [];
const dbs: ScratchDb[] = [];

let h: Awaited<ReturnType<typeof testEngine>>;
before(async () => {
  h = await testEngine({ runbooks });
});
after(async () => {
  await h?.close();
  if (h) rmSync(h.config.workdir, { recursive: true, force: true });
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  for (const d of dbs) d.drop();
});

/** Run alembic in a checkout with alembic.ini's URL pointed at `url` (as an operator would). */
function alembicAt(python: string, cwd: string, url: string, args: string[]) {
  const ini = path.join(cwd, 'alembic.ini');
  writeFileSync(ini, iniWithUrl(readFileSync(ini, 'utf8'), url));
  return py(python, cwd, ['-m', 'alembic', ...args]);
}

function project(e: PyEnv, o: TemplateOptions): { p: TemplateProject; db: ScratchDb } {
  const db = scratchDb('tpl');
  dbs.push(db);
  const p = templateProject(e.python, db.url, o);
  roots.push(p.root);
  return { p, db };
}

/** What alembic prints for the project as committed (its own ini URL, its own database). */
function printed(e: PyEnv, p: TemplateProject): { code: number | null; text: string } {
  git(p.root, ['clone', '-q', p.remote, 'probe']);
  const r = py(e.python, path.join(p.root, 'probe', p.dir), ['-m', 'alembic', 'upgrade', 'head']);
  return { code: r.code, text: `${r.stderr}\n${r.stdout}` };
}

interface Case {
  env: string;
  template: Template;
  driver: 'psycopg2' | 'asyncpg';
  layout: Layout;
  reserved?: boolean;
  /** What the runbook must do. */
  expect: 'stale' | 'env' | 'reserved';
}

const CASES: Case[] = [
  { env: 'alembic-1.8', template: 'generic', driver: 'psycopg2', layout: 'root', expect: 'stale' },
  { env: 'alembic-1.8', template: 'async', driver: 'psycopg2', layout: 'monorepo', expect: 'env' }, // AsyncEngine(engine_from_config(...))
  { env: 'alembic-1.8', template: 'generic', driver: 'asyncpg', layout: 'scripts', expect: 'env' }, // no asyncpg on Debian
  { env: 'alembic-1.8', template: 'async', driver: 'asyncpg', layout: 'multi', expect: 'env' },
  { env: 'alembic-1.8', template: 'generic', driver: 'psycopg2', layout: 'src', reserved: true, expect: 'reserved' },
  { env: 'current', template: 'generic', driver: 'psycopg2', layout: 'scripts', expect: 'stale' },
  { env: 'current', template: 'async', driver: 'psycopg2', layout: 'multi', expect: 'env' }, // async_engine_from_config on psycopg2
  { env: 'current', template: 'generic', driver: 'asyncpg', layout: 'src', expect: 'env' }, // MissingGreenlet
  { env: 'current', template: 'async', driver: 'asyncpg', layout: 'monorepo', expect: 'stale' },
  { env: 'current', template: 'async', driver: 'asyncpg', layout: 'src', reserved: true, expect: 'reserved' }, // 2.1: warns
];

function skipFor(c: Case): string | false {
  if (pg !== true) return pg.skip;
  const e = envs[c.env]!;
  if (isSkip(e)) return e.skip;
  if (c.env === 'current' && c.driver === 'asyncpg' && !e.asyncpg) return 'no asyncpg in the venv';
  return false;
}

describe('alembic init templates x drivers through the runbook', { concurrency: 3, timeout: 600_000 }, () => {
  for (const c of CASES) {
    test(`${c.env}: -t ${c.template}, ${c.driver}, ${c.layout} layout${c.reserved ? ', reserved name' : ''} -> ${c.expect}`, { skip: skipFor(c) }, async () => {
      const e = envs[c.env] as PyEnv;
      const { p, db } = project(e, c);
      const seen = printed(e, p);
      let text = seen.text;
      if (c.expect === 'stale') {
        assert.equal(seen.code, 0, `the ${c.template} template on ${c.driver} works as committed: ${seen.text}`);
        // the alert is what the broken variant printed before a person fixed it
        const broken = project(e, { template: 'async', driver: 'psycopg2', layout: 'root' });
        text = printed(e, broken.p).text;
      } else if (c.reserved) {
        assert.match(seen.text, /Attribute name 'metadata' (is reserved|should be left reserved)/, 'SQLAlchemy refuses (1.4) or warns (2.1)');
      } else {
        assert.notEqual(seen.code, 0, `broken as committed: ${seen.text}`);
      }
      const name = `tpl-${path.basename(p.root).toLowerCase().replace(/[^a-z0-9-]/g, '')}`;
      const target = templateTarget(p, e.python, db.url.replace(/^postgresql:/, `postgresql+${c.driver}:`), name);
      const res = await h.engine.submit({ runbookId: rb.id, alert: mkAlert(text), target, inputs: { ticket: 'INC-9' }, autoApprove: true });
      assert.equal(res.result, 'created');
      const run: RunRecord = await h.engine.waitForEnd((res as { run: RunRecord }).run.id, 300_000);
      const o = (s: string) => run.steps[s]?.output as any;
      if (c.expect === 'stale') {
        assert.equal(run.status, 'succeeded', run.outcome);
        assert.match(run.outcome ?? '', /stale alert/);
        assert.equal(git(p.remote, ['rev-parse', 'main']), p.head, 'nothing pushed');
        assert.equal(run.steps.commit, undefined);
        return;
      }
      assert.equal(run.status, 'succeeded', `${run.outcome}\n${JSON.stringify(o('reproduce'))?.slice(0, 2000)}\n${JSON.stringify(o('verify'))?.slice(0, 2000)}`);
      const head = git(p.remote, ['rev-parse', 'main']);
      assert.equal(git(p.remote, ['rev-parse', `${head}^`]), p.head, 'one commit on the old head');
      const files = git(p.remote, ['show', '--name-only', '--format=', head]).split('\n').filter(Boolean).sort();
      const pre = p.dir === '.' ? '' : `${p.dir}/`;
      const scriptDir = c.layout === 'scripts' ? 'db/migrations' : 'alembic';
      if (c.expect === 'env') {
        assert.deepEqual(files, [`${pre}${scriptDir}/env.py`], 'only env.py');
        assert.equal(o('fix_async').fixed, true);
        const msg = git(p.remote, ['log', '-1', '--format=%B', head]);
        assert.match(msg, o('fix_async').analysis.asyncEngine ? /an async engine .* was given a sync driver URL/ : /a sync engine .* was given an async driver URL/);
      } else {
        assert.deepEqual(files, [`${pre}${p.modelsFile.replace('models.py', 'models.py')}`, `${pre}${p.modelsFile.replace('models.py', 'services.py')}`].sort(), 'only the rename');
        assert.match(git(p.remote, ['show', `${head}:${pre}${p.modelsFile}`]), /tenant_metadata = Column\("metadata", JSON, nullable=True\)/);
      }
      assert.equal(o('verify').migration.kept, false, 'no migration for a code fix');
      assert.deepEqual(o('verify').drift, []);

      // independent check on a fresh database, the way the project runs
      git(p.root, ['clone', '-q', p.remote, 'after']);
      const dir = path.join(p.root, 'after', p.dir);
      const fresh = scratchDb('tplchk');
      dbs.push(fresh);
      const url = fresh.url.replace(/^postgresql:/, `postgresql+${c.driver}:`);
      let r = alembicAt(e.python, dir, url, ['upgrade', 'head']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(columns(fresh.url), TEMPLATE_COLUMNS, 'the deployed columns still exist');
      r = alembicAt(e.python, dir, url, ['revision', '--autogenerate', '-m', 'check', '--rev-id', 'check1']);
      assert.equal(r.code, 0, r.stderr);
      const gen = readdirSync(path.join(dir, scriptDir, 'versions')).find((f) => f.startsWith('check1_'))!;
      assert.deepEqual(tool(e.python, 'migration-ops', { file: path.join(dir, scriptDir, 'versions', gen) }).upgrade, [], `a new autogenerate finds nothing: ${r.stderr}`);
    });
  }
});
