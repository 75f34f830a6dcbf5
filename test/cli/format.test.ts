// The CLI's step lines for run-level events: the run's message after the step it concerns — no empty verb and
// dangling colon ("done               : run succeeded"), a dry run marked once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatEvent } from '../../src/cli/format.js';
import type { StepEvent } from '../../src/core/types.js';

const at = '2026-12-01T15:55:57.000Z';

test('run events: the message after the step, marked by the end status; dry runs say so once', () => {
  const ended: StepEvent = { runId: 'r1', step: 'done', kind: 'run', visit: 0, attempt: 0, at, message: 'run succeeded: Fix A pushed to main', output: { status: 'succeeded' } };
  assert.equal(formatEvent(ended), `15:55:57 ✓ ${'done'.padEnd(18)} run succeeded: Fix A pushed to main`);
  assert.equal(formatEvent(ended, { dryRun: true }), `15:55:57 ✓ ${'done'.padEnd(18)} [DRY RUN, nothing written] run succeeded: Fix A pushed to main`);
  const failed: StepEvent = { ...ended, step: 'not_cured', message: 'run failed: Fix A did not cure', output: { status: 'failed' } };
  assert.equal(formatEvent(failed), `15:55:57 ✗ ${'not_cured'.padEnd(18)} run failed: Fix A did not cure`);
  const created: StepEvent = { runId: 'r1', step: '', kind: 'run', visit: 0, attempt: 0, at, message: 'run created (runbook x@abc, target web)' };
  assert.equal(formatEvent(created, { dryRun: true }), `15:55:57 ● ${''.padEnd(18)} run created (runbook x@abc, target web)`);
  for (const l of [formatEvent(ended), formatEvent(failed), formatEvent(created)]) assert.doesNotMatch(l, /\s:\s/);
});

test('step events keep their word, detail and actor', () => {
  const ev: StepEvent = { runId: 'r1', step: 'approve', kind: 'approved', visit: 1, attempt: 1, at, actor: 'alice', message: 'looks right' };
  assert.equal(formatEvent(ev), `15:55:57 ✔ ${'approve'.padEnd(18)} approved: looks right (by alice)`);
});
