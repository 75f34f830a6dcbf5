// The run store on Redis (ioredis). Every state change is one Lua script: checked (cursor, status) and
// applied atomically with its step events, index updates and live publication.
//
// Keys (P = prefix):
//   P:run:<id>            hash: meta (JSON), status, cursor, currentStep, s:<step> (StepState JSON), v:<step>,
//                         ws (the run's workspace manifest, src/core/workspace.ts), stickyJob (the BullMQ job running
//                         the run's steps one after another, sticky execution) ...
//   P:run:<id>:ev         stream of StepEvents (field e = JSON)
//   P:idx:all / P:idx:status:<s> / P:idx:runbook:<rb> / P:idx:target:<t>   zsets scored by createdAt ms
//   P:lock:<target>       run id holding the target;  P:lockq:<target>  runs waiting for it (list)
//   P:fp:<runbook>:<sha1(fingerprint)>  active run for a fingerprint (dedup); P:thr:<...> throttle window
//   P:rb:<hash>           runbook source by content hash (a run always executes the runbook it started with)
//   P:events (pub/sub)    every event, "<streamId> <json>";  P:cancel (pub/sub) run ids cancelled
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { ApprovalDecision, Json, RunRecord, RunStatus, StepEvent, StepState } from '../core/types.js';
import { TERMINAL_STATUSES } from '../core/types.js';

const TERMINAL_LUA = `{${TERMINAL_STATUSES.map((s) => `['${s}']=true`).join(',')}}`;

// Shared Lua helpers: set fields, move between status indexes, append + publish events.
const LUA_LIB = `
local TERMINAL = ${TERMINAL_LUA}
local function apply_patch(prefix, runKey, evKey, runId, status, patch)
  if patch.set then for k, v in pairs(patch.set) do redis.call('HSET', runKey, k, v) end end
  if patch.del then for _, k in ipairs(patch.del) do redis.call('HDEL', runKey, k) end end
  if patch.incr then for k, v in pairs(patch.incr) do redis.call('HINCRBY', runKey, k, v) end end
  if patch.status and patch.status ~= status then
    local score = redis.call('HGET', runKey, 'createdMs')
    redis.call('HSET', runKey, 'status', patch.status)
    redis.call('ZREM', prefix .. ':idx:status:' .. status, runId)
    redis.call('ZADD', prefix .. ':idx:status:' .. patch.status, score, runId)
    if TERMINAL[patch.status] then
      local fpKey = redis.call('HGET', runKey, 'fpKey')
      if fpKey and redis.call('GET', fpKey) == runId then redis.call('DEL', fpKey) end
    end
  end
  if patch.events then
    for _, ev in ipairs(patch.events) do
      local id = redis.call('XADD', evKey, '*', 'e', ev)
      redis.call('PUBLISH', prefix .. ':events', id .. ' ' .. ev)
    end
  end
end
`;

// KEYS: run, ev. ARGV: prefix, runId, expectedCursor ('*' = any), patch JSON.
// patch.requireStatus: list of allowed current statuses; patch.notTerminal: refuse terminal runs.
const APPLY = `${LUA_LIB}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
local patch = cjson.decode(ARGV[4])
if ARGV[3] ~= '*' then
  local cur = redis.call('HGET', KEYS[1], 'cursor') or ''
  if cur ~= ARGV[3] then return {'stale', cur, status} end
end
if patch.requireStatus then
  local ok = false
  for _, s in ipairs(patch.requireStatus) do if s == status then ok = true end end
  if not ok then return {'status', status} end
end
if patch.notTerminal and TERMINAL[status] then return {'status', status} end
apply_patch(ARGV[1], KEYS[1], KEYS[2], ARGV[2], status, patch)
if patch.returnRun then return {'ok', redis.call('HGETALL', KEYS[1])} end
return {'ok'}
`;

// Begin a step: the job must be the run's cursor and the run running. Returns the whole run hash.
// KEYS: run, ev. ARGV: prefix, runId, jobId, patch JSON
const BEGIN = `${LUA_LIB}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
local cur = redis.call('HGET', KEYS[1], 'cursor') or ''
if cur ~= ARGV[3] or status ~= 'running' then
  return {'stale', cur, status, redis.call('HGET', KEYS[1], 'cursorFrom') or '', redis.call('HGET', KEYS[1], 'stickyJob') or ''}
end
apply_patch(ARGV[1], KEYS[1], KEYS[2], ARGV[2], status, cjson.decode(ARGV[4]))
return {'ok', redis.call('HGETALL', KEYS[1])}
`;

// Create a run, with dedup by fingerprint, throttle, and the target lock.
// KEYS: run, ev. ARGV: prefix, runId, fields JSON, fpKey|'' , thrKey|'', thrMs, lockKey, lockqKey, policy,
//       createdMs, runbookId, targetName, createdEvent JSON, attachEvent JSON, now
const CREATE = `${LUA_LIB}
local prefix, runId = ARGV[1], ARGV[2]
local fpKey, thrKey = ARGV[4], ARGV[5]
if fpKey ~= '' then
  local existing = redis.call('GET', fpKey)
  if existing then
    local ek = prefix .. ':run:' .. existing
    local est = redis.call('HGET', ek, 'status')
    if est and not TERMINAL[est] then
      redis.call('HINCRBY', ek, 'alertCount', 1)
      redis.call('HSET', ek, 'lastSeenAt', ARGV[15])
      local ev = cjson.decode(ARGV[14]); ev.runId = existing
      local evs = cjson.encode(ev)
      local id = redis.call('XADD', ek .. ':ev', '*', 'e', evs)
      redis.call('PUBLISH', prefix .. ':events', id .. ' ' .. evs)
      return {'attached', existing}
    end
  end
end
if thrKey ~= '' then
  local last = redis.call('GET', thrKey)
  if last then return {'throttled', last, tostring(redis.call('PTTL', thrKey))} end
end
local fields = cjson.decode(ARGV[3])
for k, v in pairs(fields) do redis.call('HSET', KEYS[1], k, v) end
local score = ARGV[10]
redis.call('ZADD', prefix .. ':idx:all', score, runId)
redis.call('ZADD', prefix .. ':idx:runbook:' .. ARGV[11], score, runId)
redis.call('ZADD', prefix .. ':idx:target:' .. ARGV[12], score, runId)
if fpKey ~= '' then redis.call('SET', fpKey, runId); redis.call('HSET', KEYS[1], 'fpKey', fpKey) end
if thrKey ~= '' and tonumber(ARGV[6]) > 0 then redis.call('SET', thrKey, runId, 'PX', ARGV[6]) end
local status, holder = 'running', ''
local got = redis.call('SET', ARGV[7], runId, 'NX')
if not got then
  holder = redis.call('GET', ARGV[7])
  if ARGV[9] == 'refuse' then status = 'refused' else status = 'waiting_lock'; redis.call('RPUSH', ARGV[8], runId) end
end
redis.call('HSET', KEYS[1], 'status', status)
redis.call('ZADD', prefix .. ':idx:status:' .. status, score, runId)
if status == 'refused' then
  redis.call('HSET', KEYS[1], 'outcome', 'target is busy with run ' .. holder .. ' and the runbook policy is to refuse', 'finishedAt', ARGV[15], 'cursor', '')
  if fpKey ~= '' then redis.call('DEL', fpKey) end
elseif status == 'waiting_lock' then
  redis.call('HSET', KEYS[1], 'waitingReason', 'waiting for target lock held by run ' .. holder)
end
local id = redis.call('XADD', KEYS[2], '*', 'e', ARGV[13])
redis.call('PUBLISH', prefix .. ':events', id .. ' ' .. ARGV[13])
return {'created', status, holder}
`;

// Release a target lock held by runId and hand it to the next waiting run (if any).
// KEYS: lockKey, lockqKey. ARGV: prefix, runId, now. Returns {'next', runId, cursor} | {'none'}.
const RELEASE = `${LUA_LIB}
local prefix = ARGV[1]
if redis.call('GET', KEYS[1]) ~= ARGV[2] then return {'notheld'} end
redis.call('DEL', KEYS[1])
while true do
  local nextId = redis.call('LPOP', KEYS[2])
  if not nextId then return {'none'} end
  local rk = prefix .. ':run:' .. nextId
  local st = redis.call('HGET', rk, 'status')
  if st == 'waiting_lock' then
    redis.call('SET', KEYS[1], nextId)
    local cursor = redis.call('HGET', rk, 'cursor')
    local ev = cjson.encode({runId = nextId, step = '', kind = 'run', visit = 0, attempt = 0, at = ARGV[3], message = 'target lock acquired'})
    apply_patch(prefix, rk, rk .. ':ev', nextId, st, {status = 'running', set = {updatedAt = ARGV[3]}, del = {'waitingReason'}, events = {ev}})
    -- The runs still queued now wait for the new holder, not for the run that just ended.
    for _, other in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
      local ok = prefix .. ':run:' .. other
      if redis.call('HGET', ok, 'status') == 'waiting_lock' then redis.call('HSET', ok, 'waitingReason', 'waiting for target lock held by run ' .. nextId) end
    end
    return {'next', nextId, cursor}
  end
end
`;

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
  private subscribed?: Promise<void>;
  private listeners = new Set<{ fn: (ev: StepEvent) => void; runId?: string; contains?: string }>();

  constructor(readonly url: string, readonly prefix: string, redis?: Redis) {
    this.redis = redis ?? new Redis(url, { maxRetriesPerRequest: 20, enableReadyCheck: true });
    this.redis.defineCommand('rwApply', { numberOfKeys: 2, lua: APPLY });
    this.redis.defineCommand('rwBegin', { numberOfKeys: 2, lua: BEGIN });
    this.redis.defineCommand('rwCreate', { numberOfKeys: 2, lua: CREATE });
    this.redis.defineCommand('rwRelease', { numberOfKeys: 2, lua: RELEASE });
  }

  key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }
  runKey(id: string) {
    return this.key('run', id);
  }
  evKey(id: string) {
    return this.key('run', id, 'ev');
  }
  lockKey(target: string) {
    return this.key('lock', target);
  }
  lockqKey(target: string) {
    return this.key('lockq', target);
  }
  fpKey(runbookId: string, fingerprint: string) {
    return this.key('fp', runbookId, sha1(fingerprint));
  }
  thrKey(runbookId: string, fingerprint: string) {
    return this.key('thr', runbookId, sha1(fingerprint));
  }

  async saveRunbookSource(hash: string, source: string): Promise<void> {
    await this.redis.set(this.key('rb', hash), source);
  }
  async runbookSource(hash: string): Promise<string | null> {
    return this.redis.get(this.key('rb', hash));
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
    const attachEvent: StepEvent = { runId: '', step: '', kind: 'run', visit: 0, attempt: 0, at: r.createdAt, message: 'alert attached (deduplicated)', input: { fingerprint: r.alert.fingerprint, source: r.alert.source } };
    const res = (await (this.redis as any).rwCreate(
      this.runKey(r.id),
      this.evKey(r.id),
      this.prefix,
      r.id,
      JSON.stringify(fields),
      args.dedupe ? this.fpKey(r.runbookId, r.alert.fingerprint) : '',
      args.throttleMs ? this.thrKey(r.runbookId, r.alert.fingerprint) : '',
      String(args.throttleMs ?? 0),
      this.lockKey(r.target.name),
      this.lockqKey(r.target.name),
      args.lockPolicy,
      String(Date.parse(r.createdAt)),
      r.runbookId,
      r.target.name,
      JSON.stringify(args.createdEvent),
      JSON.stringify(attachEvent),
      r.createdAt,
    )) as string[];
    if (res[0] === 'attached') return { result: 'attached', runId: res[1]! };
    if (res[0] === 'throttled') return { result: 'throttled', lastRunId: res[1]!, retryInMs: Number(res[2]) };
    return { result: 'created', status: res[1] as RunStatus, holder: res[2] || undefined };
  }

  /** Claim a step job: returns the run when `jobId` is its cursor and it is running; else why not. */
  async begin(runId: string, jobId: string, patch: Patch): Promise<{ ok: true; run: RunRecord; raw: Record<string, string> } | { ok: false; cursor: string; status: string; cursorFrom: string; stickyJob: string }> {
    const res = (await (this.redis as any).rwBegin(this.runKey(runId), this.evKey(runId), this.prefix, runId, jobId, encodePatch(patch))) as any[];
    if (res[0] === 'ok') {
      const raw = pairsToObject(res[1]);
      return { ok: true, run: decodeRun(raw), raw };
    }
    return { ok: false, cursor: res[1] ?? '', status: res[2] ?? 'missing', cursorFrom: res[3] ?? '', stickyJob: res[4] ?? '' };
  }

  /** Apply a checked patch. expectedCursor '*' skips the cursor check. */
  async apply(runId: string, expectedCursor: string, patch: Patch): Promise<{ ok: true; run?: RunRecord } | { ok: false; reason: 'missing' | 'stale' | 'status'; status?: string; cursor?: string }> {
    const res = (await (this.redis as any).rwApply(this.runKey(runId), this.evKey(runId), this.prefix, runId, expectedCursor, encodePatch(patch))) as any[];
    if (res[0] === 'ok') return { ok: true, run: res[1] ? decodeRun(pairsToObject(res[1])) : undefined };
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
    await this.redis.publish(this.key('events'), `${id} ${s}`);
  }

  async lockHolder(target: string): Promise<string | null> {
    return this.redis.get(this.lockKey(target));
  }

  async get(runId: string): Promise<RunRecord | null> {
    const raw = await this.redis.hgetall(this.runKey(runId));
    if (!raw || !raw.meta) return null;
    return decodeRun(raw);
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
    if (f.status) candidates.push(this.key('idx', 'status', f.status));
    if (f.runbook) candidates.push(this.key('idx', 'runbook', f.runbook));
    if (f.target) candidates.push(this.key('idx', 'target', f.target));
    if (!candidates.length) candidates.push(this.key('idx', 'all'));
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
    for (const s of statuses) pipe.zcard(this.key('idx', 'status', s));
    const res = (await pipe.exec()) ?? [];
    return Object.fromEntries(statuses.map((s, i) => [s, Number(res[i]?.[1] ?? 0)]));
  }

  /**
   * Live events (all runs, or one). Returns an unsubscribe function. `contains`: only events whose JSON contains
   * this text (a cheap pre-filter: every process sees every event of every run, most need few of them).
   */
  async subscribe(fn: (ev: StepEvent) => void, opts: { runId?: string; contains?: string } = {}): Promise<() => Promise<void>> {
    if (!this.subscribed) {
      const sub = this.redis.duplicate();
      this.subscriber = sub;
      // It reconnects and resubscribes by itself; without a listener ioredis prints every reconnect error.
      sub.on('error', () => undefined);
      // Every caller waits for the same SUBSCRIBE: a second caller must not go on before events can arrive.
      this.subscribed = sub.subscribe(this.key('events')).then(() => undefined);
      sub.on('message', (_ch: string, msg: string) => {
        // Parse only when some listener may want the event (the text tests are exact for run ids).
        let ev: StepEvent | null | undefined;
        for (const l of this.listeners) {
          if ((l.runId && !msg.includes(l.runId)) || (l.contains && !msg.includes(l.contains))) continue;
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
    await this.subscribed;
    const entry = { fn, runId: opts.runId, contains: opts.contains };
    this.listeners.add(entry);
    return async () => {
      this.listeners.delete(entry);
    };
  }

  /** Delete finished runs created before `beforeMs`. Returns how many were removed. */
  async prune(beforeMs: number): Promise<number> {
    let removed = 0;
    for (;;) {
      const ids = await this.redis.zrangebyscore(this.key('idx', 'all'), '-inf', String(beforeMs), 'LIMIT', 0, 200);
      if (!ids.length) break;
      let progressed = false;
      for (const id of ids) {
        const raw = await this.redis.hmget(this.runKey(id), 'status', 'meta');
        if (raw[0] && !TERMINAL_STATUSES.includes(raw[0] as RunStatus)) continue;
        const meta = raw[1] ? JSON.parse(raw[1]) : null;
        const m = this.redis.multi();
        m.unlink(this.runKey(id), this.evKey(id));
        m.zrem(this.key('idx', 'all'), id);
        if (raw[0]) m.zrem(this.key('idx', 'status', raw[0]), id);
        if (meta) {
          m.zrem(this.key('idx', 'runbook', meta.runbookId), id);
          m.zrem(this.key('idx', 'target', meta.target.name), id);
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
      this.subscribed = undefined;
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
}

function encodePatch(p: Patch): string {
  return JSON.stringify({
    ...p,
    set: p.set ? Object.fromEntries(Object.entries(p.set).map(([k, v]) => [k, String(v)])) : undefined,
    events: p.events?.map((e) => JSON.stringify(e)),
  });
}

function pairsToObject(arr: string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i + 1 < arr.length; i += 2) o[arr[i]!] = arr[i + 1]!;
  return o;
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

/** Attach the engine's bookkeeping (as decodeRun does) to a run built in memory. */
export function withInternals(run: RunRecord, i: { cursor: string; visits: Record<string, number>; ws?: string; failedStep?: string }): RunRecord {
  Object.defineProperty(run, 'cursor', { value: i.cursor, enumerable: false });
  Object.defineProperty(run, 'failedStep', { value: i.failedStep, enumerable: false });
  Object.defineProperty(run, 'visits', { value: i.visits, enumerable: false });
  Object.defineProperty(run, 'ws', { value: i.ws, enumerable: false });
  return run;
}

export function internals(run: RunRecord): { cursor: string; failedStep?: string; visits: Record<string, number>; ws?: string } {
  const r = run as any;
  return { cursor: r.cursor ?? '', failedStep: r.failedStep, visits: r.visits ?? {}, ws: r.ws };
}

function sha1(s: string): string {
  return createHash('sha1').update(s).digest('hex');
}

export type { Json };
