// The approval request is built in one place (src/engine/approvals.ts): what the engine hands to chat when a run
// parks and what the API's Slack resume path re-posts after a restart are the same object for the same run —
// from the runbook version the run is on, even after a newer version of that runbook was loaded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alert, engineRunbooks, loadTestRunbooks, target, testEngine } from '../helpers/engine.js';
import { parseRunbook } from '../../src/core/runbook.js';
import { defaultRegistry } from '../../src/actions/index.js';
import { resumePendingApprovals } from '../../src/api/slack/resume.js';
import type { ApprovalRequest } from '../../src/ports/index.js';
import type { RunRecord } from '../../src/core/types.js';
import type { SlackChat } from '../../src/adapters/slack/chat.js';
import type { ApprovalNotifier } from '../../src/api/slack/notifier.js';
import { ENGINE_RUNBOOKS } from '../helpers/engine.js';
import path from 'node:path';
import { readFileSync } from 'node:fs';

test('approval request: the engine path and the API (Slack resume) path give the same object, from the run\'s runbook version', async () => {
  const fromEngine: ApprovalRequest[] = [];
  const t = await testEngine({
    runbooks: engineRunbooks('approval'),
    targets: new Map([['a', target('a', { approvers: ['oncall'] })]]),
    hooks: { onApprovalWaiting: async (_run, req) => void fromEngine.push(req) },
  });
  try {
    const res = await t.engine.submit({ runbookId: 'approval', alert: alert('approve me'), target: 'a' });
    assert.equal(res.result, 'created');
    const runId = (res as { run: RunRecord }).run.id;
    await t.engine.waitFor(runId, (r) => r.status === 'waiting_approval', 10_000);
    // The hook is called after the run is recorded as waiting: wait for it on the event stream of the run.
    await t.engine.waitFor(runId, () => fromEngine.length === 1, 10_000);
    const v1 = t.engine.runbooks.get('approval')!;
    assert.deepEqual(fromEngine[0], {
      runId,
      step: 'approve',
      runbookId: 'approval',
      runbookHash: v1.hash,
      target: 'a',
      alert: fromEngine[0]!.alert,
      prompt: 'Apply fix A to a?',
      findings: undefined,
      proposal: undefined,
      options: ['A', 'B', 'C'],
      approvers: ['oncall'],
    });

    // A newer version of the runbook is loaded (another prompt, other approvers): the parked run keeps its own.
    const src = readFileSync(path.join(ENGINE_RUNBOOKS, 'approval.yaml'), 'utf8').replace('prompt: "Apply fix', 'approvers: [someone-else]\n      prompt: "NEW: apply fix');
    const v2 = parseRunbook(src, 'approval.yaml (v2)', defaultRegistry().catalog());
    assert.notEqual(v2.hash, v1.hash);
    t.engine.runbooks = new Map([[v2.id, v2]]);

    // The API path: the Slack resume of pending approvals (chat has no message for the gate).
    const fromApi: ApprovalRequest[] = [];
    const chat = { handleFor: async () => null } as unknown as SlackChat;
    const notifier = { hooks: () => ({ onApprovalWaiting: async (_run: RunRecord, req: ApprovalRequest) => void fromApi.push(req) }) } as unknown as ApprovalNotifier;
    assert.equal(await resumePendingApprovals(t.engine, chat, notifier), 1);
    assert.deepEqual(fromApi[0], fromEngine[0]);
    // And the engine's own entry point.
    assert.deepEqual(await t.engine.approvalRequest((await t.engine.store.get(runId))!), fromEngine[0]);
  } finally {
    await t.close();
  }
});

test('approval request: a run that is not at a gate has none (a precise not-found, not a half-built request)', async () => {
  const t = await testEngine({ runbooks: loadTestRunbooks([path.join(ENGINE_RUNBOOKS, 'branching.yaml')]) });
  try {
    const res = await t.engine.submit({ runbookId: 'branching', alert: alert('branch me'), target: target('x') });
    const run = await t.engine.waitForEnd((res as { run: RunRecord }).run.id, 10_000);
    await assert.rejects(t.engine.approvalRequest(run), (e: Error & { code?: string }) => e.code === 'not_found' && /no approval gate/.test(e.message));
  } finally {
    await t.close();
  }
});
