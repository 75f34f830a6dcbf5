// The path the owners score on: `runwright run alembic-autogenerate-failure --alert FILE --target NAME --targets FILE
// --platform local --auto-approve --json`, as a real CLI process against real Redis, git, alembic and PostgreSQL,
// with the targets described in a targets file (settings.alembic: project folder and database URL). A reserved
// name with pre-existing drift lands as the rename alone; a stale alert and an unrelated app error push nothing.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildFixture, failureText, git, type AlembicFixture } from '../fixtures/alembic/generate.js';
import { debianEnv, isSkip, type PyEnv } from '../fixtures/alembic/python-env.js';
import { pgAvailable, PG_SYNC_URL } from '../fixtures/alembic/postgres.js';
import { cleanupPrefix, REDIS_URL, testPrefix } from '../helpers/redis.js';
import { runAlembicRunbook } from '../fixtures/alembic/cli.js';

const pg = pgAvailable();
const deb = debianEnv();
const skip = pg !== true ? pg.skip : isSkip(deb) ? deb.skip : false;
const roots: string[] = [];
const prefixes: string[] = [];
after(async () => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  for (const p of prefixes) await cleanupPrefix(p);
});

function fixture(failures: ('reserved' | 'async' | 'imports')[], drift: boolean): AlembicFixture {
  const fx = buildFixture({ failures, drift });
  roots.push(fx.root);
  return fx;
}

/** A targets file the way an operator writes it (YAML, the database URL in settings.alembic). */
function targetsFile(dir: string, name: string, fx: AlembicFixture, python: string, deploy: boolean): string {
  const file = path.join(dir, 'runwright.targets.yaml');
  writeFileSync(
    file,
    `targets:
  - name: ${name}
    repo: ${fx.remote}
    branch: main
    modelsDir: ${fx.modelsDir}
    platform: local
    python: ${python}
    labels: { service: ${name} }
${deploy ? `    local:\n      command: [${python}, -c, "import app.models; print('worker ok')"]\n      workdir: ${fx.projectDir}\n` : ''}    settings:
      alembic:
        dir: ${fx.projectDir}
        databaseUrl: "${PG_SYNC_URL}"
`,
  );
  return file;
}

async function runCli(fx: AlembicFixture, e: PyEnv, alertText: string, o: { deploy?: boolean; autoApprove?: boolean } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rw-cli-alembic-'));
  roots.push(dir);
  const name = `cli-${path.basename(fx.root).toLowerCase().replace(/[^a-z0-9-]/g, '')}`;
  const targets = targetsFile(dir, name, fx, e.python, !!o.deploy);
  const alertFile = path.join(dir, 'alert.txt');
  writeFileSync(alertFile, alertText);
  const prefix = testPrefix('clialembic');
  prefixes.push(prefix);
  const r = await runAlembicRunbook({ alertFile, target: name, targets, dir, prefix, redisUrl: REDIS_URL, autoApprove: o.autoApprove });
  if (!r.run) assert.fail(`no JSON from the CLI (exit ${r.code}): ${r.stdout.slice(0, 500)}\n${r.stderr.slice(-2000)}`);
  return r;
}

describe('runwright run alembic-autogenerate-failure (the CLI, a targets file)', { skip, concurrency: 3, timeout: 600_000 }, () => {
  test('reserved name + pre-existing drift: exit 0, the commit holds only the rename, the drift is in the outcome', async () => {
    const e = deb as PyEnv;
    const fx = fixture(['reserved'], true);
    const r = await runCli(fx, e, failureText(fx, e.python, PG_SYNC_URL), { deploy: true });
    assert.equal(r.code, 0, `${r.run.status}: ${r.run.outcome}`);
    assert.equal(r.run.status, 'succeeded');
    // landed like the SQLAlchemy runbook's fixes: built, deployed (the target's local job) and its logs checked
    assert.equal(r.run.steps.build.status, 'succeeded');
    assert.equal(r.run.steps.deploy.output.status, 'succeeded');
    assert.equal(r.run.steps.verify_logs.status, 'succeeded');
    assert.match(r.run.outcome, /built, deployed/);
    const head = git(fx.remote, ['rev-parse', 'main']);
    assert.equal(git(fx.remote, ['rev-parse', `${head}^`]), fx.head);
    const files = git(fx.remote, ['show', '--name-only', '--format=', head]).split('\n').filter(Boolean).sort();
    assert.deepEqual(files, ['backend/app/models/event.py', 'backend/app/models/tenant.py', 'backend/app/services/tenants.py']);
    assert.match(r.run.outcome, /NOT committed: .*add_column users\.display_name/);
    assert.match(r.run.outcome, /create_table alert_rules/);
  });

  test('a fix that adds a migration waits for an approval on a review branch; the target branch is untouched (exit 3)', async () => {
    const e = deb as PyEnv;
    const fx = fixture(['imports'], true);
    const r = await runCli(fx, e, 'alembic revision --autogenerate: INFO  [alembic.autogenerate.compare] Detected removed table \'events\'\n', { autoApprove: false });
    assert.equal(r.code, 3, `${r.run.status}: ${r.run.outcome}`);
    assert.equal(r.run.status, 'waiting_approval');
    assert.equal(git(fx.remote, ['rev-parse', 'main']), fx.head, 'main untouched');
    const branch = `runwright/${r.run.id}`;
    const sha = git(fx.remote, ['rev-parse', branch]);
    assert.equal(git(fx.remote, ['rev-parse', `${sha}^`]), fx.head);
    const files = git(fx.remote, ['show', '--name-only', '--format=', sha]).split('\n').filter(Boolean);
    assert.equal(files.filter((f) => f.includes('/versions/')).length, 1, files.join(', '));
    const migration = git(fx.remote, ['show', `${sha}:${files.find((f) => f.includes('/versions/'))}`]);
    assert.match(migration, /create_table\('alert_rules'/);
    assert.doesNotMatch(migration, /display_name/, 'pre-existing drift is not in the migration');
  });

  test('stale alert (the repo was fixed by a person): exit 0, nothing pushed', async () => {
    const e = deb as PyEnv;
    const broken = fixture(['reserved'], false);
    const fx = fixture([], false);
    const r = await runCli(fx, e, failureText(broken, e.python, PG_SYNC_URL));
    assert.equal(r.code, 0, r.run.outcome);
    assert.match(r.run.outcome, /stale alert/);
    assert.equal(git(fx.remote, ['rev-parse', 'main']), fx.head);
    assert.equal(git(fx.remote, ['for-each-ref', '--format=%(refname)', 'refs/heads/']), 'refs/heads/main');
  });

  test('an unrelated app error on a broken repo: the CLI warns it does not match, nothing pushed', async () => {
    const e = deb as PyEnv;
    const fx = fixture(['async'], false);
    const r = await runCli(fx, e, 'ERROR payment webhook failed: stripe.error.CardError: Your card was declined.\n');
    assert.match(r.stderr, /does not match runbook/);
    assert.equal(r.run.status, 'escalated', r.run.outcome);
    assert.equal(git(fx.remote, ['rev-parse', 'main']), fx.head);
    assert.equal(git(fx.remote, ['for-each-ref', '--format=%(refname)', 'refs/heads/']), 'refs/heads/main');
  });
});
