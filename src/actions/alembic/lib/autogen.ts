// What `alembic revision --autogenerate` says about a project, shared by alembic.reproduce (the base commit) and
// alembic.verify (the fixed tree): a scratch database at head, one autogenerate whose file is read (operations)
// and removed unless asked to keep it, and the target's own database read without writing to it.
import { existsSync, readdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import type { ActionContext } from '../../../core/action.js';
import { resolveInside } from '../../../core/safe-path.js';
import { runAlembic, runTool, type AlembicRun, type AlembicSettings, type ProjectInfo, type ProjectPaths } from './common.js';

export interface Op {
  op: string;
  table: string | null;
  column?: string | null;
  newColumnName?: string | null;
  index?: string | null;
  line: number;
}

/** "add_column users.display_name": how an operation is named in outputs, messages and comparisons. */
export function opSummary(o: Op): string {
  return `${o.op} ${o.table ?? ''}${o.column ? '.' + o.column : ''}${o.index ? ' ' + o.index : ''}${o.newColumnName ? ' -> ' + o.newColumnName : ''}`.trim();
}

export function isDestructive(o: Op): boolean {
  return o.op === 'drop_table' || o.op === 'drop_column' || (o.op === 'alter_column' && !!o.newColumnName);
}

function versionsAbs(p: ProjectPaths, dirs: string[]): string[] {
  return dirs.map((d) => resolveInside(p.project, d)).filter((d) => existsSync(d));
}

export function removeOwnRevision(p: ProjectPaths, dirs: string[], rid: string): void {
  for (const d of versionsAbs(p, dirs)) for (const f of readdirSync(d)) if (f.startsWith(`${rid}_`) && f.endsWith('.py')) unlinkSync(path.join(d, f));
}

/** The file alembic generated for `rid` (from its "Generating <path> ... done" line, else by name), inside a versions dir. */
export function findGenerated(p: ProjectPaths, dirs: string[], rid: string, stdout: string): string | null {
  const roots = versionsAbs(p, dirs);
  const m = /Generating (.+?) \.\.\.\s+done/.exec(stdout);
  const candidates = m ? [m[1]!.trim()] : [];
  for (const d of roots) for (const f of readdirSync(d)) if (f.startsWith(`${rid}_`) && f.endsWith('.py')) candidates.push(path.join(d, f));
  for (const c of candidates) {
    const abs = path.resolve(p.project, c);
    if (path.basename(abs).startsWith(`${rid}_`) && roots.some((r) => path.dirname(abs) === r) && existsSync(abs)) return resolveInside(p.project, path.relative(p.project, abs));
  }
  return null;
}

export interface Autogen {
  run: AlembicRun;
  ok: boolean;
  /** Absolute path of the generated file when kept. */
  file: string | null;
  upgrade: Op[];
  downgrade: Op[];
  revision: string | null;
  downRevision: string | null;
}

/**
 * One `alembic revision --autogenerate --rev-id rid` against `url`; the generated file's operations are read and
 * the file removed unless `keep`. `env` adds variables for the project's env.py (e.g. PGOPTIONS read-only).
 */
export async function autogenerate(
  ctx: ActionContext,
  s: AlembicSettings,
  paths: ProjectPaths,
  info: ProjectInfo,
  url: string,
  rid: string,
  o: { message?: string; keep?: boolean; env?: Record<string, string> } = {},
): Promise<Autogen> {
  removeOwnRevision(paths, info.versionsDirs, rid);
  const run = await runAlembic(ctx, s, paths, ['revision', '--autogenerate', '-m', o.message ?? 'runwright probe', '--rev-id', rid], url, o.env);
  const file = findGenerated(paths, info.versionsDirs, rid, run.stdout);
  if (run.code !== 0 || !file) {
    if (file && existsSync(file)) unlinkSync(file);
    return { run, ok: false, file: null, upgrade: [], downgrade: [], revision: null, downRevision: null };
  }
  const ops = await runTool(ctx, s, 'migration-ops', { file });
  if (!o.keep) unlinkSync(file);
  return { run, ok: true, file: o.keep ? file : null, upgrade: ops.upgrade, downgrade: ops.downgrade, revision: ops.revision, downRevision: ops.downRevision };
}

/** Create a scratch database, run fn, drop it (always). */
export async function withScratchDb<T>(ctx: ActionContext, s: AlembicSettings, server: string, name: string, fn: (created: { ok: boolean; error?: string }) => Promise<T>): Promise<T> {
  const created = await runTool(ctx, s, 'db-create', { url: server, name });
  try {
    return await fn(created);
  } finally {
    if (created.ok) {
      const dropped = await runTool(ctx, s, 'db-drop', { url: server, name }).catch((e) => ({ ok: false, error: (e as Error).message }));
      if (!dropped.ok) ctx.logger.warn({ scratchDb: name, error: dropped.error }, 'could not drop the scratch database');
    }
  }
}

/** Revision ids `alembic heads` prints (reads the scripts only; env.py does not run, no database is touched). */
export async function scriptHeads(ctx: ActionContext, s: AlembicSettings, paths: ProjectPaths, url: string): Promise<{ heads: string[]; run: AlembicRun }> {
  const run = await runAlembic(ctx, s, paths, ['heads'], url);
  const heads = run.code === 0 ? [...run.stdout.matchAll(/^([0-9A-Za-z_]+)\s.*\(head\)/gm)].map((m) => m[1]!).sort() : [];
  return { heads, run };
}

/** Tables the models in `modules` declare (static), e.g. the modules an imports fix brought in. */
export async function tablesOf(ctx: ActionContext, s: AlembicSettings, paths: ProjectPaths, info: ProjectInfo, modelsDir: string, modules: string[]): Promise<Record<string, { module: string; columns: string[] }>> {
  const r = await runTool(ctx, s, 'model-tables', { root: paths.project, modelsDir, exclude: info.versionsDirs, roots: info.sysPathRoots, ...(modules.length ? { modules } : {}) });
  return r.tables;
}

/** libpq drivers (psycopg2, psycopg 3) honour PGOPTIONS: the server then refuses every write of the session. */
export function readOnlyEnv(url: string): Record<string, string> | null {
  const driver = /^postgres(?:ql)?(?:\+([a-z0-9_]+))?:/i.exec(url)?.[1]?.toLowerCase() ?? '';
  return ['', 'psycopg2', 'psycopg', 'psycopg2cffi'].includes(driver) ? { PGOPTIONS: '-c default_transaction_read_only=on' } : null;
}
