import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ProcessPort, ProcResult, TargetRunInfo, TargetRunOptions } from '../../ports/index.js';
import { pythonToolPath } from '../../actions/lib/python-tool.js';
import { VenvCache } from './runtime.js';
import {
  LAUNCHER_ENV, PidsCgroup, SANDBOX_HOME, SANDBOX_NET_DIR, allowlistedEnv, bwrapArgv, endpointOf, forwardEndpoints, loopbackUrl, privateTmp, sandboxStatus, which,
  type SandboxMode, type SandboxStatus,
} from './sandbox.js';

type LineCb = (stream: 'stdout' | 'stderr', line: string) => void;

export interface LocalProcessOptions {
  /** auto (default): bwrap when it works here, else the allowlisted environment only; bwrap: refuse to run target code without it; off. */
  sandbox?: SandboxMode;
  /** Where target venvs are cached (default <tmpdir>/runwright-venvs). */
  venvDir?: string;
}

const DEFAULT_MAX_PROCS = 256;

/** Runs argv arrays (no shell), line-buffered output callbacks, timeout and abort kill the process group. */
export class LocalProcess implements ProcessPort {
  readonly venvs: VenvCache;
  private readonly mode: SandboxMode;

  constructor(opts: LocalProcessOptions = {}) {
    this.mode = opts.sandbox ?? 'auto';
    this.venvs = new VenvCache(opts.venvDir ?? path.join(os.tmpdir(), 'runwright-venvs'));
  }

  /** What isolation target code gets on this host (probed once). */
  sandbox(): SandboxStatus {
    return sandboxStatus(this.mode);
  }

  async run(argv: string[], opts: { cwd: string; env?: Record<string, string>; timeoutMs?: number; signal?: AbortSignal; input?: string; onLine?: LineCb }): Promise<ProcResult> {
    return await this.spawnCaptured(argv, { ...opts, fullEnv: { ...(process.env as Record<string, string>), ...opts.env } });
  }

  targetUrl(target: TargetRunOptions['target'], url: string): string {
    if (this.sandbox().kind !== 'bwrap' || target.runtime?.network === 'host') return url;
    const ep = endpointOf(url);
    return ep ? loopbackUrl(url, ep.port) : url;
  }

  async runTarget(argv: string[], opts: TargetRunOptions): Promise<ProcResult & { run: TargetRunInfo }> {
    if (argv.length === 0) throw new Error('empty argv');
    const status = this.sandbox();
    if (this.mode === 'bwrap' && status.kind !== 'bwrap') throw new Error(`RUNWRIGHT_SANDBOX=bwrap but ${status.reason}`);
    const runtime = await this.venvs.resolve(opts.target, opts.root, opts.signal);
    const cmd = [...argv];
    if (cmd[0] === 'python' || cmd[0] === 'python3') cmd[0] = runtime.python;
    const boxed = status.kind === 'bwrap';
    const declared = opts.target.runtime?.env;
    const shareNet = opts.target.runtime?.network === 'host';
    const tmp = privateTmp('run');
    mkdirSync(path.join(tmp, 'home'), { recursive: true, mode: 0o700 });
    mkdirSync(path.join(tmp, 'tmp'), { recursive: true, mode: 0o700 });
    const given: Record<string, string> = { ...opts.env };
    let forward: { close(): Promise<void> } | undefined;
    let cgroup: PidsCgroup | undefined;
    // Everything the target's command sees (once the endpoints are known); with bwrap it is set inside the sandbox
    // (bwrap --clearenv --setenv) and the launchers (pids-cgroup shim, timeout, bwrap) run with LAUNCHER_ENV.
    const targetEnv = () =>
      allowlistedEnv({
        path: runtime.binDir ? [runtime.binDir] : [],
        home: boxed ? SANDBOX_HOME : path.join(tmp, 'home'),
        tmp: boxed ? '/tmp' : path.join(tmp, 'tmp'),
        declared,
        given,
      });
    try {
      let spawnArgv = cmd;
      let cwd = opts.cwd;
      let env: Record<string, string>;
      if (boxed) {
        // runwright's own helpers (python/: netfwd.py, the runtime probe) are readable, never writable.
        const readOnly = [...runtime.readOnly, path.dirname(pythonToolPath('netfwd.py'))];
        let netDir: string | undefined;
        const endpoints = (opts.endpoints ?? []).map((e) => ({ ...e, ep: endpointOf(e.url) }));
        if (!shareNet && endpoints.length) {
          netDir = path.join(tmp, 'net');
          mkdirSync(netDir, { mode: 0o700 });
          const eps = endpoints.flatMap((e) => (e.ep ? [e.ep] : []));
          forward = await forwardEndpoints(netDir, eps);
          for (const e of endpoints) given[e.env] = e.ep ? loopbackUrl(e.url, e.ep.port) : e.url;
          const netfwd = pythonToolPath('netfwd.py');
          spawnArgv = ['/usr/bin/python3', '-I', '-S', netfwd, SANDBOX_NET_DIR, ...[...new Set(eps.map((e) => String(e.port)))], '--', ...cmd];
        } else {
          for (const e of endpoints) given[e.env] = e.url;
        }
        const maxProcs = opts.target.runtime?.maxProcs ?? DEFAULT_MAX_PROCS;
        env = targetEnv();
        spawnArgv = bwrapArgv(status, { writable: [opts.root], readOnly, shareNet, cwd: opts.cwd, netDir, maxProcs, env }, spawnArgv);
        if (status.pids === 'cgroup') cgroup = new PidsCgroup(`runwright-${process.pid}-${path.basename(tmp)}`, maxProcs);
        cwd = opts.root;
      } else {
        for (const e of opts.endpoints ?? []) given[e.env] = e.url;
        env = targetEnv();
      }
      // A backstop that does not depend on this process: if the worker dies (SIGKILL, OOM) its timers die with it,
      // so coreutils' timeout kills the command (and with bwrap, the whole sandbox) shortly after the deadline.
      const timeoutBin = which('timeout');
      if (timeoutBin) spawnArgv = [timeoutBin, '-s', 'KILL', `${Math.ceil(opts.timeoutMs / 1000) + 5}s`, ...spawnArgv];
      if (cgroup) spawnArgv = cgroup.wrap(spawnArgv);
      const res = await this.spawnCaptured(spawnArgv, { cwd, fullEnv: boxed ? { ...LAUNCHER_ENV } : env, timeoutMs: opts.timeoutMs, signal: opts.signal, input: opts.input, onLine: opts.onLine, onKill: () => cgroup?.killAll() });
      return { ...res, run: { sandbox: status.kind, argv: cmd, python: runtime.python, venv: runtime.venv, envNames: Object.keys(env).sort() } };
    } finally {
      cgroup?.remove();
      await forward?.close();
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  private async spawnCaptured(
    argv: string[],
    opts: { cwd: string; fullEnv: Record<string, string>; timeoutMs?: number; signal?: AbortSignal; input?: string; onLine?: LineCb; onKill?: () => void },
  ): Promise<ProcResult> {
    if (argv.length === 0) throw new Error('empty argv');
    const started = Date.now();
    return await new Promise<ProcResult>((resolve, reject) => {
      const child = spawn(argv[0]!, argv.slice(1), {
        cwd: opts.cwd,
        env: opts.fullEnv,
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
        shell: false,
      });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      const bufs = { stdout: '', stderr: '' };
      const feed = (stream: 'stdout' | 'stderr', chunk: string) => {
        if (stream === 'stdout') stdout += chunk;
        else stderr += chunk;
        if (!opts.onLine) return;
        bufs[stream] += chunk;
        let i;
        while ((i = bufs[stream].indexOf('\n')) >= 0) {
          opts.onLine(stream, bufs[stream].slice(0, i));
          bufs[stream] = bufs[stream].slice(i + 1);
        }
      };
      child.stdout.setEncoding('utf8').on('data', (c: string) => feed('stdout', c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => feed('stderr', c));
      const kill = () => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
        opts.onKill?.();
      };
      const timer = opts.timeoutMs ? setTimeout(() => { timedOut = true; kill(); }, opts.timeoutMs) : undefined;
      const onAbort = () => kill();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      child.on('error', (e) => {
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        reject(e);
      });
      child.on('close', (code) => {
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        for (const s of ['stdout', 'stderr'] as const) if (bufs[s] && opts.onLine) opts.onLine(s, bufs[s]);
        resolve({ code, stdout, stderr, durationMs: Date.now() - started, timedOut });
      });
      child.stdin.on('error', () => {});
      child.stdin.end(opts.input ?? '');
    });
  }
}
