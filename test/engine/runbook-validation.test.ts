// The loader rejects broken runbooks with the file, line and step named, and accepts the shipped ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseRunbook, resolveInputs, matchesAlert } from '../../src/core/runbook.js';
import { ValidationError, formatIssue } from '../../src/core/errors.js';
import { defaultRegistry } from '../../src/actions/index.js';
import { ENGINE_RUNBOOKS, alert } from '../helpers/engine.js';

const here = path.dirname(new URL(import.meta.url).pathname);
const catalog = defaultRegistry().catalog();

function errorsOf(file: string): string[] {
  try {
    parseRunbook(readFileSync(file, 'utf8'), file, catalog);
  } catch (e) {
    assert.ok(e instanceof ValidationError, `expected a ValidationError, got ${e}`);
    return e.issues.map(formatIssue);
  }
  assert.fail(`${file} was accepted`);
}

const expected: Record<string, RegExp[]> = {
  'unknown-action.yaml': [/unknown-action\.yaml:6: step 'a' \(steps\[0\]\.action\) unknown action 'does\.not\.exist'/],
  'unknown-step.yaml': [/unknown-step\.yaml:10: step 'b' \(steps\[1\]\.onError\) unknown step reference 'nowhere'/],
  'unreachable.yaml': [/unreachable\.yaml:7: step 'orphan' unreachable step 'orphan'/],
  'cycle.yaml': [/cycle\.yaml:5: step 'a' unbounded cycle a → b → a: give one of these steps maxVisits/],
  'bad-expression.yaml': [/bad-expression\.yaml:8: step 'a' \(steps\[0\]\.branches\[0\]\.when\) bad expression "output\.x = = 1"/],
  'missing-input.yaml': [/missing-input\.yaml:9: step 'a' .*reads inputs\.unknown, which the runbook does not declare/, /missing-input\.yaml:11: step 'b' .*action 'sleep' needs parameter 'ms'/],
  'bad-yaml.yaml': [/bad-yaml\.yaml:4:1: YAML: Flow map/],
  'bad-field.yaml': [/bad-field\.yaml:7: step 'a' \(steps\[0\]\.retry\.attempts\) Too small/, /bad-field\.yaml:8: step 'a' \(steps\[0\]\.colour\) Unrecognized key/],
};

for (const [file, patterns] of Object.entries(expected)) {
  test(`broken runbook ${file} is rejected with file, line and step`, () => {
    const errs = errorsOf(path.join(here, 'broken', file));
    for (const p of patterns) assert.ok(errs.some((e) => p.test(e)), `no error matching ${p} in:\n${errs.join('\n')}`);
  });
}

test('every broken fixture has an expectation', () => {
  assert.deepEqual(readdirSync(path.join(here, 'broken')).sort(), Object.keys(expected).sort());
});

test('engine test runbooks and shipped runbooks load, each with a content hash', () => {
  const dirs = [ENGINE_RUNBOOKS, path.resolve(here, '..', '..', 'runbooks')];
  let n = 0;
  for (const d of dirs) {
    let files: string[] = [];
    try {
      files = readdirSync(d).filter((f) => f.endsWith('.yaml'));
    } catch {
      continue;
    }
    for (const f of files) {
      const src = readFileSync(path.join(d, f), 'utf8');
      const rb = parseRunbook(src, f, catalog);
      assert.match(rb.hash, /^[0-9a-f]{64}$/);
      assert.notEqual(parseRunbook(src + '\n# changed\n', f, catalog).hash, rb.hash, 'hash follows content');
      n++;
    }
  }
  assert.ok(n >= 8, `loaded ${n} runbooks`);
});

test('a cycle is accepted once one of its steps has maxVisits', () => {
  const src = readFileSync(path.join(here, 'broken', 'cycle.yaml'), 'utf8').replace('  - id: b\n', '  - id: b\n    maxVisits: 2\n');
  const rb = parseRunbook(src, 'cycle.yaml', catalog);
  assert.equal(rb.stepMap.get('b')!.maxVisits, 2);
});

test('inputs: defaults, coercion, enum and required are enforced at submission', () => {
  const rb = parseRunbook(readFileSync(path.join(ENGINE_RUNBOOKS, 'branching.yaml'), 'utf8'), 'b.yaml', catalog);
  assert.deepEqual(resolveInputs(rb, {}), { mode: 'left' });
  assert.throws(() => resolveInputs(rb, { mode: 'up' }), /input 'mode' must be one of \["left","right"\]/);
  assert.throws(() => resolveInputs(rb, { other: 1 }), /has no input 'other'/);
  const req = parseRunbook('id: r\ntitle: t\nmatch: { any: [ { text: x } ] }\ninputs:\n  ticket: { type: string }\n  n: { type: number, default: 1 }\nsteps:\n  - id: a\n    action: noop\n', 'r.yaml', catalog);
  assert.throws(() => resolveInputs(req, {}), /missing required input 'ticket'/);
  assert.deepEqual(resolveInputs(req, { ticket: 'T-1', n: '3' }), { ticket: 'T-1', n: 3 });
});

test('match rules: text is a case-insensitive substring, labels must all equal, never a regex from the alert', async () => {
  const rb = parseRunbook('id: m\ntitle: t\nmatch:\n  any:\n    - text: "Failed To Locate"\n    - labels: { service: a, env: prod }\nsteps:\n  - id: a\n    action: noop\n', 'm.yaml', catalog);
  assert.equal(await matchesAlert(rb, alert("expression 'X' failed to locate a name")), true);
  assert.equal(await matchesAlert(rb, alert('(.*)+$ [unrelated]')), false);
  assert.equal(await matchesAlert(rb, alert('x', { labels: { service: 'a', env: 'prod' } })), true);
  assert.equal(await matchesAlert(rb, alert('x', { labels: { service: 'a' } })), false);
});
