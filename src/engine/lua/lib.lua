-- Shared by every script of the run store (src/engine/store.ts prepends it): set fields, move a run between
-- status indexes, append and publish events, release a target lock. Key names as in src/engine/keys.ts.
local TERMINAL = __TERMINAL__

-- Every event goes to P:events; a run-level one (created, lock acquired, ended, cancelled) also to P:events:run,
-- the low-volume channel workers listen on. (A step event whose output holds that text goes there too: listeners
-- check the kind.)
local function publish(prefix, msg)
  redis.call('PUBLISH', prefix .. ':events', msg)
  if string.find(msg, '"kind":"run"', 1, true) then redis.call('PUBLISH', prefix .. ':events:run', msg) end
end

-- Dedup: the active (not terminal) run a fingerprint key names, or nil. Reads only.
local function active_run(prefix, fpKey)
  local existing = redis.call('GET', fpKey)
  if not existing then return nil end
  local est = redis.call('HGET', prefix .. ':run:' .. existing, 'status')
  if not est or TERMINAL[est] then return nil end
  return existing
end

-- Attach an alert to that run: count it, stamp lastSeenAt, append and publish the attach event (JSON, runId
-- filled in here). Published on P:events only: it is of kind run but changes nothing a worker listens for on
-- P:events:run (ends and cancels), and a burst of duplicates would reach every worker.
local function attach_to(prefix, runId, attachEvent, now)
  local ek = prefix .. ':run:' .. runId
  redis.call('HINCRBY', ek, 'alertCount', 1)
  redis.call('HSET', ek, 'lastSeenAt', now)
  local ev = cjson.decode(attachEvent); ev.runId = runId
  local evs = cjson.encode(ev)
  local id = redis.call('XADD', ek .. ':ev', '*', 'e', evs)
  redis.call('PUBLISH', prefix .. ':events', id .. ' ' .. evs)
end

-- A patch: status, set (flat field/value list), del (fields), incr (flat field/delta list), events (JSON strings).
local function apply_patch(prefix, runKey, evKey, runId, status, patch)
  if patch.set and #patch.set > 0 then redis.call('HSET', runKey, unpack(patch.set)) end
  if patch.del and #patch.del > 0 then redis.call('HDEL', runKey, unpack(patch.del)) end
  if patch.incr then for i = 1, #patch.incr, 2 do redis.call('HINCRBY', runKey, patch.incr[i], patch.incr[i + 1]) end end
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
      publish(prefix, id .. ' ' .. ev)
    end
  end
end

-- The patch of a script call: header h (JSON: s status, rs requireStatus, nt notTerminal, rr returnRun,
-- n = {set values, del fields, incr values, events}) and the lists flat in ARGV from index `at`.
local function read_patch(h, at)
  local p = {status = h.s, set = {}, del = {}, incr = {}, events = {}}
  local i = at
  for idx, part in ipairs({'set', 'del', 'incr', 'events'}) do
    local t = p[part]
    for k = 1, h.n[idx] do t[k] = ARGV[i]; i = i + 1 end
  end
  return p
end

-- Release a target lock held by runId and hand it to the next waiting run (if any): returns its id and cursor.
local function release_lock(prefix, lockKey, lockqKey, runId, now)
  if redis.call('GET', lockKey) ~= runId then return nil end
  redis.call('DEL', lockKey)
  while true do
    local nextId = redis.call('LPOP', lockqKey)
    if not nextId then return nil end
    local rk = prefix .. ':run:' .. nextId
    local st = redis.call('HGET', rk, 'status')
    if st == 'waiting_lock' then
      redis.call('SET', lockKey, nextId)
      local cursor = redis.call('HGET', rk, 'cursor')
      local ev = cjson.encode({runId = nextId, step = '', kind = 'run', visit = 0, attempt = 0, at = now, message = 'target lock acquired'})
      apply_patch(prefix, rk, rk .. ':ev', nextId, st, {status = 'running', set = {'updatedAt', now}, del = {'waitingReason'}, events = {ev}})
      -- The runs still queued now wait for the new holder, not for the run that just ended.
      for _, other in ipairs(redis.call('LRANGE', lockqKey, 0, -1)) do
        local ok = prefix .. ':run:' .. other
        if redis.call('HGET', ok, 'status') == 'waiting_lock' then redis.call('HSET', ok, 'waitingReason', 'waiting for target lock held by run ' .. nextId) end
      end
      return {nextId, cursor}
    end
  end
end
