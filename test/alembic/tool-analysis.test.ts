// python/alembic_tool.py's analysis and edits on small hand-written projects: only what SQLAlchemy really
// reserves is renamed, uses are updated where the object is clearly the model and reported where it is not,
// env.py shapes are rewritten or refused, and database errors never carry a password. Where it matters, the
// edited code is imported by real SQLAlchemy to show it maps and keeps the column name.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { debianEnv, isSkip, venvEnv, type PyEnv } from '../fixtures/alembic/python-env.js';
import { deadPort } from '../fixtures/alembic/postgres.js';
import { py, tool, writeTree } from '../fixtures/alembic/run.js';

const deb = debianEnv();
const sa20 = venvEnv(process.env.RW_TEST_SA20_VERSION ?? '2.0.54');
const PY = isSkip(deb) ? 'python3' : deb.python;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function project(files: Record<string, string>): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'rw-altool-'));
  dirs.push(d);
  writeTree(d, files);
  return d;
}
const read = (d: string, rel: string) => readFileSync(path.join(d, rel), 'utf8');

const BASE_14 = `from sqlalchemy import Column, Integer, MetaData, String, JSON
from sqlalchemy.orm import declarative_base

Base = declarative_base(metadata=MetaData(naming_convention={"pk": "pk_%(table_name)s"}))
`;

describe('reserved attributes: what SQLAlchemy really reserves', () => {
  test('metadata on a mapped class is found; id, a MetaData on the base and a plain class are not', () => {
    const d = project({
      'app/__init__.py': '',
      'app/models.py': `${BASE_14}

class Doc(Base):
    __tablename__ = "docs"
    id = Column(Integer, primary_key=True)
    metadata = Column(JSON)
    type = Column(String(20))


class NotMapped:
    metadata = {"plain": "class"}
`,
      'app/base2.py': `from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase


class Base2(DeclarativeBase):
    metadata = MetaData(schema="x")
`,
    });
    const r = tool(PY, 'reserved-scan', { root: d });
    assert.deepEqual(r.reservedNames, ['metadata']);
    assert.deepEqual(r.found.map((f: any) => `${f.class}.${f.attribute}:${f.column}`), ['Doc.metadata:metadata']);
  });

  test('registry counts only where the installed SQLAlchemy objects to it (probed, not assumed from a version)', () => {
    const d = project({
      'm.py': `${BASE_14}

class Thing(Base):
    __tablename__ = "things"
    id = Column(Integer, primary_key=True)
    registry = Column(String(50))
`,
    });
    const scan = tool(PY, 'reserved-scan', { root: d });
    assert.deepEqual(scan.reservedNames, ['metadata'], 'Debian 1.4 accepts a registry column');
    assert.deepEqual(scan.found, []);
    const forced = tool(PY, 'reserved-scan', { root: d, names: ['registry'] });
    assert.deepEqual(forced.found.map((f: any) => `${f.class}.${f.attribute}`), ['Thing.registry']);
  });

  test('a column already named explicitly keeps that name; mixins, @validates, strings and getattr follow the rename', () => {
    const d = project({
      'app/__init__.py': '',
      'app/models.py': `${BASE_14}
from sqlalchemy.orm import relationship, validates


class MetaMixin:
    metadata = Column("meta_json", JSON)


class Doc(MetaMixin, Base):
    __tablename__ = "docs"
    id = Column(Integer, primary_key=True)

    @validates("metadata")
    def check(self, key, value):
        return value


class Page(Base):
    __tablename__ = "pages"
    id = Column(Integer, primary_key=True)
    doc_id = Column(Integer)
    docs = relationship("Doc", primaryjoin="Doc.id == Page.doc_id", foreign_keys="Page.doc_id", order_by="Doc.metadata")
`,
      'app/use.py': `from app.models import Doc


def touch(d: Doc):
    if hasattr(d, "metadata"):
        return getattr(d, "metadata")


def all_meta(session):
    return [x.metadata for x in session.query(Doc).filter_by(metadata=None).all()]


def meta_api():
    return Doc.metadata.sorted_tables
`,
    });
    const r = tool(PY, 'reserved-fix', { root: d });
    assert.deepEqual(r.renamed.map((x: any) => [x.class, x.newAttribute, x.column, x.mixin]), [['MetaMixin', 'meta_mixin_metadata', 'meta_json', true]]);
    const models = read(d, 'app/models.py');
    assert.match(models, /meta_mixin_metadata = Column\("meta_json", JSON\)/);
    assert.match(models, /@validates\("meta_mixin_metadata"\)/);
    assert.match(models, /order_by="Doc\.meta_mixin_metadata"/);
    const use = read(d, 'app/use.py');
    assert.match(use, /hasattr\(d, "meta_mixin_metadata"\)/);
    assert.match(use, /getattr\(d, "meta_mixin_metadata"\)/);
    assert.match(use, /\[x\.meta_mixin_metadata for x in session\.query\(Doc\)\.filter_by\(meta_mixin_metadata=None\)\.all\(\)\]/);
    assert.match(use, /Doc\.metadata\.sorted_tables/, 'Doc.metadata.<MetaData API> means the MetaData: left alone');
  });

  test('uses that cannot be told apart are reported, not guessed', () => {
    const d = project({
      'app/__init__.py': '',
      'app/models.py': `${BASE_14}

class Doc(Base):
    __tablename__ = "docs"
    id = Column(Integer, primary_key=True)
    metadata = Column(JSON)
`,
      'app/api.py': `from app.models import Doc


def serialize(obj):
    return {"metadata": obj.metadata}


def build(kind, **kw):
    return kind(metadata={"a": 1}, **kw)


def make():
    return Doc(metadata={"b": 2})
`,
    });
    const r = tool(PY, 'reserved-fix', { root: d });
    const api = read(d, 'app/api.py');
    assert.match(api, /Doc\(doc_metadata=\{"b": 2\}\)/);
    assert.match(api, /obj\.metadata/, 'an unknown object is not renamed');
    const codes = r.unresolved.map((u: any) => `${u.line}:${u.code}`).sort();
    assert.deepEqual(codes, ['5:return {"metadata": obj.metadata}', '5:return {"metadata": obj.metadata}', '9:return kind(metadata={"a": 1}, **kw)']);
    assert.ok(r.unresolved.some((u: any) => /string 'metadata'/.test(u.reason)));
  });

  test('SQLAlchemy 2.0: Mapped annotations, annotation-only columns; the edited models import and keep the column name', { skip: isSkip(sa20) ? sa20.skip : false }, () => {
    const e = sa20 as PyEnv;
    const d = project({
      'app/__init__.py': '',
      'app/models.py': `from typing import Optional

from sqlalchemy import JSON, String
from sqlalchemy.orm import DeclarativeBase, Mapped


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = __import__("sqlalchemy.orm", fromlist=["mapped_column"]).mapped_column(primary_key=True)
    metadata: Mapped[Optional[str]]
`,
      'check.py': `from app.models import Note
print(sorted(Note.__table__.c.keys()), Note.note_metadata.property.columns[0].name)
`,
    });
    const before = py(e.python, d, ['-c', 'import app.models']);
    assert.notEqual(before.code, 0);
    assert.match(before.stderr, /Attribute name 'metadata' is reserved/);
    const r = tool(e.python, 'reserved-fix', { root: d });
    assert.equal(r.sqlalchemyVersion, e.sqlalchemy);
    assert.match(read(d, 'app/models.py'), /note_metadata: Mapped\[Optional\[str\]\] = mapped_column\("metadata"\)/);
    assert.match(read(d, 'app/models.py'), /from sqlalchemy\.orm import DeclarativeBase, Mapped, mapped_column/);
    const after = py(e.python, d, ['check.py']);
    assert.equal(after.code, 0, after.stderr);
    assert.equal(after.stdout.trim(), "['id', 'metadata'] metadata");
  });
});

describe('layouts: module names from prepend_sys_path', () => {
  test('src layout: the import added to env.py names the module the way env.py already imports it (no second import)', () => {
    const d = project({
      'alembic.ini': '[alembic]\nscript_location = %(here)s/migrations\nprepend_sys_path = src\nversion_locations = %(here)s/migrations/versions %(here)s/migrations/extra\nversion_path_separator = space\nsqlalchemy.url =\n',
      'migrations/env.py': 'from app.models import Base\n\ntarget_metadata = Base.metadata\n',
      'migrations/versions/.keep': '',
      'src/app/__init__.py': '',
      'src/app/models/__init__.py': `from app.models.base import Base\nfrom app.models.tenant import Tenant\n`,
      'src/app/models/base.py': BASE_14,
      'src/app/models/tenant.py': `from app.models.base import Base, Column, Integer\n\n\nclass Tenant(Base):\n    __tablename__ = "tenants"\n    id = Column(Integer, primary_key=True)\n`,
      'src/app/models/event.py': `from app.models.base import Base, Column, Integer\n\n\nclass Event(Base):\n    __tablename__ = "events"\n    id = Column(Integer, primary_key=True)\n`,
    });
    const info = tool(PY, 'project', { projectDir: d });
    assert.deepEqual(info.sysPathRoots, ['src']);
    assert.deepEqual(info.versionsDirs, ['migrations/versions', 'migrations/extra']);
    assert.equal(info.envPy, 'migrations/env.py');
    const r = tool(PY, 'imports-fix', { projectDir: d, envPy: info.envPy, modelsDir: 'src/app/models', roots: info.sysPathRoots, exclude: info.versionsDirs });
    assert.deepEqual(r.missing, ['app.models.event']);
    assert.match(read(d, 'migrations/env.py'), /^import app\.models\.event {2}# noqa: F401$/m);
    assert.doesNotMatch(read(d, 'migrations/env.py'), /src\.app/);
    // and it really imports once: the models load with target_metadata holding both tables
    const check = py(PY, d, ['-c', 'import sys; sys.path.insert(0, "src"); import runpy; g = runpy.run_path("migrations/env.py"); print(sorted(g["target_metadata"].tables))']);
    assert.equal(check.code, 0, check.stderr);
    assert.equal(check.stdout.trim(), "['events', 'tenants']");
    const tables = tool(PY, 'model-tables', { root: d, modelsDir: 'src/app/models', roots: info.sysPathRoots, modules: ['app.models.event'] });
    assert.deepEqual(Object.keys(tables.tables), ['events']);
  });
});

describe('env.py shapes', () => {
  const common = `from alembic import context
from sqlalchemy import pool
target_metadata = None
config = context.config
`;
  test('async def run_migrations_online + create_async_engine(url) at the bottom becomes sync, helpers inserted once', () => {
    const d = project({
      'alembic/env.py': `import asyncio
from sqlalchemy.ext.asyncio import create_async_engine
${common}

def do_run(connection):
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online():
    engine = create_async_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    async with engine.begin() as conn:
        await conn.run_sync(do_run)
    await engine.dispose()


asyncio.run(run_migrations_online())
`,
      'app.py': 'from sqlalchemy import create_engine\n',
    });
    const r = tool(PY, 'env-fix', { projectDir: d, envPy: 'alembic/env.py', exclude: ['alembic'] });
    assert.equal(r.mode, 'sync');
    assert.deepEqual(r.problems, []);
    const env = read(d, 'alembic/env.py');
    assert.match(env, /\ndef run_migrations_online\(\):/);
    assert.match(env, /engine = create_engine\(_runwright_sync_url\(config\.get_main_option\("sqlalchemy\.url"\)\), poolclass=pool\.NullPool\)/);
    assert.match(env, /with engine\.begin\(\) as conn:\n\s+do_run\(conn\)\n\s+engine\.dispose\(\)/);
    assert.match(env, /\nrun_migrations_online\(\)\n$/);
    assert.doesNotMatch(env, /import asyncio|await |async def|async with/);
    assert.equal(env.split('def _runwright_sync_url').length, 2);
    // valid Python that the real interpreter compiles
    assert.equal(py(PY, d, ['-m', 'py_compile', 'alembic/env.py']).code, 0);
  });

  test('async code with no sync equivalent is refused with the reason, and nothing is written', () => {
    const src = `from sqlalchemy.ext.asyncio import async_engine_from_config
${common}

async def run_async():
    connectable = async_engine_from_config(config.get_section(config.config_ini_section), prefix="sqlalchemy.")
    async with connectable.connect() as connection:
        async for row in await connection.stream("select 1"):
            print(row)
`;
    const d = project({ 'alembic/env.py': src });
    const r = tool(PY, 'env-fix', { projectDir: d, envPy: 'alembic/env.py', exclude: ['alembic'] });
    assert.ok(r.problems.some((p: string) => /async for/.test(p)), JSON.stringify(r.problems));
    assert.deepEqual(r.changedFiles, []);
    assert.equal(read(d, 'alembic/env.py'), src);
  });

  test('a sync env.py fed an async URL (MissingGreenlet) gets the URL mapped, engine untouched', () => {
    const d = project({
      'alembic/env.py': `from sqlalchemy import engine_from_config
${common}

def run_migrations_online():
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
`,
    });
    const r = tool(PY, 'env-fix', { projectDir: d, envPy: 'alembic/env.py', exclude: ['alembic'] });
    assert.equal(r.mode, 'sync');
    assert.match(read(d, 'alembic/env.py'), /engine_from_config\(_runwright_sync_section\(config\.get_section\(config\.config_ini_section, \{\}\), "sqlalchemy\."\), prefix="sqlalchemy\."/);
    // the helper really maps URLs (run it in the real interpreter)
    const check = py(PY, d, ['-c', `import ast, sys
src = open("alembic/env.py").read()
mod = ast.parse(src)
ns = {}
for node in mod.body:
    if isinstance(node, ast.FunctionDef) and node.name.startswith("_runwright"):
        exec(compile(ast.Module([node], []), "env", "exec"), ns)
print(ns["_runwright_sync_url"]("postgresql+asyncpg://u:p%40ss@h:5/db?ssl=x"))
print(ns["_runwright_sync_section"]({"sqlalchemy.url": "postgresql+asyncpg://h/db", "sqlalchemy.echo": "1"})["sqlalchemy.url"])`]);
    assert.equal(check.code, 0, check.stderr);
    assert.deepEqual(check.stdout.trim().split('\n'), ['postgresql+psycopg2://u:p%40ss@h:5/db?ssl=x', 'postgresql+psycopg2://h/db']);
  });
});

describe('migration-ops and database commands', () => {
  test('ops of a migration, destructive ones flagged (batch_alter_table included)', () => {
    const d = project({
      'v.py': `revision = "abc"
down_revision = "0001"
from alembic import op
import sqlalchemy as sa


def upgrade():
    op.add_column("users", sa.Column("nick", sa.String(20)))
    with op.batch_alter_table("events") as batch_op:
        batch_op.drop_column("metadata")
    op.alter_column("tenants", "metadata", new_column_name="tenant_metadata")
    op.drop_table("old")


def downgrade():
    op.drop_column("users", "nick")
`,
    });
    const r = tool(PY, 'migration-ops', { file: path.join(d, 'v.py') });
    assert.equal(r.revision, 'abc');
    assert.equal(r.downRevision, '0001');
    assert.deepEqual(r.upgrade.map((o: any) => [o.op, o.table, o.column ?? null]), [['add_column', 'users', 'nick'], ['drop_column', 'events', 'metadata'], ['alter_column', 'tenants', 'metadata'], ['drop_table', 'old', null]]);
    assert.deepEqual(r.destructive.map((o: any) => o.op), ['drop_column', 'alter_column', 'drop_table']);
  });

  test('db-probe on a port where nothing listens: refused, and the password never comes back', { skip: isSkip(deb) ? deb.skip : false }, async () => {
    const port = await deadPort();
    const r = tool(PY, 'db-probe', { url: `postgresql://app:s3cretPW@127.0.0.1:${port}/app`, timeoutSeconds: 2 });
    assert.equal(r.ok, false);
    assert.equal(r.kind, 'refused');
    assert.match(r.error, /Connection refused/);
    assert.doesNotMatch(JSON.stringify(r), /s3cretPW/);
  });
});

describe('project: where alembic reads its configuration', () => {
  test('alembic >= 1.16 pyproject.toml [tool.alembic] (the pyproject templates): script location, version locations and sys.path from the TOML; ini keys win', () => {
    const d = project({
      'alembic.ini': '[alembic]\nsqlalchemy.url = postgresql://u@h/db\n\n[loggers]\nkeys = root\n',
      'pyproject.toml': '[project]\nname = "svc"\n\n[tool.alembic]\nscript_location = "%(here)s/db/migrations"\nversion_locations = ["%(here)s/db/migrations/versions", "%(here)s/db/more"]\nprepend_sys_path = ["src"]\n',
      'db/migrations/env.py': '',
    });
    const r = tool(PY, 'project', { projectDir: d });
    assert.equal(r.scriptLocation, 'db/migrations');
    assert.equal(r.envPy, 'db/migrations/env.py');
    assert.deepEqual(r.versionsDirs, ['db/migrations/versions', 'db/more']);
    assert.deepEqual(r.sysPathRoots, ['src']);
    assert.equal(r.hasUrl, true);
    assert.equal(r.config, 'pyproject.toml');
    // the same key in the ini is what alembic uses
    writeTree(d, { 'alembic.ini': '[alembic]\nscript_location = %(here)s/alembic\nsqlalchemy.url = postgresql://u@h/db\n', 'alembic/env.py': '' });
    const ini = tool(PY, 'project', { projectDir: d });
    assert.equal(ini.scriptLocation, 'alembic');
    assert.equal(ini.config, 'alembic.ini');
    assert.deepEqual(ini.versionsDirs, ['db/migrations/versions', 'db/more'], 'version_locations still from the TOML');
  });

  test('no script_location anywhere, or one outside the project: a refusal that says so (never a crash)', () => {
    const none = project({ 'alembic.ini': '[alembic]\nsqlalchemy.url = postgresql://u@h/db\n', 'pyproject.toml': '[tool.other]\nx = 1\n' });
    assert.throws(() => tool(PY, 'project', { projectDir: none }), /no script_location in alembic\.ini \[alembic\] or pyproject\.toml \[tool\.alembic\]/);
    const out = project({ 'pyproject.toml': '[tool.alembic]\nscript_location = "%(here)s/../elsewhere"\n' });
    assert.throws(() => tool(PY, 'project', { projectDir: out }), /outside the project directory/);
    const bad = project({ 'pyproject.toml': '[tool.alembic\nscript_location = 1\n' });
    assert.throws(() => tool(PY, 'project', { projectDir: bad }), /pyproject\.toml does not parse/);
  });
});
