-- Begin a step: the job must be the run's cursor and the run running. Returns the whole run hash, or why not
-- (with who moved the cursor last and which job runs the run's steps one after another, for recovery).
-- KEYS: run, ev. ARGV: prefix, runId, jobId, header JSON, then the patch lists (read_patch).
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
local cur = redis.call('HGET', KEYS[1], 'cursor') or ''
if cur ~= ARGV[3] or status ~= 'running' then
  return {'stale', cur, status, redis.call('HGET', KEYS[1], 'cursorFrom') or '', redis.call('HGET', KEYS[1], 'stickyJob') or ''}
end
apply_patch(ARGV[1], KEYS[1], KEYS[2], ARGV[2], status, read_patch(cjson.decode(ARGV[4]), 5))
return {'ok', redis.call('HGETALL', KEYS[1])}
