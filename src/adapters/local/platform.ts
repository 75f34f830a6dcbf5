// The local platform's shared state on disk: what each target runs now, and every job execution's captured log
// lines. Plain files under one directory (config local.platformDir) so any runwright process on the host — the
// worker that deployed, another worker that verifies, the CLI — reads the same thing.
//
//   <platformDir>/<target>/state.json                 { image: <commit>, previousImage, artifactDir, ... }
//   <platformDir>/<target>/executions/<name>.json     summary: startedAt, finishedAt, result
//   <platformDir>/<target>/executions/<name>.jsonl    one LogEntry per line, in the order written
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DeployResult, LogEntry } from '../../ports/index.js';
import type { Target } from '../../core/types.js';
import { resolveInside } from '../../core/safe-path.js';
import { normalizeSeverity } from '../log-filter.js';

export const LOCAL_EXECUTION_LABEL = 'runwright.dev/execution_name';
const MAX_LINE = 16 * 1024;

export interface LocalState {
  image: string;
  previousImage?: string;
  artifactDir?: string;
  updatedAt: string;
  key?: string;
  execution?: string;
}

export interface ExecutionSummary {
  name: string;
  key: string;
  commit: string;
  startedAt: string;
  finishedAt?: string;
  result?: DeployResult;
}

/** A deterministic execution name per target and idempotency key: a re-delivered step finds its own execution. */
export function executionName(target: Target, key: string): string {
  return `${safeName(target.name)}-${createHash('sha256').update(key).digest('hex').slice(0, 10)}`;
}

function safeName(s: string): string {
  return /^[A-Za-z0-9._-]{1,80}$/.test(s) && s !== '.' && s !== '..' ? s : `t-${createHash('sha256').update(s).digest('hex').slice(0, 16)}`;
}

export class LocalPlatform {
  readonly dir: string;
  constructor(platformDir: string, target: Target) {
    const root = path.resolve(platformDir);
    mkdirSync(root, { recursive: true });
    this.dir = resolveInside(root, safeName(target.name));
    mkdirSync(path.join(this.dir, 'executions'), { recursive: true });
  }

  readState(): LocalState | undefined {
    return readJson<LocalState>(path.join(this.dir, 'state.json'));
  }

  writeState(s: LocalState): void {
    writeJsonAtomic(path.join(this.dir, 'state.json'), s);
  }

  private file(name: string, ext: 'json' | 'jsonl'): string {
    return resolveInside(path.join(this.dir, 'executions'), `${safeName(name)}.${ext}`);
  }

  readExecution(name: string): ExecutionSummary | undefined {
    return readJson<ExecutionSummary>(this.file(name, 'json'));
  }

  /** (Re)start an execution: an unfinished earlier attempt's lines are dropped, its summary replaced. */
  startExecution(s: ExecutionSummary): string {
    const log = this.file(s.name, 'jsonl');
    writeFileSync(log, '');
    writeJsonAtomic(this.file(s.name, 'json'), s);
    return log;
  }

  finishExecution(s: ExecutionSummary): void {
    writeJsonAtomic(this.file(s.name, 'json'), s);
  }

  append(name: string, e: LogEntry): void {
    appendFileSync(this.file(name, 'jsonl'), JSON.stringify(e) + '\n');
  }

  /** Entries of one execution, or of every execution of the target. */
  entries(execution?: string): LogEntry[] {
    const dir = path.join(this.dir, 'executions');
    const files = execution ? [this.file(execution, 'jsonl')] : readdirSync(dir).filter((f) => f.endsWith('.jsonl')).map((f) => path.join(dir, f));
    const out: LogEntry[] = [];
    for (const f of files) {
      if (!existsSync(f)) continue;
      for (const line of readFileSync(f, 'utf8').split('\n')) {
        if (!line) continue;
        try {
          out.push(JSON.parse(line) as LogEntry);
        } catch {
          /* a line cut by a crash mid-write */
        }
      }
    }
    return out;
  }
}

/**
 * One captured output line as a log entry, the way Cloud Run does it: a JSON line with `severity` and `message` is
 * a structured entry; other stdout lines are DEFAULT, stderr lines ERROR.
 */
export function lineToEntry(stream: 'stdout' | 'stderr', line: string, execution: string, at = new Date()): LogEntry {
  let text = line.length > MAX_LINE ? line.slice(0, MAX_LINE) + '…' : line;
  let severity: string = stream === 'stderr' ? 'ERROR' : 'DEFAULT';
  if (line.startsWith('{')) {
    try {
      const j = JSON.parse(line) as { severity?: unknown; message?: unknown };
      if (typeof j.severity === 'string') severity = normalizeSeverity(j.severity);
      if (typeof j.message === 'string') text = j.message;
    } catch {
      /* not JSON after all */
    }
  }
  return { timestamp: at.toISOString(), severity, text, labels: { stream, [LOCAL_EXECUTION_LABEL]: execution }, execution };
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function writeJsonAtomic(file: string, v: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(v, null, 2));
  renameSync(tmp, file);
}
