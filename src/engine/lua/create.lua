-- Create a run, with dedup by fingerprint, throttle, and the target lock.
-- KEYS: run, ev. ARGV: prefix, runId, fields JSON, fpKey|'' , thrKey|'', thrMs, lockKey, lockqKey, policy,
--       createdMs, runbookId, targetName, createdEvent JSON, attachEvent JSON, now
-- Returns {'attached', runId} | {'throttled', lastRunId, pttl} | {'created', status, holder}
local prefix, runId = ARGV[1], ARGV[2]
local fpKey, thrKey = ARGV[4], ARGV[5]
if fpKey ~= '' then
  local existing = active_run(prefix, fpKey)
  if existing then
    attach_to(prefix, existing, ARGV[14], ARGV[15])
    return {'attached', existing}
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
publish(prefix, id .. ' ' .. ARGV[13])
return {'created', status, holder}
