// Who may decide an approval: the runbook's policy.approvers, the approval step's approvers and the
// target's approvers, together. An empty list means any approver-role API user (and, for Slack, the
// configured slack.approvers; when that is empty too, anyone who can click in the channel).
import type { Engine } from '../engine/engine.js';
import type { RunRecord } from '../core/types.js';
import type { Principal } from './auth.js';

export function approversFor(engine: Engine, run: RunRecord): string[] {
  const rb = engine.runbooks.get(run.runbookId);
  const step = run.currentStep ? rb?.stepMap.get(run.currentStep) : undefined;
  const list = [...(rb?.policy.approvers ?? []), ...(step?.approval?.approvers ?? []), ...(run.target.approvers ?? [])];
  return [...new Set(list)];
}

/** API caller: approver role or above, and named in the list (by token name or one of its groups) when there is one. */
export function principalMayApprove(p: Principal, allowed: string[]): boolean {
  if (p.role !== 'approver' && p.role !== 'admin') return false;
  if (allowed.length === 0) return true;
  return allowed.includes(p.name) || p.groups.some((g) => allowed.includes(g));
}

/** Slack clicker: user id in the list, or member of a listed user group (S… ids, checked with usergroups.users.list). */
export async function slackUserMayApprove(userId: string, allowed: string[], inGroup: (user: string, group: string) => Promise<boolean>): Promise<boolean> {
  if (allowed.length === 0) return true;
  if (allowed.includes(userId) || allowed.includes(`slack:${userId}`)) return true;
  for (const g of allowed) {
    if (/^S[A-Z0-9]{2,}$/.test(g) && (await inGroup(userId, g))) return true;
  }
  return false;
}
