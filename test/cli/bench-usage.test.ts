// `npm run bench` with a bad flag: one line naming the flag and exit 2 (bad usage), never a stack trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT, assertNoTrace } from './helpers.js';

test('bad bench flags: one line, exit 2', () => {
  for (const [args, line] of [
    [['--only', 'nosuch'], "bench: --only: unknown section 'nosuch' (executor, intake, parked, seed)\n"],
    [['--rounds', '99'], 'bench: --rounds must be 1..15\n'],
    [['--worker', 'x'], 'bench: --worker must be dist or source\n'],
  ] as const) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'run.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, line);
    assertNoTrace(r.stdout + r.stderr);
  }
});
