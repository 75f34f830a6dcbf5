// Truthful classification, from texts the real tools print:
// - database down in every supported driver's words: alembic projects (real `alembic init`) on psycopg2, psycopg 3
//   and asyncpg pointed at a port where nothing listens; the runbook's match rules select each text and
//   alembic.classify reads it as db_unavailable;
// - `registry` is reserved only where the installed SQLAlchemy objects to it: the tool's answer (probed with the
//   target's own SQLAlchemy) equals what importing the same model does under 1.4, 2.0 and 2.1.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { classifyText } from '../../src/actions/alembic/classify.js';
import { matchesAlert } from '../../src/core/runbook.js';
import { alert as mkAlert, loadTestRunbooks } from '../helpers/engine.js';
import { git } from '../fixtures/alembic/generate.js';
import { allEnvs, debianEnv, isSkip, venvEnv, type PyEnv, type PyEnvOrSkip } from '../fixtures/alembic/python-env.js';
import { deadPort } from '../fixtures/alembic/postgres.js';
import { py, tool, writeTree } from '../fixtures/alembic/run.js';
import { templateProject, type TemplateOptions } from '../fixtures/alembic/templates.js';

const RUNBOOK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../runbooks/alembic-autogenerate-failure.yaml');
const rb = loadTestRunbooks([RUNBOOK]).get('alembic-autogenerate-failure')!;
const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

const deb = debianEnv();
const psycopg3 = venvEnv(process.env.RW_TEST_SA21_VERSION ?? '2.1.1', ['psycopg[binary]']);

const DRIVERS: { name: string; env: PyEnvOrSkip; o: TemplateOptions; wording: RegExp }[] = [
  { name: 'psycopg2 (alembic 1.8, generic)', env: deb, o: { template: 'generic', driver: 'psycopg2' }, wording: /psycopg2\.OperationalError.*\n?.*Connection refused/ },
  { name: 'psycopg2 (current alembic, generic)', env: psycopg3, o: { template: 'generic', driver: 'psycopg2' }, wording: /Connection refused/ },
  { name: 'psycopg 3 (sync, generic)', env: psycopg3, o: { template: 'generic', driver: 'psycopg' }, wording: /psycopg\.OperationalError\) connection failed: connection to server at/ },
  { name: 'psycopg 3 (async, async template)', env: psycopg3, o: { template: 'async', driver: 'psycopg' }, wording: /connection failed: connection to server at/ },
  { name: 'asyncpg (async template)', env: psycopg3, o: { template: 'async', driver: 'asyncpg' }, wording: /Connect call failed/ },
];

describe('database down, in each driver\'s own words', { concurrency: 2 }, () => {
  for (const d of DRIVERS) {
    test(d.name, { skip: isSkip(d.env) ? d.env.skip : false }, async () => {
      const e = d.env as PyEnv;
      const port = await deadPort();
      const p = templateProject(e.python, `postgresql://postgres@127.0.0.1:${port}/app`, d.o);
      roots.push(p.root);
      git(p.root, ['clone', '-q', p.remote, 'probe']);
      const r = py(e.python, path.join(p.root, 'probe'), ['-m', 'alembic', 'upgrade', 'head']);
      assert.notEqual(r.code, 0);
      const text = r.stderr;
      assert.match(text, d.wording, text.slice(-1500));
      assert.equal(await matchesAlert(rb, mkAlert(text)), true, 'the runbook is selected by this wording');
      const c = classifyText(text);
      assert.equal(c.primary, 'db_unavailable', JSON.stringify(c.hits));
      assert.equal(c.alembicFailure, true);
    });
  }

  test('a connection refused from something else (Redis) is no Alembic failure', () => {
    const c = classifyText('redis.exceptions.ConnectionError: Error 111 connecting to localhost:6379. Connection refused.');
    assert.deepEqual(c.causes, ['db_unavailable']);
    assert.equal(c.alembicFailure, false);
  });
});

const MODEL = (attr: string, typed: boolean) =>
  typed
    ? `from sqlalchemy import JSON
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Doc(Base):
    __tablename__ = "docs"
    id: Mapped[int] = mapped_column(primary_key=True)
    ${attr} = mapped_column(JSON, nullable=True)
`
    : `from sqlalchemy import Column, Integer, JSON
from sqlalchemy.orm import declarative_base

Base = declarative_base()


class Doc(Base):
    __tablename__ = "docs"
    id = Column(Integer, primary_key=True)
    ${attr} = Column(JSON, nullable=True)
`;

describe('reserved names are what the installed SQLAlchemy objects to', () => {
  for (const { name, env } of allEnvs()) {
    test(`${name}: registry / metadata`, { skip: isSkip(env) ? env.skip : false }, () => {
      const e = env as PyEnv;
      const major = Number(e.sqlalchemy.split('.')[0]);
      for (const typed of major >= 2 ? [false, true] : [false]) {
        for (const attr of ['registry', 'metadata']) {
          const dir = mkdtempSync(path.join(os.tmpdir(), 'rw-reserved-'));
          roots.push(dir);
          writeTree(dir, { 'models.py': MODEL(attr, typed) });
          // what SQLAlchemy itself does with this model
          const real = py(e.python, dir, ['-W', 'error::Warning', '-c', 'import models'], {});
          const objects = real.code !== 0 && /reserved/.test(real.stderr);
          const scan = tool(e.python, 'reserved-scan', { root: dir });
          assert.equal(scan.found.some((f: any) => f.attribute === attr), objects, `${attr} (${typed ? 'typed' : 'classic'}) on ${e.sqlalchemy}: SQLAlchemy ${objects ? 'objects' : 'accepts'}; tool found ${JSON.stringify(scan.found)} probe ${JSON.stringify(scan.probe)}`);
          const fixed = tool(e.python, 'reserved-fix', { root: dir, apply: false });
          assert.equal(fixed.renamed.length > 0, objects);
        }
      }
      // 2.0 accepts a `registry` column; 1.4 too; 2.1 warns about it
      const probe = tool(e.python, 'reserved-scan', { root: mkdtempSync(path.join(os.tmpdir(), 'rw-empty-')) }).probe;
      assert.equal(probe.metadata !== undefined, true);
      if (/^(1\.4|2\.0)\./.test(e.sqlalchemy)) assert.equal(probe.registry, undefined);
    });
  }
});
