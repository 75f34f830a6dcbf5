-- Apply a checked patch to a run: the expected cursor ('*' = any) and allowed statuses are checked, then the
-- fields, status indexes and events are written; with h.lock the run's target lock is released in the same step
-- and handed to the next waiting run.
-- KEYS: run, ev. ARGV: prefix, runId, expectedCursor, header JSON, then the patch lists (read_patch).
-- Returns {'ok', run hash pairs (h.rr) or {}, next run id or '', its cursor or ''} | {'missing'} | {'stale', cursor, status} | {'status', status}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
local h = cjson.decode(ARGV[4])
if ARGV[3] ~= '*' then
  local cur = redis.call('HGET', KEYS[1], 'cursor') or ''
  if cur ~= ARGV[3] then return {'stale', cur, status} end
end
if h.rs then
  local ok = false
  for _, s in ipairs(h.rs) do if s == status then ok = true end end
  if not ok then return {'status', status} end
end
if h.nt and TERMINAL[status] then return {'status', status} end
apply_patch(ARGV[1], KEYS[1], KEYS[2], ARGV[2], status, read_patch(h, 5))
local nextId, nextCursor = '', ''
if h.lock then
  local n = release_lock(ARGV[1], h.lock[1], h.lock[2], ARGV[2], h.lock[3])
  if n then nextId, nextCursor = n[1], n[2] end
end
if h.rr then return {'ok', redis.call('HGETALL', KEYS[1]), nextId, nextCursor} end
return {'ok', {}, nextId, nextCursor}
