// Approval messages in Slack, driven by the engine's hooks. Never blocks or fails a run: posting happens in
// the background, retried with exponential backoff while the run still waits at that gate; when Slack stays
// down the run keeps waiting and can be decided through the API or the dashboard. A decision (API, Slack,
// timeout) replaces the buttons with who decided and when.
import type { Redis } from 'ioredis';
import type { EngineHooks } from '../../engine/engine.js';
import type { ApprovalDecision, RunRecord } from '../../core/types.js';
import type { ApprovalRequest } from '../../ports/index.js';
import type { Logger } from '../../core/action.js';
import { errorInfo } from '../../core/errors.js';
import type { SlackChat } from '../../adapters/slack/chat.js';
import { escapeMrkdwn } from '../../adapters/slack/blocks.js';
import { keysFor } from '../../engine/keys.js';

export interface NotifierOptions {
  chat: SlackChat;
  redis: Redis;
  prefix: string;
  logger: Logger;
  /** Link for "Open run": `${dashboardUrl}/runs/<id>` */
  dashboardUrl?: string;
  /** Is the run still waiting at this gate? (stops retries once decided) */
  stillWaiting: (runId: string, step: string, visit: number) => Promise<boolean>;
  retry?: { baseMs?: number; maxMs?: number; attempts?: number };
}

export function approvalKey(runId: string, step: string, visit: number): string {
  return `${runId}.${step}.${visit}`;
}

/** "Approved (option B) by <@U1> at <!date^…|…>": who decided and when, in Slack mrkdwn. */
export function decisionText(d: ApprovalDecision): string {
  const who = d.actor.startsWith('slack:') ? `<@${escapeMrkdwn(d.actor.slice(6))}>` : escapeMrkdwn(d.actor);
  const secs = Math.floor(Date.parse(d.at) / 1000);
  const when = Number.isFinite(secs) ? `<!date^${secs}^{date_short_pretty} {time}|${d.at}>` : escapeMrkdwn(d.at);
  const comment = d.comment ? ` — “${escapeMrkdwn(d.comment.slice(0, 300))}”` : '';
  if (d.actor === 'system:timeout') return `:hourglass: *Timed out* — no decision in time; rejected at ${when}`;
  if (d.decision === 'approved') return `:white_check_mark: *Approved*${d.choice ? ` (option ${escapeMrkdwn(d.choice)})` : ''} by ${who} at ${when}${comment}`;
  return `:x: *Rejected* by ${who} at ${when}${comment}`;
}

export class ApprovalNotifier {
  private readonly inflight = new Set<Promise<void>>();
  private readonly sleeping = new Map<NodeJS.Timeout, () => void>();
  private closed = false;
  private readonly base: number;
  private readonly max: number;
  private readonly attempts: number;

  constructor(private readonly o: NotifierOptions) {
    this.base = o.retry?.baseMs ?? 1000;
    this.max = o.retry?.maxMs ?? 60_000;
    this.attempts = o.retry?.attempts ?? 40;
  }

  hooks(): EngineHooks {
    return {
      onApprovalWaiting: async (run, req) => this.track(this.post(run, req)),
      onApprovalDecided: async (run, step, d) => this.track(this.decided(run, step, d)),
    };
  }

  private reqKey(key: string) {
    return `${this.o.prefix}:slack:req:${key}`;
  }

  private track(p: Promise<void>): void {
    const q = p.catch((e) => this.o.logger.warn({ err: errorInfo(e) }, 'slack notifier failed')).finally(() => this.inflight.delete(q));
    this.inflight.add(q);
  }

  /** Resolves when no post or update is in flight (tests await this instead of sleeping). */
  async idle(): Promise<void> {
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.sleeping.delete(t);
        resolve();
      }, ms);
      this.sleeping.set(t, resolve);
    });
  }

  private backoff(attempt: number): number {
    const exp = Math.min(this.max, this.base * 2 ** (attempt - 1));
    return Math.round(exp / 2 + Math.random() * (exp / 2));
  }

  private async post(run: RunRecord, req: ApprovalRequest): Promise<void> {
    const visit = run.steps[req.step]?.visit ?? 1;
    const key = approvalKey(run.id, req.step, visit);
    const log = this.o.logger.child({ runId: run.id, step: req.step });
    const full: ApprovalRequest = { ...req, dashboardUrl: req.dashboardUrl ?? (this.o.dashboardUrl ? `${this.o.dashboardUrl.replace(/\/+$/, '')}/runs/${encodeURIComponent(run.id)}` : undefined) };
    await this.o.redis.set(this.reqKey(key), JSON.stringify(full), 'EX', 60 * 60 * 24 * 30);
    for (let attempt = 1; attempt <= this.attempts && !this.closed; attempt++) {
      if (!(await this.o.stillWaiting(run.id, req.step, visit))) {
        log.info('approval no longer waiting; not posting to Slack');
        return;
      }
      try {
        const handle = await this.o.chat.postApproval(full, key);
        if (handle) {
          log.info({ channel: handle.channel, ts: handle.ts }, 'approval request posted to Slack');
          // Decided while we were posting? Then the decision's update found no message: apply it now.
          const latest = await this.o.stillWaiting(run.id, req.step, visit);
          if (!latest) await this.updateFromStore(run.id, key, full);
          return;
        }
      } catch (e) {
        log.warn({ attempt, err: errorInfo(e) }, 'posting the approval to Slack failed; the run keeps waiting and will be retried');
      }
      await this.sleep(this.backoff(attempt));
    }
    log.error({ attempts: this.attempts }, 'gave up posting the approval to Slack; decide through the API or dashboard');
  }

  private async updateFromStore(runId: string, key: string, req: ApprovalRequest): Promise<void> {
    const raw = await this.o.redis.hget(keysFor(this.o.prefix).run(runId), 'approval');
    if (!raw) return;
    const d = JSON.parse(raw) as ApprovalDecision;
    const handle = await this.o.chat.handleFor(key);
    if (handle) await this.o.chat.updateApproval(handle, decisionText(d), req);
  }

  private async decided(run: RunRecord, step: string, d: ApprovalDecision): Promise<void> {
    const visit = run.steps[step]?.visit ?? 1;
    const key = approvalKey(run.id, step, visit);
    const log = this.o.logger.child({ runId: run.id, step });
    const once = await this.o.redis.set(`${this.o.prefix}:slack:upd:${key}`, '1', 'EX', 60 * 60 * 24, 'NX');
    if (!once) return; // this decision's message update is already done or under way
    for (let attempt = 1; attempt <= 8 && !this.closed; attempt++) {
      const handle = await this.o.chat.handleFor(key);
      if (!handle) return; // never posted (Slack down, or posting still retrying: it applies the decision itself)
      const rawReq = await this.o.redis.get(this.reqKey(key));
      if (!rawReq) return;
      try {
        await this.o.chat.updateApproval(handle, decisionText(d), JSON.parse(rawReq) as ApprovalRequest);
        log.info({ channel: handle.channel, ts: handle.ts, decision: d.decision, actor: d.actor }, 'Slack approval message updated');
        return;
      } catch (e) {
        log.warn({ attempt, err: errorInfo(e) }, 'updating the Slack approval message failed; retrying');
        await this.sleep(this.backoff(attempt));
      }
    }
  }

  /**
   * A run that ended while its approval message still had buttons (cancelled): say so in the message.
   * Called for run-level events; decisions are handled by onApprovalDecided.
   */
  runEnded(run: RunRecord, actor: string | undefined, at: string): void {
    const step = run.currentStep;
    if (!step || run.status !== 'cancelled') return;
    const visit = run.steps[step]?.visit ?? 1;
    const key = approvalKey(run.id, step, visit);
    this.track((async () => {
      const handle = await this.o.chat.handleFor(key);
      if (!handle) return;
      const once = await this.o.redis.set(`${this.o.prefix}:slack:upd:${key}`, '1', 'EX', 60 * 60 * 24, 'NX');
      if (!once) return;
      const rawReq = await this.o.redis.get(this.reqKey(key));
      if (!rawReq) return;
      const secs = Math.floor(Date.parse(at) / 1000);
      const who = actor ? ` by ${actor.startsWith('slack:') ? `<@${escapeMrkdwn(actor.slice(6))}>` : escapeMrkdwn(actor)}` : '';
      await this.o.chat.updateApproval(handle, `:no_entry_sign: *Run cancelled*${who} at <!date^${secs}^{date_short_pretty} {time}|${at}>; this approval is closed`, JSON.parse(rawReq) as ApprovalRequest);
      this.o.logger.info({ runId: run.id, step }, 'Slack approval message closed: run cancelled');
    })());
  }

  /** Stop retrying and wait for what is in flight. */
  async close(): Promise<void> {
    this.closed = true;
    for (const [t, resolve] of this.sleeping) {
      clearTimeout(t);
      resolve();
    }
    this.sleeping.clear();
    await this.idle();
  }
}
