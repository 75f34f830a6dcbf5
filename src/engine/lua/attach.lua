-- Dedup without creating: attach an alert to the active run of its fingerprint (most alerts of an incident do).
-- KEYS: fpKey. ARGV: prefix, attachEvent JSON, now, journal stream|'', journal maxLen, journal entry head,
--       brief ('1': the run's status and alert count only).
-- The journal (the API's intake log): when given, the entry is appended in the same atomic step, before anything
-- else is written; the head is a JSON object without its closing brace, completed here with outcome and runId.
-- Returns {runId, <the run's hash as field/value pairs>} (brief: {runId, status, alertCount}) when attached,
-- else {} (create.lua then decides, and checks again: a run that ends or starts in between is seen there,
-- atomically).
local prefix = ARGV[1]
local existing = active_run(prefix, KEYS[1])
if not existing then return {} end
if ARGV[4] ~= '' then
  redis.call('XADD', ARGV[4], 'MAXLEN', '~', ARGV[5], '*', 'e', ARGV[6] .. '"outcome":"attached","runId":"' .. existing .. '"}')
end
attach_to(prefix, existing, ARGV[2], ARGV[3])
local rk = prefix .. ':run:' .. existing
if ARGV[7] == '1' then
  local f = redis.call('HMGET', rk, 'status', 'alertCount')
  return {existing, f[1], f[2]}
end
return {existing, redis.call('HGETALL', rk)}
