// The run store is the only module that knows its Redis key names: src/engine/keys.ts builds them, store.ts and
// its Lua scripts use them. No other module under src/ spells one (a string with `:run:`, `:idx:`, `:lock:` ...,
// or a store.key('run' | 'idx' | ...) call), and the build ships the Lua scripts the store loads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { keysFor } from '../../src/engine/keys.js';
import { luaSource } from '../../src/engine/store.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SRC = path.join(ROOT, 'src');
const OWNERS = new Set(['engine/store.ts', 'engine/keys.ts']);
// The store's key segments (keys.ts), right after the prefix (`${prefix}:run:`, `prefix + ':lock:'`) — a segment deeper
// in another module's own key (`${prefix}:slack:run:`) is that module's — or as the first part given to key().
const SEGMENTS = ['run', 'idx', 'lock', 'lockq', 'fp', 'thr', 'rb', 'worker', 'events', 'q'];
const inString = new RegExp(`[}'"\`]:(${SEGMENTS.join('|')})(:|['"\`])`);
const keyCall = new RegExp(`\\.key\\(\\s*['"\`](${SEGMENTS.join('|')})['"\`]`);

function sources(): string[] {
  return readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).map((f) => f.split(path.sep).join('/'));
}

test('no module outside the store names a Redis key of the store', () => {
  const found: string[] = [];
  for (const rel of sources()) {
    if (OWNERS.has(rel)) continue;
    readFileSync(path.join(SRC, rel), 'utf8').split('\n').forEach((line, i) => {
      const code = line.replace(/^\s*\/\/.*$/, '').replace(/\s\/\/ .*$/, ''); // comments may describe keys
      if (inString.test(code) || keyCall.test(code)) found.push(`src/${rel}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(found, []);
});

test('the check finds what it is for', () => {
  for (const bad of ["redis.hget(`${prefix}:run:${id}`, 'ws')", "store.key('idx', 'all')", "const k = prefix + ':lock:' + target", "x(`${p}:events`)"]) {
    assert.ok(inString.test(bad) || keyCall.test(bad), bad);
  }
  for (const fine of ["log.info({ runId }, 'run: started')", 'store.keys.run(id)', "`${prefix}:slack:msg:${key}`", "`${this.o.prefix}:slack:run:${runId}:${what}`"]) {
    assert.ok(!inString.test(fine) && !keyCall.test(fine), fine);
  }
});

test('key builders: the documented names', () => {
  const k = keysFor('P');
  assert.equal(k.run('r1'), 'P:run:r1');
  assert.equal(k.events('r1'), 'P:run:r1:ev');
  assert.equal(k.byStatus('running'), 'P:idx:status:running');
  assert.equal(k.lock('svc'), 'P:lock:svc');
  assert.equal(k.lockQueue('svc'), 'P:lockq:svc');
  assert.match(k.fingerprint('rb', 'fp'), /^P:fp:rb:[0-9a-f]{40}$/);
  assert.equal(k.job('r1.s.1.1'), 'P:q:steps:r1.s.1.1');
  assert.equal(k.eventsChannel(), 'P:events');
});

test('the Lua scripts are files the store loads, and the build copies them next to the compiled store', () => {
  for (const name of ['lib', 'apply', 'begin', 'create', 'release']) assert.match(luaSource(name), /redis\.call|local /);
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.build!, /tsc -p tsconfig\.json && node scripts\/copy-lua\.mjs dist/);
  assert.throws(() => luaSource('no-such-script'), /Lua script .*no-such-script\.lua is missing/);
});
