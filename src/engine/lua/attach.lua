-- Dedup without creating: attach an alert to the active run of its fingerprint (most alerts of an incident do).
-- KEYS: fpKey. ARGV: prefix, attachEvent JSON, now.
-- Returns {runId, <the run's hash as field/value pairs>} when attached, else {} (create.lua then decides, and
-- checks again: a run that ends or starts in between is seen there, atomically).
local existing = attach_active(ARGV[1], KEYS[1], ARGV[2], ARGV[3])
if not existing then return {} end
return {existing, redis.call('HGETALL', ARGV[1] .. ':run:' .. existing)}
