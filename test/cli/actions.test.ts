// docs/ACTIONS.md is what the registry generates (a changed parameter or a new action fails here until
// `npm run docs:actions` is run), every action documents its outputs, and `runwright actions` prints the reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { defaultRegistry } from '../../src/actions/index.js';
import { actionsMarkdown } from '../../src/actions/reference.js';
import { ACTION_OUTPUTS } from '../../src/actions/outputs.js';
import { cli, ROOT } from './helpers.js';

test('docs/ACTIONS.md matches the registry (run `npm run docs:actions` after changing an action)', () => {
  const onDisk = readFileSync(path.join(ROOT, 'docs', 'ACTIONS.md'), 'utf8');
  assert.equal(onDisk, actionsMarkdown(defaultRegistry()));
});

test('every registered action documents its outputs, and nothing else is documented', () => {
  const names = defaultRegistry().names();
  assert.deepEqual(names.filter((n) => !(n in ACTION_OUTPUTS)), [], 'actions without an ACTION_OUTPUTS entry');
  assert.deepEqual(Object.keys(ACTION_OUTPUTS).filter((n) => !names.includes(n)), [], 'entries for actions that do not exist');
});

test('the reference names each action with its parameter types, defaults and side effects', () => {
  const md = actionsMarkdown(defaultRegistry());
  assert.match(md, /\| \[`deploy\.push`\]\(#deploypush\) \| yes \|/);
  assert.match(md, /## deploy\.push\n[^]*?\| `sha` \| string \| yes \|  \| pattern `\^\[0-9a-f\]\{40\}\$` \|/);
  assert.match(md, /## deploy\.push\n[^]*?\| `toTargetBranch` \| boolean \| no \| `false` \|/);
  assert.match(md, /## sqlalchemy\.plan_fix\n[^]*?\| `policy` \| "auto" \\\| "A" \\\| "B" \\\| "C" \| no \| `"auto"` \|/);
  assert.match(md, /## deploy\.job\n[^]*?\| `status` \| succeeded \\\| failed \\\| cancelled/);
});

test('runwright actions prints the reference', async () => {
  const r = await cli(['actions']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, actionsMarkdown(defaultRegistry()));
});
