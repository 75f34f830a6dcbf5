// Who may decide an approval: the runbook's policy.approvers, the approval step's approvers and the
// target's approvers, together; when they name nobody, the configured slack.approvers (SLACK_APPROVERS).
// Deny by default: when all of these are empty nobody may decide (the server refuses to load such a gate
// unless RUNWRIGHT_APPROVAL_DEFAULT=admins, and then only admin-role users decide it).
// One identity per person: a Slack user mapped to an API user (RUNWRIGHT_SLACK_USERS) is that user
// everywhere — same name in the decision record, same role and groups — whether they click in Slack,
// call the API or use the dashboard.
import { approversOf, type Engine } from '../engine/engine.js';
import type { RunRecord } from '../core/types.js';
import type { Config } from '../config/config.js';
import type { Principal, Role } from './auth.js';

export function approversFor(engine: Engine, run: RunRecord): string[] {
  // The runbook version the run is on (as the approval request names them: src/engine/approvals.ts).
  const rb = engine.runbookVersion(run);
  return approversOf(rb, run.currentStep ? rb?.stepMap.get(run.currentStep) : undefined, run);
}

/** The list that decides a run's gate: the run's approvers, else SLACK_APPROVERS (empty = nobody, or admins by config). */
export function effectiveApprovers(engine: Engine, config: Config, run: RunRecord): string[] {
  const own = approversFor(engine, run);
  return own.length ? own : [...config.slack.approvers];
}

/** A person as far as approvals care: API user name, role and groups, and their Slack user id. */
export interface Person {
  name?: string;
  role?: Role;
  groups: string[];
  slack?: string;
}

/** People by API user name and by Slack id, from the config (tokens + RUNWRIGHT_SLACK_USERS). */
export class Identities {
  private readonly byName = new Map<string, Principal>();
  private readonly slackOf = new Map<string, string>();
  constructor(private readonly config: Config) {
    for (const t of config.api.tokens) if (!this.byName.has(t.name)) this.byName.set(t.name, { name: t.name, role: t.role, groups: t.groups ?? [] });
    for (const [slack, name] of Object.entries(config.api.slackUsers)) if (!this.slackOf.has(name)) this.slackOf.set(name, slack);
  }
  fromPrincipal(p: Principal): Person {
    return { name: p.name, role: p.role, groups: p.groups, slack: this.slackOf.get(p.name) };
  }
  fromSlack(userId: string): Person {
    const name = Object.hasOwn(this.config.api.slackUsers, userId) ? this.config.api.slackUsers[userId] : undefined;
    const p = name ? this.byName.get(name) : undefined;
    return p ? { name: p.name, role: p.role, groups: p.groups, slack: userId } : { groups: [], slack: userId };
  }
  /** The principal an IAP email maps to (RUNWRIGHT_IAP_USERS), if any. */
  fromEmail(email: string): Principal | undefined {
    const name = Object.hasOwn(this.config.api.iapUsers, email) ? this.config.api.iapUsers[email] : undefined;
    return name ? this.byName.get(name) : undefined;
  }
  /** What a decision records: the API user name when the person has one, else slack:<id>. */
  actor(p: Person): string {
    return p.name ?? `slack:${p.slack}`;
  }
}

/**
 * Whether a person may decide a gate whose approver list is `allowed`. API users need the approver role or
 * above; a listed name, group, Slack id (U… or slack:U…) or Slack user group (S…, via inGroup) lets them in.
 * An empty list lets nobody in, unless the fallback is 'admins' and the person is an admin.
 */
export async function mayDecide(p: Person, allowed: string[], fallback: 'deny' | 'admins', inGroup?: (user: string, group: string) => Promise<boolean>): Promise<boolean> {
  if (p.role === 'viewer') return false;
  if (allowed.length === 0) return fallback === 'admins' && p.role === 'admin';
  if (p.name && (allowed.includes(p.name) || p.groups.some((g) => allowed.includes(g)))) return true;
  if (!p.slack) return false;
  if (allowed.includes(p.slack) || allowed.includes(`slack:${p.slack}`)) return true;
  if (!inGroup) return false;
  for (const g of allowed) {
    if (/^S[A-Z0-9]{2,}$/.test(g) && (await inGroup(p.slack, g))) return true;
  }
  return false;
}

/** What the routes that decide approvals share: identities, the fallback mode and (with Slack) group membership. */
export class ApprovalPolicy {
  readonly identities: Identities;
  constructor(
    readonly engine: Engine,
    readonly config: Config,
    private readonly inGroup?: (user: string, group: string) => Promise<boolean>,
  ) {
    this.identities = new Identities(config);
  }
  allowed(run: RunRecord): string[] {
    return effectiveApprovers(this.engine, this.config, run);
  }
  may(p: Person, run: RunRecord): Promise<boolean> {
    return mayDecide(p, this.allowed(run), this.config.api.approvalDefault, this.inGroup);
  }
}
