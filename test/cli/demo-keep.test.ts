// `npm run demo -- --keep` leaves a sample someone can run by hand: the printed `runwright run` command, run as
// printed, remediates the kept broken repo; the printed `serve` command, run as printed, starts (its targets file
// loads and every approval gate has someone who may decide it) and stops cleanly on SIGINT.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { keepSample } from '../../src/demo/demo.js';
import { loadTargets } from '../../src/config/targets.js';
import { cleanupPrefix, REDIS_URL, testPrefix } from '../helpers/redis.js';
import { spawn } from 'node:child_process';
import { BIN, cli, SEED_ALERT, assertNoTrace } from './helpers.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'rw-keep-'));
const prefix = testPrefix('keep');
after(async () => {
  await cleanupPrefix(prefix);
  rmSync(root, { recursive: true, force: true });
});

test('the kept sample runs with the printed command and the printed serve command names its files', async () => {
  const lines = await keepSample(root, 'seed', SEED_ALERT);
  const run = lines.find((l) => l.trim().startsWith('npx runwright run '))!;
  const serve = lines.find((l) => l.includes('npx runwright serve'))!;
  assert.ok(run && serve, lines.join('\n'));
  const args = run.trim().replace(/^npx runwright /, '').split(/\s+/);
  assert.deepEqual(args.slice(0, 2), ['run', 'sqlalchemy-mapper-failure']);
  const r = await cli(args, { env: { REDIS_URL, RUNWRIGHT_PREFIX: prefix, RUNWRIGHT_WORKDIR: path.join(root, 'work'), RUNWRIGHT_LOCAL_PLATFORM_DIR: path.join(root, 'platform') } });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /✓ run \S+ SUCCEEDED — Fix A pushed to main/);
  const targetsFile = /RUNWRIGHT_TARGETS=(\S+)/.exec(serve)![1]!;
  assert.deepEqual([...loadTargets(targetsFile).keys()], ['content-worker']);
  assert.match(serve, /RUNWRIGHT_API_TOKENS=oncall:admin:[0-9a-f]{24} npx runwright serve/);

  // Serve as printed (its environment assignments, then `serve`), on a free port and this test's Redis prefix.
  const assigned = Object.fromEntries(serve.trim().split(/\s+/).filter((w) => /^[A-Z_]+=/.test(w)).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
  const child = spawn(process.execPath, [BIN, 'serve'], { env: { ...process.env, RUNWRIGHT_FROM_SOURCE: '1', LOG_LEVEL: 'info', REDIS_URL, RUNWRIGHT_PREFIX: prefix, RUNWRIGHT_WORKDIR: path.join(root, 'serve-work'), PORT: '0', HOST: '127.0.0.1', ...assigned }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const started = new Promise<boolean>((resolve) => {
    const on = (d: Buffer) => {
      out += d;
      if (out.includes('"msg":"runwright started"')) resolve(true);
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    void exited.then(() => resolve(false));
  });
  const up = await started;
  child.kill('SIGINT');
  const code = await exited;
  assert.ok(up, `the printed serve command did not start:\n${out}`);
  assert.equal(code, 0, out);
  assertNoTrace(out);
  assert.match(out, /runwright serve: 1 target from \S+: content-worker/);
});
