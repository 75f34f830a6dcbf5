// The target's Python runtime: an interpreter path, or a venv runwright builds with pip from the target's own
// requirements/lock file (read from the checkout being run) and caches by the hash of that file. A venv is built
// once per host and reused by every later run with the same file: built in a private folder, then published with
// an atomic symlink(2) <hash> -> <hash>.<random> (a second builder that loses the race discards its copy and uses
// the winner's; script shebangs keep pointing at the real folder, which never moves).
// pip runs as configured on the machine (its config files and PIP_* variables: the local package index) with
// --only-binary=:all:, so installing runs no code from the packages (wheels are unpacked, never built).
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Target } from '../../core/types.js';
import { PermanentError, RetryableError } from '../../core/errors.js';
import { resolveInside } from '../../core/safe-path.js';

export const DEFAULT_TARGET_PYTHON = '/usr/bin/python3';

export interface ResolvedRuntime {
  /** The interpreter `python`/`python3` in a target command means. */
  python: string;
  /** Put first on PATH (the venv's bin: its console scripts, e.g. alembic, flask). */
  binDir?: string;
  /** Folders the sandbox must mount read-only for this runtime (venv, an interpreter outside /usr). */
  readOnly: string[];
  venv?: { dir: string; key: string; built: boolean; from: string; buildMs?: number };
}

/** Where a target's dependencies are declared, or undefined for a plain interpreter. */
function depsSource(t: Target): { kind: 'requirements' | 'pyproject'; rel: string } | undefined {
  const r = t.runtime;
  if (!r) return undefined;
  if (r.lock) return { kind: 'requirements', rel: r.lock };
  if (r.requirements) return { kind: 'requirements', rel: r.requirements };
  if (r.pyproject) return { kind: 'pyproject', rel: r.pyproject };
  return undefined;
}

function interpreterOf(t: Target): string {
  return t.runtime?.python ?? t.python ?? DEFAULT_TARGET_PYTHON;
}

/** An interpreter outside the system folders (a venv, /opt/python3.12/bin/python3) needs its prefix mounted:
 * the folder above its bin/ as named, and as resolved through symlinks. */
function interpreterDirs(python: string): string[] {
  const out = new Set<string>();
  const system = (p: string) => /^\/(usr|bin|lib|lib64|sbin|etc)(\/|$)/.test(p) || p === '/';
  for (const p of [python, safeRealpath(python)]) {
    if (!p || !path.isAbsolute(p)) continue;
    const prefix = path.dirname(path.dirname(p));
    if (!system(p) && !system(prefix)) out.add(safeRealpath(prefix) ?? prefix);
  }
  return [...out];
}

function safeRealpath(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}

export class VenvCache {
  private readonly inflight = new Map<string, Promise<ResolvedRuntime>>();
  constructor(readonly dir: string, private readonly buildTimeoutMs = 15 * 60_000) {}

  /** The runtime for running `target`'s code in the checkout `root`; builds its venv when none is cached yet. */
  async resolve(target: Target, root: string, signal?: AbortSignal): Promise<ResolvedRuntime> {
    const base = interpreterOf(target);
    const src = depsSource(target);
    if (!src) return { python: base, readOnly: interpreterDirs(base) };
    const file = resolveInside(root, src.rel);
    if (!existsSync(file)) throw new PermanentError(`target ${target.name}: runtime file ${src.rel} is not in the checkout`, 'runtime_file_missing', { file: src.rel });
    const content = readFileSync(file);
    const requirements = src.kind === 'pyproject' ? pyprojectRequirements(file) : content.toString('utf8');
    let baseReal: string;
    try {
      baseReal = realpathSync(base);
    } catch {
      throw new PermanentError(`target ${target.name}: runtime python ${base} does not exist`, 'runtime_python_missing');
    }
    const key = createHash('sha256').update(JSON.stringify({ v: 1, python: baseReal, kind: src.kind, requirements })).digest('hex').slice(0, 32);
    const existing = this.lookup(key, src.rel, base);
    if (existing) return existing;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.build(key, base, requirements, src.rel, signal).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return await p;
  }

  private lookup(key: string, from: string, base: string): ResolvedRuntime | undefined {
    const link = path.join(this.dir, key);
    let real: string;
    try {
      real = realpathSync(link);
    } catch {
      return undefined;
    }
    if (!existsSync(path.join(real, '.runwright-complete'))) return undefined;
    return { python: path.join(real, 'bin', 'python'), binDir: path.join(real, 'bin'), readOnly: [real, ...interpreterDirs(base)], venv: { dir: real, key, built: false, from } };
  }

  private async build(key: string, base: string, requirements: string, from: string, signal?: AbortSignal): Promise<ResolvedRuntime> {
    const started = Date.now();
    mkdirSync(this.dir, { recursive: true });
    const name = `${key}.${randomBytes(6).toString('hex')}`;
    const tmp = path.join(this.dir, name);
    try {
      const env = pipEnv(tmp);
      // With runwright's own pip (pip >= 22.3 installs into another interpreter with --python) the venv needs no
      // ensurepip, which takes most of a venv's creation time.
      const host = hostPip();
      const mk = await runQuiet([base, '-m', 'venv', ...(host ? ['--without-pip'] : []), tmp], env, this.buildTimeoutMs, signal);
      if (mk.code !== 0) throw new PermanentError(`python -m venv failed with ${base}: ${mk.out.trim().slice(-1500)}`, 'runtime_venv_failed');
      const reqFile = path.join(tmp, 'runwright-requirements.txt');
      writeFileSync(reqFile, requirements);
      const venvPython = path.join(tmp, 'bin', 'python');
      const pipArgv = host ? [host, '-m', 'pip', '--python', venvPython] : [venvPython, '-m', 'pip'];
      const pip = await runQuiet([...pipArgv, 'install', '--no-input', '--disable-pip-version-check', '--only-binary=:all:', '-r', reqFile], env, this.buildTimeoutMs, signal);
      if (pip.timedOut) throw new RetryableError(`pip install of ${from} timed out`, 'runtime_pip_timeout');
      if (pip.code !== 0) throw new PermanentError(`pip could not install ${from}: ${pip.out.trim().split('\n').slice(-6).join('\n')}`, 'runtime_pip_failed', { from });
      writeFileSync(path.join(tmp, '.runwright-complete'), `${new Date().toISOString()} ${from}\n`);
      try {
        symlinkSync(name, path.join(this.dir, key));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        rmSync(tmp, { recursive: true, force: true }); // another process published the same venv first
        const won = this.lookup(key, from, base);
        if (won) return won;
        throw new RetryableError(`venv ${key} was published incomplete by another process`, 'runtime_venv_race');
      }
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    const r = this.lookup(key, from, base)!;
    return { ...r, venv: { ...r.venv!, built: true, buildMs: Date.now() - started } };
  }
}

let hostPipCached: string | null | undefined;
/** runwright's Python when its pip can install into another interpreter (pip >= 22.3: --python). */
function hostPip(): string | undefined {
  if (hostPipCached === undefined) {
    const r = spawnSync(DEFAULT_TARGET_PYTHON, ['-m', 'pip', '--version'], { encoding: 'utf8', timeout: 30_000 });
    const m = /^pip (\d+)\.(\d+)/.exec(r.stdout ?? '');
    hostPipCached = r.status === 0 && m && (Number(m[1]) > 22 || (Number(m[1]) === 22 && Number(m[2]) >= 3)) ? DEFAULT_TARGET_PYTHON : null;
  }
  return hostPipCached ?? undefined;
}

/** pip's own configuration (PIP_* and its config files) plus the basics; nothing else of runwright's. */
function pipEnv(tmp: string): Record<string, string> {
  const env: Record<string, string> = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: tmp, LANG: process.env.LANG || 'C.UTF-8', PYTHONDONTWRITEBYTECODE: '1' };
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('PIP_') && v !== undefined) env[k] = v;
  // pip retries an unreachable index 5 times per package page by default: minutes on a host whose index is local
  // (the default index unreachable) — the build runs inside a step's timeout. The operator's PIP_RETRIES wins.
  env.PIP_RETRIES ??= '1';
  // The user-level pip config (~/.config/pip/pip.conf) of the account runwright runs as, when it has one.
  const userConf = process.env.HOME ? path.join(process.env.HOME, '.config', 'pip', 'pip.conf') : '';
  if (userConf && existsSync(userConf) && !env.PIP_CONFIG_FILE) env.PIP_CONFIG_FILE = userConf;
  return env;
}

/** [project].dependencies of a pyproject.toml, one requirement a line (read by runwright's Python's tomllib). */
function pyprojectRequirements(file: string): string {
  const r = spawnSync('/usr/bin/python3', ['-I', '-c', 'import json,sys,tomllib\nd=tomllib.load(open(sys.argv[1],"rb"))\nprint(json.dumps(d.get("project",{}).get("dependencies",[])))', file], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new PermanentError(`cannot read ${path.basename(file)}: ${r.stderr.trim().split('\n').pop()}`, 'runtime_pyproject_invalid');
  const deps = JSON.parse(r.stdout) as unknown;
  if (!Array.isArray(deps) || !deps.every((d) => typeof d === 'string')) throw new PermanentError(`${path.basename(file)}: [project].dependencies is not a list of strings`, 'runtime_pyproject_invalid');
  return deps.map((d) => `${d}\n`).join('');
}

function runQuiet(argv: string[], env: Record<string, string>, timeoutMs: number, signal?: AbortSignal): Promise<{ code: number | null; out: string; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let timedOut = false;
    const kill = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    signal?.addEventListener('abort', kill, { once: true });
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out = (out + c).slice(-20_000)));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (out = (out + c).slice(-20_000)));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new PermanentError(`cannot run ${argv[0]}: ${e.message}`, 'runtime_spawn'));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', kill);
      resolve({ code, out, timedOut });
    });
  });
}
