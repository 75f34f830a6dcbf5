// Where target code runs on this host: an allowlisted environment always, and bubblewrap (bwrap) when the
// machine allows user/mount/pid/net namespaces. Inside the sandbox: the system read-only (/usr, /etc and the
// runtime's own folders), the checkout and a private /tmp writable (the checkout's .git read-only, so a check
// cannot plant hooks or config that runwright's own git would run later), a fresh /proc of its own pid
// namespace (no runwright process, no /proc/<pid>/environ of ours), no network at all unless the target
// declares `runtime.network: host`; endpoints runwright hands over (the scratch database for alembic) reach it
// through a unix socket per endpoint, forwarded to 127.0.0.1:<port> inside the sandbox by python/netfwd.py.
// Processes are capped (a per-run pids cgroup when runwright may create one, RLIMIT_NPROC otherwise) and the
// whole sandbox dies with its process group on timeout (pid namespace + --die-with-parent).
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { forbiddenEnvName } from '../../core/env-names.js';

export type SandboxMode = 'auto' | 'bwrap' | 'off';

export interface SandboxStatus {
  /** bwrap: namespaces work here; env-only: the allowlisted environment is all the isolation there is. */
  kind: 'bwrap' | 'env-only';
  reason?: string;
  bwrap?: string;
  /** How the number of processes is capped inside the sandbox. */
  pids: 'cgroup' | 'rlimit' | 'none';
}

const SYSTEM_DIRS = ['/usr', '/etc', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
const PIDS_CGROUP_ROOT = '/sys/fs/cgroup/pids';

export function which(bin: string): string | undefined {
  for (const dir of ['/usr/bin', '/bin', '/usr/local/bin', '/usr/sbin']) {
    const p = path.join(dir, bin);
    if (existsSync(p)) return p;
  }
  return undefined;
}

let cached: { mode: SandboxMode; status: SandboxStatus } | undefined;

/** Probe once per process: does `bwrap --unshare-all` start a process here? */
export function sandboxStatus(mode: SandboxMode = 'auto'): SandboxStatus {
  if (cached?.mode === mode) return cached.status;
  const status = probe(mode);
  cached = { mode, status };
  return status;
}

function probe(mode: SandboxMode): SandboxStatus {
  if (mode === 'off') return { kind: 'env-only', reason: 'sandbox disabled by RUNWRIGHT_SANDBOX=off', pids: 'none' };
  const bwrap = which('bwrap');
  if (!bwrap) return { kind: 'env-only', reason: 'bubblewrap (bwrap) is not installed: apt-get install -y bubblewrap', pids: 'none' };
  const args = [...systemBinds(), '--proc', '/proc', '--dev', '/dev', '--unshare-all', '--unshare-user', '--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--', '/bin/true'];
  const r = spawnSync(bwrap, args, { encoding: 'utf8', timeout: 20_000, env: { PATH: '/usr/bin:/bin' } });
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').pop();
    return { kind: 'env-only', reason: `user namespaces are not available to bwrap here (${why})`, bwrap, pids: 'none' };
  }
  return { kind: 'bwrap', bwrap, pids: pidsCgroupUsable() ? 'cgroup' : which('prlimit') && process.getuid?.() !== 0 ? 'rlimit' : 'none' };
}

function pidsCgroupUsable(): boolean {
  try {
    const probeDir = path.join(PIDS_CGROUP_ROOT, `runwright-probe-${process.pid}`);
    mkdirSync(probeDir);
    rmdirSync(probeDir);
    return true;
  } catch {
    return false;
  }
}

let systemBindsCached: string[] | undefined;

/** /usr, /etc ... read-only; a merged-/usr symlink (/bin -> usr/bin) stays a symlink. Read once per process. */
function systemBinds(): string[] {
  if (systemBindsCached) return systemBindsCached;
  const out: string[] = [];
  for (const d of SYSTEM_DIRS) {
    let st;
    try {
      st = lstatSync(d);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) out.push('--symlink', readlinkSafe(d), d);
    else if (st.isDirectory()) out.push('--ro-bind', d, d);
  }
  return (systemBindsCached = out);
}

function readlinkSafe(p: string): string {
  try {
    return readlinkSync(p) || p;
  } catch {
    return p;
  }
}

/** The whole environment target code gets: a few basics + what the target's config declares + what the caller hands over. */
export function allowlistedEnv(opts: { path: string[]; home: string; tmp: string; declared?: Record<string, string>; given?: Record<string, string> }): Record<string, string> {
  const env: Record<string, string> = {
    PATH: [...opts.path, '/usr/local/bin', '/usr/bin', '/bin'].join(':'),
    HOME: opts.home,
    TMPDIR: opts.tmp,
    LANG: process.env.LANG || 'C.UTF-8',
  };
  if (process.env.TZ) env.TZ = process.env.TZ;
  // Declared values are literal strings from the targets file (never copied from runwright's environment).
  for (const [k, v] of Object.entries(opts.declared ?? {})) if (!forbiddenEnvName(k)) env[k] = v;
  // The caller's values (the scratch database URL, PYTHONUNBUFFERED ...) are chosen by runwright's code.
  for (const [k, v] of Object.entries(opts.given ?? {})) if (!forbiddenEnvName(k)) env[k] = v;
  return env;
}

export interface BwrapPlan {
  /** Writable folders (the checkout). */
  writable: string[];
  /** Extra read-only folders (the venv, an interpreter outside /usr, runwright's python/ for netfwd). */
  readOnly: string[];
  /** Share the host's network (the target declared it, or a pip build that needs its index). */
  shareNet: boolean;
  cwd: string;
  /** unix socket dir bound at /run/runwright-net (see forwardEndpoints). */
  netDir?: string;
  maxProcs: number;
  /** The whole environment of the sandboxed command (allowlistedEnv): set inside by bwrap, which starts from none. */
  env: Record<string, string>;
}

export const SANDBOX_NET_DIR = '/run/runwright-net';
export const SANDBOX_HOME = '/tmp/home';

/**
 * The environment bwrap and what starts it (the pids-cgroup shim, timeout) run with: fixed, nothing of the
 * target's or runwright's. The command's own environment is set inside the sandbox (--clearenv, --setenv).
 */
export const LAUNCHER_ENV: Readonly<Record<string, string>> = Object.freeze({ PATH: '/usr/bin:/bin' });

/** bwrap ... -- argv; the command inside gets exactly plan.env (bwrap itself runs with LAUNCHER_ENV). */
export function bwrapArgv(status: SandboxStatus, plan: BwrapPlan, argv: string[]): string[] {
  const a = [status.bwrap!, ...systemBinds(), '--clearenv'];
  for (const [k, v] of Object.entries(plan.env)) a.push('--setenv', k, v);
  // Mounts apply in order: the private /tmp first, so a venv or checkout that lives under the host's /tmp stays visible.
  a.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--dir', SANDBOX_HOME, '--tmpfs', '/run');
  for (const d of plan.readOnly) if (existsSync(d)) a.push('--ro-bind', d, d);
  for (const d of plan.writable) {
    a.push('--bind', d, d);
    const git = path.join(d, '.git');
    if (existsSync(git)) a.push('--ro-bind', git, git);
  }
  if (plan.netDir) a.push('--ro-bind', plan.netDir, SANDBOX_NET_DIR);
  a.push('--unshare-all', '--unshare-user');
  if (plan.shareNet) a.push('--share-net');
  a.push('--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--hostname', 'sandbox', '--chdir', plan.cwd, '--');
  const prlimit = which('prlimit');
  if (status.pids === 'rlimit' && prlimit) a.push(prlimit, `--nproc=${plan.maxProcs}`, '--core=0', '--');
  return [...a, ...argv];
}

/** A per-run pids cgroup (v1) with pids.max; the process joins it before bwrap starts (python exec shim). */
export class PidsCgroup {
  readonly dir: string;
  constructor(name: string, max: number) {
    this.dir = path.join(PIDS_CGROUP_ROOT, name);
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(path.join(this.dir, 'pids.max'), String(max));
  }
  /**
   * argv that moves itself into the cgroup, then execs argv: a fixed POSIX sh line (the cgroup file and argv are
   * its positional parameters, never parsed as shell text), started with LAUNCHER_ENV only — nothing in its
   * environment (ENV, BASH_ENV ...) can make it read a script. If joining the cgroup fails, nothing is exec'd.
   * (sh starts in about a millisecond; the Python line it replaces took 10-20 ms per target run.)
   */
  wrap(argv: string[]): string[] {
    return ['/bin/sh', '-c', 'echo "$$" > "$0" && exec "$@"', path.join(this.dir, 'cgroup.procs'), ...argv];
  }
  killAll(): void {
    for (let round = 0; round < 50; round++) {
      let pids: number[];
      try {
        pids = readFileSync(path.join(this.dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
      } catch {
        return;
      }
      if (pids.length === 0) return;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
  }
  remove(): void {
    this.killAll();
    for (let i = 0; i < 100; i++) {
      try {
        rmdirSync(this.dir);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        this.killAll();
      }
    }
  }
}

export interface Endpoint {
  host: string;
  port: number;
}

/** One unix socket per endpoint in `dir` (`<port>.sock`), each connection piped to host:port. */
export async function forwardEndpoints(dir: string, endpoints: Endpoint[]): Promise<{ close(): Promise<void> }> {
  const servers: net.Server[] = [];
  const sockets = new Set<net.Socket>();
  for (const ep of endpoints) {
    const server = net.createServer((inner) => {
      sockets.add(inner);
      const outer = net.connect(ep.port, ep.host);
      sockets.add(outer);
      inner.pipe(outer).pipe(inner);
      const done = () => {
        inner.destroy();
        outer.destroy();
        sockets.delete(inner);
        sockets.delete(outer);
      };
      inner.on('error', done).on('close', done);
      outer.on('error', done).on('close', done);
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path.join(dir, `${ep.port}.sock`), () => resolve()));
    servers.push(server);
  }
  return {
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}

/** A URL's host:port (default port by scheme) for postgres/mysql/redis-like URLs; undefined for a socket URL. */
export function endpointOf(url: string): Endpoint | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (!u.hostname) return undefined;
  const defaults: Record<string, number> = { postgres: 5432, postgresql: 5432, mysql: 3306, mariadb: 3306 };
  const scheme = u.protocol.replace(/:$/, '').split('+')[0]!;
  const port = u.port ? Number(u.port) : defaults[scheme];
  if (!port) return undefined;
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port };
}

/** The same URL pointing at 127.0.0.1 (the in-sandbox end of the forwarder), port kept. */
export function loopbackUrl(url: string, port: number): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}

export function privateTmp(prefix: string): string {
  const base = path.join(os.tmpdir(), 'runwright-sandbox');
  mkdirSync(base, { recursive: true, mode: 0o700 });
  return path.join(base, `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
}
