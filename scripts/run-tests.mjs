#!/usr/bin/env node
// npm test: every test/**/*.test.ts under node's own test runner (via tsx), one file per process.
// Starts a private redis-server when REDIS_URL is not answering (see scripts/ensure-redis.mjs).
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { ensureRedis } from './ensure-redis.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const filters = process.argv.slice(2);
function walk(d) {
  const out = [];
  for (const e of readdirSync(d)) {
    const p = path.join(d, e);
    if (statSync(p).isDirectory()) { if (e !== 'fixtures' && e !== 'node_modules') out.push(...walk(p)); }
    else if (e.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
let files = walk(path.join(root, 'test')).sort();
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
const redis = await ensureRedis();
const env = { ...process.env, REDIS_URL: redis.url };
const conc = process.env.TEST_CONCURRENCY ?? '2';
const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${conc}`, '--test-reporter=spec', ...files], { cwd: root, env, stdio: 'inherit' });
const code = await new Promise((r) => child.on('close', (c) => r(c ?? 1)));
await redis.stop();
process.exit(code);
