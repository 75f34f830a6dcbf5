// Shared pieces of the benchmarks: Redis (the one tests use, or a private one), percentiles, per-prefix memory,
// child processes that report over IPC, and the results table.
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BENCH = path.join(ROOT, 'bench');

export interface RedisHandle {
  url: string;
  stop(): Promise<void>;
}

/** REDIS_URL (default 127.0.0.1:6379), or a private redis-server when that is not answering (scripts/ensure-redis.mjs). */
export async function benchRedis(): Promise<RedisHandle> {
  const mod = (await import(pathToFileURL(path.join(ROOT, 'scripts', 'ensure-redis.mjs')).href)) as { ensureRedis(): Promise<RedisHandle> };
  return mod.ensureRedis();
}

export function benchPrefix(name: string): string {
  return `rwbench-${name}-${randomBytes(4).toString('hex')}`;
}

export async function dropPrefix(url: string, prefix: string): Promise<void> {
  const r = new Redis(url, { maxRetriesPerRequest: 3 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 2000);
      cursor = next;
      if (keys.length) await r.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

/**
 * Bytes Redis holds for every key under a prefix (MEMORY USAGE, all samples) and the key count; with `kindOf`
 * (given the key without `<prefix>:`) also the bytes by kind.
 */
export async function prefixMemory(url: string, prefix: string, kindOf?: (rest: string) => string): Promise<{ bytes: number; keys: number; byKind: Record<string, number> }> {
  const r = new Redis(url, { maxRetriesPerRequest: 3 });
  let bytes = 0;
  let keys = 0;
  const byKind: Record<string, number> = {};
  try {
    let cursor = '0';
    do {
      const [next, batch] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 2000);
      cursor = next;
      if (!batch.length) continue;
      const p = r.pipeline();
      for (const k of batch) p.call('MEMORY', 'USAGE', k, 'SAMPLES', '0');
      const res = (await p.exec()) ?? [];
      batch.forEach((k, i) => {
        const b = Number(res[i]?.[1] ?? 0);
        bytes += b;
        if (kindOf) {
          const kind = kindOf(k.slice(prefix.length + 1));
          byKind[kind] = (byKind[kind] ?? 0) + b;
        }
      });
      keys += batch.length;
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
  return { bytes, keys, byKind };
}

/** CPU seconds the Redis server has used so far (INFO cpu: user + sys, all threads). */
export async function redisCpu(url: string): Promise<number> {
  const r = new Redis(url, { maxRetriesPerRequest: 3 });
  try {
    const info = await r.info('cpu');
    const get = (k: string) => Number(new RegExp(`^${k}:([0-9.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
    return get('used_cpu_user') + get('used_cpu_sys');
  } finally {
    r.disconnect();
  }
}

/** CPU (this process, µs) and Redis server CPU (s) spent while `fn` runs. */
export async function withCpu<T>(url: string, fn: () => Promise<T>): Promise<{ value: T; cpuUs: number; redisCpuUs: number }> {
  const r0 = await redisCpu(url);
  const c0 = process.cpuUsage();
  const value = await fn();
  const c = process.cpuUsage(c0);
  const r1 = await redisCpu(url);
  return { value, cpuUs: c.user + c.system, redisCpuUs: (r1 - r0) * 1e6 };
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function summary(values: number[]): { n: number; p50: number; p90: number; p99: number; max: number; mean: number } {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[s.length - 1] ?? Number.NaN, mean: s.reduce((a, b) => a + b, 0) / (s.length || 1) };
}

/** Resolve when `check()` is true, polling every `everyMs`; reject after `timeoutMs` with what `describe()` says. */
export async function until(check: () => Promise<boolean>, timeoutMs: number, describe: () => Promise<string> | string, everyMs = 20): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms: ${await describe()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Resident set size of a process in bytes (Linux /proc), or NaN. */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

export interface Child {
  proc: ChildProcess;
  /** The first IPC message matching `type` (past or future). */
  message<T = any>(type: string, timeoutMs?: number): Promise<T>;
  /** Send a request and await the reply of type `${type}:done`. */
  ask<T = any>(type: string, data?: unknown, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

/** A child process with an IPC channel (TypeScript through tsx; .mjs/.js as plain Node); messages are `{ type, ...data }`. */
export function tsChild(file: string, env: Record<string, string>, execArgv: string[] = []): Child {
  const loader = file.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const proc = spawn(process.execPath, [...execArgv, ...loader, file], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const seen: any[] = [];
  const waiters: { type: string; resolve: (m: any) => void }[] = [];
  proc.on('message', (m: any) => {
    // A message goes to the first waiter for its type, else it is kept for a later message() call.
    const w = waiters.find((x) => x.type === m?.type);
    if (!w) return void seen.push(m);
    waiters.splice(waiters.indexOf(w), 1);
    w.resolve(m);
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const message = <T>(type: string, timeoutMs = 60_000): Promise<T> => {
    const i = seen.findIndex((m) => m?.type === type);
    if (i >= 0) return Promise.resolve(seen.splice(i, 1)[0] as T);
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${path.basename(file)}: no '${type}' message within ${timeoutMs} ms`)), timeoutMs);
      const w = { type, resolve: (m: any) => { clearTimeout(t); resolve(m as T); } };
      waiters.push(w);
      void exited.then(() => { if (waiters.includes(w)) { clearTimeout(t); reject(new Error(`${path.basename(file)} exited (code ${proc.exitCode}) before sending '${type}'`)); } });
    });
  };
  return {
    proc,
    message,
    ask: <T>(type: string, data?: unknown, timeoutMs?: number) => {
      const reply = message<T>(`${type}:done`, timeoutMs);
      proc.send({ type, data });
      return reply;
    },
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.send({ type: 'stop' });
        const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

export const fmt = {
  n: (v: number, d = 0) => (Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : 'n/a'),
  ms: (v: number) => (Number.isFinite(v) ? `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ms` : 'n/a'),
  mb: (b: number) => (Number.isFinite(b) ? `${(b / 1048576).toFixed(1)} MB` : 'n/a'),
  x: (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : 'n/a'),
};

export interface Row {
  what: string;
  value: string;
  baseline: string;
  ratio: string;
  target: string;
  met?: boolean;
}

/** A Markdown table (readable in a terminal, pasteable into the README). */
export function table(rows: Row[]): string {
  const head = ['#', 'measure', 'runwright', 'baseline (same run)', 'ratio', 'target', ''];
  const body = rows.map((r, i) => [String(i + 1), r.what, r.value, r.baseline, r.ratio, r.target, r.met === undefined ? '' : r.met ? 'met' : 'MISSED']);
  const all = [head, ...body];
  const w = head.map((_, c) => Math.max(...all.map((row) => row[c]!.length)));
  const line = (row: string[]) => `| ${row.map((cell, c) => cell.padEnd(w[c]!)).join(' | ')} |`;
  return [line(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...body.map(line)].join('\n');
}
