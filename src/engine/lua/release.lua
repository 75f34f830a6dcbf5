-- Release a target lock held by runId and hand it to the next waiting run (if any).
-- KEYS: lockKey, lockqKey. ARGV: prefix, runId, now. Returns {'next', runId, cursor} | {'none'}.
local n = release_lock(ARGV[1], KEYS[1], KEYS[2], ARGV[2], ARGV[3])
if n then return {'next', n[1], n[2]} end
return {'none'}
