// Helpers shared by the alembic.* actions: the target's alembic settings, the run's clone and project dir,
// python/alembic_tool.py and real alembic as argv subprocesses, scratch database names, and redaction of
// database URLs (a password never reaches a log line or a step output).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { ActionContext } from '../../../core/action.js';
import { PermanentError, RetryableError, ValidationError } from '../../../core/errors.js';
import { resolveInside } from '../../../core/safe-path.js';
import { ownDir } from '../../git/paths.js';
import { pythonToolPath } from '../../lib/python-tool.js';

export const DEFAULT_PYTHON = '/usr/bin/python3';

const durationMs = z.union([z.number().int().min(0), z.string().regex(/^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$/)]).transform((v) => {
  if (typeof v === 'number') return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v)!;
  return Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms']);
});

/** target.settings.alembic */
export const AlembicSettingsSchema = z.object({
  /** The folder holding alembic.ini, relative to the repo root (also the folder alembic runs in). */
  dir: z.string().min(1).default('.'),
  ini: z.string().min(1).default('alembic.ini'),
  /** The environment variable the project's env.py reads its database URL from. */
  databaseUrlEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).default('DATABASE_URL'),
  /** The server URL (in the app's form, e.g. postgresql+asyncpg://...); better kept out of config: see databaseUrlFrom. */
  databaseUrl: z.string().min(1).optional(),
  /** Runwright's own environment variable holding the server URL (default: databaseUrlEnv). */
  databaseUrlFrom: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional(),
  /** Interpreter with the project's SQLAlchemy + Alembic (default: target.python, then /usr/bin/python3). */
  python: z.string().min(1).optional(),
  /** argv that starts the database when it is down (e.g. ["docker","compose","up","-d","postgres"]); run in startDbCwd. */
  startDb: z.array(z.string().min(1)).min(1).optional(),
  /** Where startDb runs, relative to the repo root (default: the repo root). */
  startDbCwd: z.string().min(1).optional(),
  startDbTimeout: durationMs.default(120_000),
  wait: z.object({ attempts: z.number().int().min(1).max(100).default(8), delay: durationMs.default(500), maxDelay: durationMs.default(5000) }).default({ attempts: 8, delay: 500, maxDelay: 5000 }),
  /** Per alembic command. */
  commandTimeout: durationMs.default(180_000),
});
export type AlembicSettings = z.infer<typeof AlembicSettingsSchema>;

export function alembicSettings(ctx: ActionContext): AlembicSettings {
  const raw = (ctx.target.settings as Record<string, unknown> | undefined)?.alembic ?? {};
  const r = AlembicSettingsSchema.safeParse(raw);
  if (!r.success) throw new ValidationError(r.error.issues.map((i) => ({ path: `targets.${ctx.target.name}.settings.alembic.${i.path.join('.')}`, message: i.message })));
  return r.data;
}

export function pythonOf(ctx: ActionContext, s: AlembicSettings): string {
  return s.python ?? ctx.target.python ?? DEFAULT_PYTHON;
}

/** The database server URL (secret: never log or output it unredacted). */
export function databaseUrl(ctx: ActionContext, s: AlembicSettings): string {
  const from = s.databaseUrlFrom ?? s.databaseUrlEnv;
  const url = s.databaseUrl ?? process.env[from];
  if (!url) throw new PermanentError(`target ${ctx.target.name}: no database URL (settings.alembic.databaseUrl, or ${from} in runwright's environment)`, 'no_database_url');
  if (!/^postgres(ql)?(\+[a-z0-9_]+)?:\/\//i.test(url)) throw new PermanentError('only PostgreSQL database URLs are supported', 'unsupported_database');
  return url;
}

export interface ProjectPaths {
  repo: string;
  project: string;
  /** settings.dir normalised (repo-relative). */
  projectRel: string;
  /** A project-relative path as a repo-relative one. */
  toRepo(rel: string): string;
}

/** The run's own clone (never a user's working copy) and the alembic project folder inside it. */
export function projectPaths(ctx: ActionContext, dir: string, s: AlembicSettings): ProjectPaths {
  const repo = ownDir(ctx, dir);
  if (!existsSync(path.join(repo, '.git'))) throw new PermanentError(`${path.relative(ctx.workdir, repo) || '.'} is not a git checkout`, 'not_a_checkout');
  const project = resolveInside(repo, s.dir);
  const projectRel = path.relative(repo, project) || '.';
  return { repo, project, projectRel, toRepo: (rel) => path.normalize(path.join(projectRel, rel)) };
}

/** The models folder relative to the project folder (target.modelsDir is repo-relative). */
export function modelsRel(ctx: ActionContext, p: ProjectPaths): string {
  const rel = path.relative(p.projectRel, path.normalize(ctx.target.modelsDir));
  // A modelsDir that is not in this project (the targets file's default app/models, a folder that moved, models
  // outside the alembic folder): look for models in the whole project folder instead of failing the run.
  if (!rel || rel.startsWith('..') || path.isAbsolute(rel)) return '.';
  try {
    if (!existsSync(resolveInside(p.project, rel)) && !existsSync(resolveInside(p.project, `${rel}.py`))) return '.';
  } catch {
    return '.';
  }
  return rel;
}

/** python/alembic_guard.py, next to alembic_tool.py. */
export function guardPath(): string {
  return path.join(path.dirname(toolPath()), 'alembic_guard.py');
}

/** The database a URL names (percent-decoded). */
export function databaseOf(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
}

/** python/alembic_tool.py next to src/ (and next to dist/ in a build). */
export function toolPath(): string {
  return pythonToolPath('alembic_tool.py');
}

/** Run one alembic_tool command: request on stdin (URLs never in argv), JSON back. Refusals are PermanentError. */
export async function runTool<T = any>(ctx: ActionContext, s: AlembicSettings, cmd: string, req: Record<string, unknown>, cwd?: string): Promise<T> {
  const argv = [pythonOf(ctx, s), '-I', '-B', toolPath(), cmd];
  let r;
  try {
    r = await ctx.ports.proc.run(argv, { cwd: cwd ?? path.dirname(argv[3]!), input: JSON.stringify(req), timeoutMs: 120_000, signal: ctx.signal });
  } catch (e) {
    throw new PermanentError(`cannot run ${argv[0]}: ${(e as Error).message}`, 'python_missing', undefined, e);
  }
  if (r.timedOut) throw new RetryableError(`alembic_tool ${cmd} timed out`, 'tool_timeout');
  let out: any;
  try {
    out = JSON.parse(r.stdout);
  } catch {
    throw new PermanentError(`alembic_tool ${cmd} crashed (exit ${r.code}): ${redactSecrets(r.stderr.trim().slice(-2000), secretsOf(req))}`, 'tool_crashed');
  }
  if (r.code !== 0) throw new PermanentError(`alembic_tool ${cmd}: ${redactSecrets(String(out?.error ?? `exit ${r.code}`), secretsOf(req))}`, 'alembic_tool');
  return out as T;
}

function secretsOf(req: Record<string, unknown>): string[] {
  return typeof req.url === 'string' ? [req.url] : [];
}

export interface AlembicRun {
  args: string[];
  code: number | null;
  timedOut: boolean;
  durationMs: number;
  stdout: string;
  stderr: string;
}

/**
 * `python -m alembic -c <ini> ...args` in the project folder, pointed at `url` both ways a project can take its
 * database: the project's env var (databaseUrlEnv) and alembic.ini's sqlalchemy.url, through a private copy of
 * the ini next to it (same %(here)s; removed afterwards) whose URL names `url`'s server and database but keeps the
 * driver the project's ini names (a template env.py connects with exactly that driver).
 */
export async function runAlembic(ctx: ActionContext, s: AlembicSettings, p: ProjectPaths, args: string[], url: string, extraEnv: Record<string, string> = {}): Promise<AlembicRun> {
  const iniPath = resolveInside(p.project, s.ini);
  const privateIni = path.join(path.dirname(iniPath), `.runwright-${createHash('sha256').update(`${ctx.idempotencyKey}.${process.pid}.${Math.random()}`).digest('hex').slice(0, 12)}.ini`);
  let iniArg = s.ini;
  if (existsSync(iniPath)) {
    // the URL as the (sandboxed) alembic process reaches it: see ProcessPort.targetUrl
    writeFileSync(privateIni, iniWithUrl(readFileSync(iniPath, 'utf8'), ctx.ports.proc.targetUrl?.(ctx.target, url) ?? url), { mode: 0o600 });
    iniArg = path.relative(p.project, privateIni);
  }
  try {
    // Target code (its env.py, its models): the target's runtime (`python` = it, unless settings.alembic.python),
    // an allowlisted environment, sandboxed; the scratch database URL is the one endpoint it can reach.
    // through python/alembic_guard.py (= python -m alembic), which refuses any connection to a database but `url`'s:
    // an env.py that finds its URL elsewhere (multidb [engineN] sections, a URL in env.py or app settings) must
    // never run migrations on the target's own database in place of the scratch one
    const argv = [s.python ?? 'python', '-B', guardPath(), databaseOf(url), '-c', iniArg, ...args];
    const r = await ctx.ports.proc.runTarget(argv, {
      root: p.repo,
      cwd: p.project,
      target: ctx.target,
      env: { ...extraEnv, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
      endpoints: [{ env: s.databaseUrlEnv, url }],
      timeoutMs: s.commandTimeout,
      signal: ctx.signal,
    });
    const clean = (t: string) => redactSecrets(t, [url]).split(path.basename(privateIni)).join(path.basename(s.ini));
    return { args, code: r.code, timedOut: r.timedOut, durationMs: r.durationMs, stdout: clean(r.stdout), stderr: clean(r.stderr) };
  } finally {
    rmSync(privateIni, { force: true });
  }
}

/** The ini text with [alembic] sqlalchemy.url set to `url` (the ini's own postgres driver kept; % escaped for configparser). */
export function iniWithUrl(ini: string, url: string): string {
  const lines = ini.split(/\r?\n/);
  let section = '';
  let at = -1;
  let header = -1;
  for (let i = 0; i < lines.length; i++) {
    const h = /^\s*\[([^\]]+)\]/.exec(lines[i]!);
    if (h) {
      section = h[1]!.trim();
      if (section === 'alembic') header = i;
      continue;
    }
    if (section === 'alembic' && /^\s*sqlalchemy\.url\s*[=:]/.test(lines[i]!)) at = i;
  }
  let target = url;
  if (at >= 0) {
    const own = /[=:]\s*(postgres(?:ql)?(?:\+[A-Za-z0-9_]+)?):\/\//.exec(lines[at]!)?.[1];
    if (own) target = url.replace(/^postgres(?:ql)?(?:\+[A-Za-z0-9_]+)?:/i, `${own}:`);
    let end = at + 1;
    while (end < lines.length && /^[ \t]+\S/.test(lines[end]!)) end++; // continuation lines of the old value
    lines.splice(at, end - at, `sqlalchemy.url = ${target.replace(/%/g, '%%')}`);
  } else if (header >= 0) {
    lines.splice(header + 1, 0, `sqlalchemy.url = ${target.replace(/%/g, '%%')}`);
  }
  return lines.join('\n');
}

/** A URL with its password masked (user kept). */
export function redactDbUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):[^@\s]*@/i, '$1:***@');
}

/** Text with every password of `urls` (raw and percent-decoded) and any user:password@ in a URL masked. */
export function redactSecrets(text: string, urls: string[]): string {
  let out = text;
  for (const u of urls) {
    const m = /^[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:([^@\s]*)@/i.exec(u);
    if (!m || !m[1]) continue;
    const raw = m[1];
    let decoded = raw;
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      /* not percent-encoded */
    }
    for (const secret of new Set([raw, decoded])) if (secret.length >= 4) out = out.split(secret).join("***"); // shorter ones: only inside URLs (below)
  }
  return out.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):[^@\s]+@/gi, '$1:***@');
}

/** A scratch database name for this step (stable across re-deliveries, valid without quoting). */
export function scratchName(ctx: ActionContext): string {
  return `rw_alembic_${createHash('sha256').update(ctx.idempotencyKey).digest('hex').slice(0, 16)}`;
}

/** The same server URL (driver, user, query kept) naming another database. */
export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export function cap(text: string, n: number): string {
  return text.length > n ? `${text.slice(0, n)}\n[… ${text.length - n} more characters]` : text;
}

export function tail(text: string, n: number): string {
  return text.length > n ? `[…]${text.slice(-n)}` : text;
}

/** Sleep that ends early (rejecting) when the step is aborted. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new RetryableError('aborted', 'aborted'));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new RetryableError('aborted', 'aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export interface ProjectInfo {
  scriptLocation: string;
  envPy: string;
  versionsDirs: string[];
  prependSysPath: string | null;
  /** prepend_sys_path entries inside the project (project-relative): where module names are computed from. */
  sysPathRoots: string[];
  hasUrl: boolean;
}

/** alembic.ini read by the tool: script location, env.py, versions folders (all project-relative, checked inside). */
export async function projectInfo(ctx: ActionContext, s: AlembicSettings, p: ProjectPaths): Promise<ProjectInfo> {
  const info = await runTool<ProjectInfo>(ctx, s, 'project', { projectDir: p.project, ini: s.ini });
  for (const rel of [info.scriptLocation, info.envPy, ...info.versionsDirs, ...info.sysPathRoots]) resolveInside(p.project, rel);
  return info;
}

/** The working-tree diff of some repo-relative paths (capped for a step output). */
export async function diffOf(ctx: ActionContext, repo: string, paths: string[]): Promise<string> {
  if (paths.length === 0) return '';
  return cap(await ctx.ports.git.diff(repo, { paths }), 30_000);
}
