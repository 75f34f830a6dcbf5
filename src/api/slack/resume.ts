// After a restart: runs already parked at an approval gate whose Slack message was never posted (Slack was down
// and the process that was retrying went away) get their message now. Re-run safe: one message per gate key.
import type { Engine } from '../../engine/engine.js';
import { errorInfo } from '../../core/errors.js';
import type { SlackChat } from '../../adapters/slack/chat.js';
import { approvalKey, type ApprovalNotifier } from './notifier.js';

/** Returns how many approvals were handed to the notifier (it posts them in the background). */
export async function resumePendingApprovals(engine: Engine, chat: SlackChat, notifier: ApprovalNotifier): Promise<number> {
  const onWaiting = notifier.hooks().onApprovalWaiting!;
  let handed = 0;
  let cursor: string | undefined;
  do {
    const page = await engine.store.list({ status: 'waiting_approval', limit: 200, cursor });
    cursor = page.nextCursor;
    for (const run of page.runs) {
      const step = run.currentStep;
      if (!step) continue;
      if (await chat.handleFor(approvalKey(run.id, step, run.steps[step]?.visit ?? 1))) continue;
      try {
        // The same request the engine built when the run parked (src/engine/approvals.ts), from the run's runbook version.
        await onWaiting(run, await engine.approvalRequest(run));
        handed++;
      } catch (e) {
        engine.logger.warn({ runId: run.id, err: errorInfo(e) }, 'could not rebuild the approval request for Slack');
      }
    }
  } while (cursor);
  return handed;
}
