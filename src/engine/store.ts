// The run store on Redis (ioredis). Every state change is one Lua script (lua/*.lua, loaded at start-up): checked
// (cursor, status) and applied atomically with its step events, index updates and live publication.
// Key names: keys.ts (this module and its scripts are the only ones that read or write the run keys).
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { Alert, ApprovalDecision, Json, RunRecord, RunStatus, StepEvent, StepState } from '../core/types.js';
import { TERMINAL_STATUSES } from '../core/types.js';
import { keysFor, type Keys } from './keys.js';

/** The text of a script in lua/ next to this module (copied next to the compiled module by the build). */
export function luaSource(name: string): string {
  const url = new URL(`./lua/${name}.lua`, import.meta.url);
  try {
    return readFileSync(url, 'utf8');
  } catch (e) {
    throw new Error(`the run store's Lua script ${url.pathname} is missing (a build that did not copy src/engine/lua?): ${(e as Error).message}`);
  }
}

let scripts: Record<'apply' | 'attach' | 'begin' | 'create' | 'release', string> | undefined;
function loadScripts() {
  if (scripts) return scripts;
  const lib = luaSource('lib').replace('__TERMINAL__', `{${TERMINAL_STATUSES.map((s) => `['${s}']=true`).join(',')}}`);
  scripts = { apply: `${lib}\n${luaSource('apply')}`, attach: `${lib}\n${luaSource('attach')}`, begin: `${lib}\n${luaSource('begin')}`, create: `${lib}\n${luaSource('create')}`, release: `${lib}\n${luaSource('release')}` };
  return scripts;
}

/**
 * A line another part keeps about an alert that attaches (the API's intake log): appended to `stream` (capped at
 * about maxLen) in the attach's own atomic step, as the JSON of `entry` plus outcome 'attached' and the run's id.
 */
export interface Journal {
  stream: string;
  maxLen: number;
  entry: Record<string, unknown>;
}

export interface ListFilter {
  status?: RunStatus;
  runbook?: string;
  target?: string;
  since?: number; // ms
  until?: number; // ms
  limit?: number;
  cursor?: string; // opaque (offset)
}

export class RunStore {
  readonly redis: Redis;
  private subscriber?: Redis;
  private readonly subscribed = new Map<string, Promise<void>>();
  private listeners = new Set<{ fn: (ev: StepEvent) => void; runId?: string; contains?: string; runLevel: boolean }>();

  readonly keys: Keys;

  constructor(readonly url: string, readonly prefix: string, redis?: Redis) {
    this.redis = redis ?? new Redis(url, { maxRetriesPerRequest: 20, enableReadyCheck: true });
    this.keys = keysFor(prefix);
    const lua = loadScripts();
    this.redis.defineCommand('rwApply', { numberOfKeys: 2, lua: lua.apply });
    this.redis.defineCommand('rwBegin', { numberOfKeys: 2, lua: lua.begin });
    this.redis.defineCommand('rwCreate', { numberOfKeys: 2, lua: lua.create });
    this.redis.defineCommand('rwRelease', { numberOfKeys: 2, lua: lua.release });
  }

  private batched?: Redis;
  /**
   * A second connection with ioredis auto-pipelining, for what many concurrent requests send at once (intake's rate
   * window, the attach of a duplicate alert): the commands of one event-loop turn go out in one write, not one
   * write each (a syscall per command was a quarter of the intake server's CPU). The main connection, which carries
   * the executor's step updates, stays as it is.
   */
  get pipelined(): Redis {
    if (!this.batched) {
      const r = this.redis.duplicate({ enableAutoPipelining: true });
      // Failing calls reject where they are made; without a listener ioredis prints every reconnect error.
      r.on('error', () => undefined);
      r.defineCommand('rwAttach', { numberOfKeys: 1, lua: loadScripts().attach });
      this.batched = r;
    }
    return this.batched;
  }

  /** `P:<parts>` (prefer the named builders of `keys`). */
  key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }
  runKey(id: string) {
    return this.keys.run(id);
  }
  evKey(id: string) {
    return this.keys.events(id);
  }
  lockKey(target: string) {
    return this.keys.lock(target);
  }
  lockqKey(target: string) {
    return this.keys.lockQueue(target);
  }

  async saveRunbookSource(hash: string, source: string): Promise<void> {
    await this.redis.set(this.keys.runbookSource(hash), source);
  }
  async runbookSource(hash: string): Promise<string | null> {
    return this.redis.get(this.keys.runbookSource(hash));
  }

  async create(args: {
    run: RunRecord;
    firstCursor: string;
    dedupe: boolean;
    throttleMs?: number;
    lockPolicy: 'wait' | 'refuse';
    createdEvent: StepEvent;
  }): Promise<{ result: 'created'; status: RunStatus; holder?: string } | { result: 'attached'; runId: string } | { result: 'throttled'; lastRunId: string; retryInMs: number }> {
    const r = args.run;
    const fields: Record<string, string> = {
      meta: JSON.stringify({ id: r.id, runbookId: r.runbookId, runbookHash: r.runbookHash, alert: r.alert, target: r.target, inputs: r.inputs, createdAt: r.createdAt, dryRun: r.dryRun, autoApprove: r.autoApprove, ...(r.trace ? { trace: r.trace } : {}) }),
      createdMs: String(Date.parse(r.createdAt)),
      updatedAt: r.updatedAt,
      cursor: args.firstCursor,
      alertCount: '1',
      lastSeenAt: r.createdAt,
    };
    const res = (await (this.redis as any).rwCreate(
      this.runKey(r.id),
      this.evKey(r.id),
      this.prefix,
      r.id,
      JSON.stringify(fields),
      args.dedupe ? this.keys.fingerprint(r.runbookId, r.alert.fingerprint) : '',
      args.throttleMs ? this.keys.throttle(r.runbookId, r.alert.fingerprint) : '',
      String(args.throttleMs ?? 0),
      this.lockKey(r.target.name),
      this.lockqKey(r.target.name),
      args.lockPolicy,
      String(Date.parse(r.createdAt)),
      r.runbookId,
      r.target.name,
      JSON.stringify(args.createdEvent),
      attachEvent(r.alert, r.createdAt),
      r.createdAt,
    )) as string[];
    if (res[0] === 'attached') return { result: 'attached', runId: res[1]! };
    if (res[0] === 'throttled') return { result: 'throttled', lastRunId: res[1]!, retryInMs: Number(res[2]) };
    return { result: 'created', status: res[1] as RunStatus, holder: res[2] || undefined };
  }

  /**
   * Dedup alone, in one round trip: attach the alert to the active run of (runbook, fingerprint) when there is one
   * (counted, its attach event appended, and the journal entry when given) and return that run — brief: its id,
   * status and alert count only; null when there is none (create() decides then, and checks again atomically).
   */
  async attach(runbookId: string, alert: Alert, at: string, opts: { journal?: Journal; brief?: boolean } = {}): Promise<RunRecord | Pick<RunRecord, 'id' | 'status' | 'alertCount'> | null> {
    const { journal, brief } = opts;
    const head = journal ? JSON.stringify(journal.entry).slice(0, -1) : '';
    const res = (await (this.pipelined as any).rwAttach(
      this.keys.fingerprint(runbookId, alert.fingerprint),
      this.prefix,
      attachEvent(alert, at),
      at,
      journal?.stream ?? '',
      String(journal?.maxLen ?? 0),
      head.length > 1 ? `${head},` : head,
      brief ? '1' : '',
    )) as [string, string[]] | [string, string, string] | [];
    if (!res.length) return null;
    if (brief) return { id: res[0], status: res[1] as RunStatus, alertCount: res[2] ? Number(res[2]) : 1 };
    const raw = pairsToObject(res[1] as string[]);
    return raw.meta ? decodeRun(raw) : null;
  }

  /** Claim a step job: returns the run when `jobId` is its cursor and it is running; else why not. */
  async begin(runId: string, jobId: string, patch: Patch): Promise<{ ok: true; run: RunRecord; raw: Record<string, string> } | { ok: false; cursor: string; status: string; cursorFrom: string; stickyJob: string }> {
    const res = (await (this.redis as any).rwBegin(this.runKey(runId), this.evKey(runId), this.prefix, runId, jobId, ...encodePatch(patch))) as any[];
    if (res[0] === 'ok') {
      const raw = pairsToObject(res[1]);
      return { ok: true, run: decodeRun(raw), raw };
    }
    return { ok: false, cursor: res[1] ?? '', status: res[2] ?? 'missing', cursorFrom: res[3] ?? '', stickyJob: res[4] ?? '' };
  }

  /**
   * Apply a checked patch. expectedCursor '*' skips the cursor check. With `releaseLock` (the run's target) the
   * target lock is released in the same atomic step and handed to the next waiting run, returned as `next`.
   */
  async apply(runId: string, expectedCursor: string, patch: Patch): Promise<{ ok: true; run?: RunRecord; next?: { runId: string; cursor: string } } | { ok: false; reason: 'missing' | 'stale' | 'status'; status?: string; cursor?: string }> {
    const res = (await (this.redis as any).rwApply(this.runKey(runId), this.evKey(runId), this.prefix, runId, expectedCursor, ...encodePatch(patch, this.keys))) as any[];
    if (res[0] === 'ok') return { ok: true, run: Array.isArray(res[1]) && res[1].length ? decodeRun(pairsToObject(res[1])) : undefined, next: res[2] ? { runId: res[2], cursor: res[3] ?? '' } : undefined };
    if (res[0] === 'missing') return { ok: false, reason: 'missing' };
    if (res[0] === 'stale') return { ok: false, reason: 'stale', cursor: res[1], status: res[2] };
    return { ok: false, reason: 'status', status: res[1] };
  }

  async releaseLock(target: string, runId: string): Promise<{ next?: { runId: string; cursor: string } }> {
    const res = (await (this.redis as any).rwRelease(this.lockKey(target), this.lockqKey(target), this.prefix, runId, new Date().toISOString())) as string[];
    if (res[0] === 'next') return { next: { runId: res[1]!, cursor: res[2]! } };
    return {};
  }

  /** Append an event without changing state (progress lines). */
  async appendEvent(ev: StepEvent): Promise<void> {
    const s = JSON.stringify(ev);
    const id = await this.redis.xadd(this.evKey(ev.runId), '*', 'e', s);
    await this.redis.publish(this.keys.eventsChannel(), `${id} ${s}`);
  }

  async lockHolder(target: string): Promise<string | null> {
    return this.redis.get(this.lockKey(target));
  }

  async get(runId: string): Promise<RunRecord | null> {
    const raw = await this.redis.hgetall(this.runKey(runId));
    if (!raw || !raw.meta) return null;
    return decodeRun(raw);
  }

  /** One field of the run's hash (null when absent). */
  async getField(runId: string, field: string): Promise<string | null> {
    return this.redis.hget(this.runKey(runId), field);
  }

  /** Take a free target lock for a run (retrying a failed run); true when the run holds it now. */
  async tryLock(target: string, runId: string): Promise<boolean> {
    if (await this.redis.set(this.lockKey(target), runId, 'NX')) return true;
    return (await this.lockHolder(target)) === runId;
  }

  /** The run no longer waits for its target (cancelled while queued for the lock). */
  async leaveLockQueue(target: string, runId: string): Promise<void> {
    await this.redis.lrem(this.lockqKey(target), 0, runId);
  }

  /** Ids of the runs with this status (oldest first). */
  async idsWithStatus(status: RunStatus): Promise<string[]> {
    return this.redis.zrange(this.keys.byStatus(status), 0, -1);
  }

  /** Fields of many runs in one round trip (null where a run is missing). */
  async fieldsOf(runIds: string[], fields: string[]): Promise<(string | null)[][]> {
    if (!runIds.length) return [];
    const pipe = this.redis.pipeline();
    for (const id of runIds) pipe.hmget(this.runKey(id), ...fields);
    const rows = (await pipe.exec()) ?? [];
    return rows.map(([err, v]) => (err ? fields.map(() => null) : (v as (string | null)[])));
  }

  /** Of these step-queue jobs: which exist, and which are unfinished (one round trip). */
  async jobStates(jobIds: string[]): Promise<{ exists: boolean; unfinished: boolean }[]> {
    if (!jobIds.length) return [];
    const pipe = this.redis.pipeline();
    for (const id of jobIds) pipe.hmget(this.keys.job(id), 'timestamp', 'finishedOn');
    const rows = (await pipe.exec()) ?? [];
    return rows.map(([err, v]) => {
      const [ts, fin] = err ? [null, null] : (v as (string | null)[]);
      return { exists: !!ts, unfinished: !!ts && !fin };
    });
  }

  /** Runs per (runbook, status), in that order (one round trip). */
  async countByRunbookAndStatus(runbooks: string[], statuses: readonly string[]): Promise<number[]> {
    const pipe = this.redis.pipeline();
    for (const rb of runbooks) for (const s of statuses) pipe.call('ZINTERCARD', 2, this.keys.byRunbook(rb), this.keys.byStatus(s));
    const res = (await pipe.exec()) ?? [];
    return res.map((r) => Number(r?.[1] ?? 0));
  }

  /** Whether this worker's heartbeat is there (it expires 30 s after the last one). */
  async hasHeartbeat(workerId: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.worker(workerId))) === 1;
  }

  /** This worker is alive (expires unless renewed). */
  async heartbeat(workerId: string, info: object, ttlS = 30): Promise<void> {
    await this.redis.set(this.keys.worker(workerId), JSON.stringify(info), 'EX', ttlS);
  }
  async dropHeartbeat(workerId: string): Promise<void> {
    await this.redis.del(this.keys.worker(workerId));
  }
  /** Workers with a live heartbeat (any process). */
  async workersAlive(): Promise<number> {
    let n = 0;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', this.keys.workerPattern(), 'COUNT', 500);
      cursor = next;
      n += keys.length;
    } while (cursor !== '0');
    return n;
  }

  async getRaw(runId: string): Promise<Record<string, string> | null> {
    const raw = await this.redis.hgetall(this.runKey(runId));
    return raw && raw.meta ? raw : null;
  }

  async events(runId: string, opts: { after?: string; limit?: number } = {}): Promise<StepEvent[]> {
    const start = opts.after ? `(${opts.after}` : '-';
    const rows = (await this.redis.xrange(this.evKey(runId), start, '+', 'COUNT', opts.limit ?? 10_000)) as [string, string[]][];
    return rows.map(([id, f]) => ({ ...(JSON.parse(f[1]!) as StepEvent), id, runId }));
  }

  async list(f: ListFilter = {}): Promise<{ runs: RunRecord[]; nextCursor?: string; total: number }> {
    const limit = Math.min(Math.max(f.limit ?? 50, 1), 500);
    const offset = f.cursor ? Math.max(0, Number.parseInt(f.cursor, 10) || 0) : 0;
    // Pick the most selective index, filter the rest on the loaded records.
    const candidates: string[] = [];
    if (f.status) candidates.push(this.keys.byStatus(f.status));
    if (f.runbook) candidates.push(this.keys.byRunbook(f.runbook));
    if (f.target) candidates.push(this.keys.byTarget(f.target));
    if (!candidates.length) candidates.push(this.keys.all());
    const sizes = await Promise.all(candidates.map((k) => this.redis.zcard(k)));
    const idx = candidates[sizes.indexOf(Math.min(...sizes))]!;
    const max = f.until !== undefined ? String(f.until) : '+inf';
    const min = f.since !== undefined ? String(f.since) : '-inf';
    const out: RunRecord[] = [];
    let scanned = offset;
    const batch = Math.max(limit * 2, 50);
    let total = await this.redis.zcount(idx, min, max);
    for (;;) {
      const ids = await this.redis.zrevrangebyscore(idx, max, min, 'LIMIT', scanned, batch);
      if (!ids.length) break;
      const pipe = this.redis.pipeline();
      for (const id of ids) pipe.hgetall(this.runKey(id));
      const rows = (await pipe.exec()) ?? [];
      let i = 0;
      for (; i < ids.length; i++) {
        const raw = rows[i]?.[1] as Record<string, string> | undefined;
        if (!raw?.meta) continue;
        const run = decodeRun(raw);
        if (f.status && run.status !== f.status) continue;
        if (f.runbook && run.runbookId !== f.runbook) continue;
        if (f.target && run.target.name !== f.target) continue;
        out.push(run);
        if (out.length === limit) break;
      }
      scanned += Math.min(i + 1, ids.length);
      if (out.length === limit || ids.length < batch) break;
    }
    if (candidates.length > 1) total = -1; // unknown without a full scan
    const more = out.length === limit && scanned < (await this.redis.zcount(idx, min, max));
    return { runs: out, nextCursor: more ? String(scanned) : undefined, total };
  }

  async countByStatus(): Promise<Record<string, number>> {
    const statuses: RunStatus[] = ['queued', 'waiting_lock', 'running', 'waiting_approval', 'succeeded', 'failed', 'escalated', 'cancelled', 'refused'];
    const pipe = this.redis.pipeline();
    for (const s of statuses) pipe.zcard(this.keys.byStatus(s));
    const res = (await pipe.exec()) ?? [];
    return Object.fromEntries(statuses.map((s, i) => [s, Number(res[i]?.[1] ?? 0)]));
  }

  /**
   * Live events (all runs, or one). Returns an unsubscribe function. `contains`: only events whose JSON contains
   * this text (a cheap pre-filter: every process sees every event of every run, most need few of them).
   * `runLevel`: only run-level events (kind "run": created, lock acquired, ended, cancelled), from their own
   * low-volume channel — a worker that only watches for ends and cancels does not receive every step's events.
   */
  async subscribe(fn: (ev: StepEvent) => void, opts: { runId?: string; contains?: string; runLevel?: boolean } = {}): Promise<() => Promise<void>> {
    if (!this.subscriber) {
      const sub = this.redis.duplicate();
      this.subscriber = sub;
      // It reconnects and resubscribes by itself; without a listener ioredis prints every reconnect error.
      sub.on('error', () => undefined);
      sub.on('message', (ch: string, msg: string) => {
        const runLevel = ch === this.keys.runEventsChannel();
        // Parse only when some listener may want the event (the text tests are exact for run ids).
        let ev: StepEvent | null | undefined;
        for (const l of this.listeners) {
          if (l.runLevel !== runLevel || (l.runId && !msg.includes(l.runId)) || (l.contains && !msg.includes(l.contains))) continue;
          if (ev === undefined) {
            const sp = msg.indexOf(' ');
            try {
              ev = { ...(JSON.parse(msg.slice(sp + 1)) as StepEvent), id: msg.slice(0, sp) };
            } catch {
              ev = null;
            }
          }
          if (ev === null) return;
          if (!l.runId || l.runId === ev.runId) l.fn(ev);
        }
      });
    }
    const channel = opts.runLevel ? this.keys.runEventsChannel() : this.keys.eventsChannel();
    // Every caller waits for the same SUBSCRIBE: a second caller must not go on before events can arrive.
    let subscribed = this.subscribed.get(channel);
    if (!subscribed) {
      subscribed = this.subscriber.subscribe(channel).then(() => undefined);
      this.subscribed.set(channel, subscribed);
    }
    await subscribed;
    const entry = { fn, runId: opts.runId, contains: opts.contains, runLevel: !!opts.runLevel };
    this.listeners.add(entry);
    return async () => {
      this.listeners.delete(entry);
    };
  }

  /** Delete finished runs created before `beforeMs`. Returns how many were removed. */
  async prune(beforeMs: number): Promise<number> {
    let removed = 0;
    for (;;) {
      const ids = await this.redis.zrangebyscore(this.keys.all(), '-inf', String(beforeMs), 'LIMIT', 0, 200);
      if (!ids.length) break;
      let progressed = false;
      for (const id of ids) {
        const raw = await this.redis.hmget(this.runKey(id), 'status', 'meta');
        if (raw[0] && !TERMINAL_STATUSES.includes(raw[0] as RunStatus)) continue;
        const meta = raw[1] ? JSON.parse(raw[1]) : null;
        const m = this.redis.multi();
        m.unlink(this.runKey(id), this.evKey(id));
        m.zrem(this.keys.all(), id);
        if (raw[0]) m.zrem(this.keys.byStatus(raw[0]), id);
        if (meta) {
          m.zrem(this.keys.byRunbook(meta.runbookId), id);
          m.zrem(this.keys.byTarget(meta.target.name), id);
        }
        await m.exec();
        removed++;
        progressed = true;
      }
      if (!progressed) break;
    }
    return removed;
  }

  async close(): Promise<void> {
    this.listeners.clear();
    if (this.subscriber) {
      this.subscriber.disconnect();
      this.subscriber = undefined;
      this.subscribed.clear();
    }
    if (this.batched) {
      const r = this.batched;
      this.batched = undefined;
      await r.quit().catch(() => r.disconnect());
    }
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

export interface Patch {
  set?: Record<string, string | number>;
  del?: string[];
  incr?: Record<string, number>;
  status?: RunStatus;
  requireStatus?: RunStatus[];
  notTerminal?: boolean;
  events?: StepEvent[];
  returnRun?: boolean;
  /** Release this target's lock (held by the run) in the same update; the next waiting run gets it. */
  releaseLock?: string;
}

/** A patch as script arguments: a small JSON header, then the lists flat (no JSON inside JSON). */
function encodePatch(p: Patch, keys?: Keys): string[] {
  const set: string[] = [];
  if (p.set) for (const k in p.set) set.push(k, String(p.set[k]));
  const del = p.del ?? [];
  const incr: string[] = [];
  if (p.incr) for (const k in p.incr) incr.push(k, String(p.incr[k]));
  const events = p.events ? p.events.map((e) => JSON.stringify(e)) : [];
  const h: Record<string, unknown> = { n: [set.length, del.length, incr.length, events.length] };
  if (p.status) h.s = p.status;
  if (p.requireStatus) h.rs = p.requireStatus;
  if (p.notTerminal) h.nt = true;
  if (p.returnRun) h.rr = true;
  if (p.releaseLock !== undefined && keys) h.lock = [keys.lock(p.releaseLock), keys.lockQueue(p.releaseLock), new Date().toISOString()];
  return [JSON.stringify(h), ...set, ...del, ...incr, ...events];
}

function pairsToObject(arr: string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i + 1 < arr.length; i += 2) o[arr[i]!] = arr[i + 1]!;
  return o;
}

/** The event a deduplicated alert leaves on the run it attached to (runId filled in by the script). */
function attachEvent(alert: Alert, at: string): string {
  const ev: StepEvent = { runId: '', step: '', kind: 'run', visit: 0, attempt: 0, at, message: 'alert attached (deduplicated)', input: { fingerprint: alert.fingerprint, source: alert.source } };
  return JSON.stringify(ev);
}

export function decodeRun(raw: Record<string, string>): RunRecord {
  const meta = JSON.parse(raw.meta!);
  const steps: Record<string, StepState> = {};
  const visits: Record<string, number> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (k.startsWith('s:')) steps[k.slice(2)] = JSON.parse(v);
    else if (k.startsWith('v:')) visits[k.slice(2)] = Number(v);
  }
  const run: RunRecord & { cursor?: string; failedStep?: string; visits?: Record<string, number> } = {
    id: meta.id,
    runbookId: meta.runbookId,
    runbookHash: meta.runbookHash,
    alert: meta.alert,
    target: meta.target,
    inputs: meta.inputs,
    status: raw.status as RunStatus,
    outcome: raw.outcome || undefined,
    currentStep: raw.currentStep || undefined,
    createdAt: meta.createdAt,
    updatedAt: raw.updatedAt ?? meta.createdAt,
    finishedAt: raw.finishedAt || undefined,
    dryRun: !!meta.dryRun,
    autoApprove: !!meta.autoApprove,
    steps,
    approval: raw.approval ? (JSON.parse(raw.approval) as ApprovalDecision) : undefined,
    approvals: raw.approvals ? (JSON.parse(raw.approvals) as ApprovalDecision[]) : undefined,
    alertCount: raw.alertCount ? Number(raw.alertCount) : 1,
    lastSeenAt: raw.lastSeenAt || undefined,
    waitingReason: raw.waitingReason || undefined,
    ...(meta.trace ? { trace: meta.trace } : {}),
  };
  return withInternals(run, { cursor: raw.cursor ?? '', failedStep: raw.failedStep || undefined, visits, ws: raw.ws || undefined });
}

type Internals = { cursor: string; visits: Record<string, number>; ws?: string; failedStep?: string };
// Kept beside the record, not on it: the record stays a plain object (what the API returns) with a fast shape.
const bookkeeping = new WeakMap<RunRecord, Internals>();

/** Attach the engine's bookkeeping (as decodeRun does) to a run built in memory. */
export function withInternals(run: RunRecord, i: Internals): RunRecord {
  bookkeeping.set(run, i);
  return run;
}

export function internals(run: RunRecord): { cursor: string; failedStep?: string; visits: Record<string, number>; ws?: string } {
  const i = bookkeeping.get(run);
  return { cursor: i?.cursor ?? '', failedStep: i?.failedStep, visits: i?.visits ?? {}, ws: i?.ws };
}

export type { Json };
