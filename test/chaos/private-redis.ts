// A private redis-server for chaos tests (never the machine's shared one on 6379): a free loopback port, AOF on
// (`appendfsync everysec`) in a temp dir, restartable on the same port and dir — gracefully (SIGTERM: Redis
// writes and fsyncs the AOF before exiting) or as a crash (SIGKILL: up to a second of writes may be lost).
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';

export const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? '/usr/bin/redis-server';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 500);
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      clearTimeout(t);
      s.destroy();
      resolve(String(d).startsWith('+PONG'));
    });
    s.on('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

export class PrivateRedis {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'rw-chaos-redis-'));
  port = 0;
  private proc?: ChildProcess;
  starts = 0;

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    if (!this.port) this.port = await freePort();
    // A previous instance may still hold the port for a moment after exiting: retry the bind.
    for (let attempt = 0; ; attempt++) {
      const proc = spawn(REDIS_SERVER, ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--protected-mode', 'yes', '--loglevel', 'warning'], { stdio: 'ignore' });
      const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
      for (let i = 0; i < 200; i++) {
        if (await ping(this.port)) {
          this.proc = proc;
          this.starts++;
          return this;
        }
        if (proc.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      proc.kill('SIGKILL');
      await exited;
      if (attempt >= 20) throw new Error(`redis-server did not start on port ${this.port}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stop it: SIGTERM is a clean shutdown (AOF fsynced), SIGKILL a crash. Resolves once the process is gone. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.proc = undefined;
    if (p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((r) => p.once('exit', r));
      p.kill(signal);
      await gone;
    }
  }

  async restart(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    await this.stop(signal);
    await this.start();
  }

  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
