import { spawn } from 'node:child_process';
import type { ProcessPort } from '../../ports/index.js';

/** Runs argv arrays (no shell), line-buffered output callbacks, timeout and abort kill the process group. */
export class LocalProcess implements ProcessPort {
  async run(
    argv: string[],
    opts: { cwd: string; env?: Record<string, string>; timeoutMs?: number; signal?: AbortSignal; input?: string; onLine?: (stream: 'stdout' | 'stderr', line: string) => void },
  ) {
    if (argv.length === 0) throw new Error('empty argv');
    const started = Date.now();
    return await new Promise<{ code: number | null; stdout: string; stderr: string; durationMs: number; timedOut: boolean }>((resolve, reject) => {
      const child = spawn(argv[0]!, argv.slice(1), {
        cwd: opts.cwd,
        env: { ...process.env, ...opts.env },
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
