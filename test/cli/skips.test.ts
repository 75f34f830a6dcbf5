// npm test never skips silently: a test skipped because something is missing fails the run and is named with its
// reason; skips by design (npm run chaos, or a reason starting 'by design:') do not; RUNWRIGHT_ALLOW_SKIP=1 accepts them on a machine without it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './helpers.js';

const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'cli', 'skips.test.ts');
// A fresh `npm test`, not a child of this test run (NODE_TEST_CONTEXT would make it report to us instead).
const { NODE_TEST_CONTEXT: _ctx, ...outer } = process.env;
const run = (env: NodeJS.ProcessEnv) => spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'run-tests.mjs'), FIXTURE], { cwd: ROOT, env: { ...outer, TEST_CONCURRENCY: '1', ...env }, encoding: 'utf8', timeout: 120_000 });

test('a skip for something missing fails the run, naming it and why', () => {
  const r = run({ RUNWRIGHT_ALLOW_SKIP: '' });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /npm test: 2 tests skipped because something is missing/);
  assert.match(r.stderr, /test\/fixtures\/cli\/skips\.test\.ts: needs a thing that is missing — \/opt\/thing not found \(apt-get install thing\)/);
  assert.match(r.stderr, /a reason that only mentions the words by design: later — psycopg missing/, "'by design:' counts only at the start of the reason");
  assert.doesNotMatch(r.stderr, /the full chaos run only/);
  assert.doesNotMatch(r.stderr, /a case that does not apply to this version/, "a 'by design:' skip is not something missing");
});

test('RUNWRIGHT_ALLOW_SKIP=1 accepts it', () => {
  const r = run({ RUNWRIGHT_ALLOW_SKIP: '1' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
