// Approval messages in Slack, driven by the engine's hooks. Never blocks or fails a run: posting happens in
// the background, retried with exponential backoff while the run still waits at that gate; when Slack stays
// down the run keeps waiting and can be decided through the API or the dashboard. A decision (API, Slack,
// timeout) replaces the buttons with who decided and when. The run's first approval message is its message
// (src/api/slack/run-notices.ts): after the decision that one keeps moving with the run, its thread carrying the rest.
import type { Redis } from 'ioredis';
import type { EngineHooks } from '../../engine/engine.js';
import type { ApprovalDecision, RunRecord } from '../../core/types.js';
import type { ApprovalRequest } from '../../ports/index.js';
import type { Logger } from '../../core/action.js';
import { errorInfo } from '../../core/errors.js';
import { BackgroundWork } from './background.js';
import type { SlackChat } from '../../adapters/slack/chat.js';
import { keysFor } from '../../engine/keys.js';
import { cancelledText, decisionText, type RunNotices } from './run-notices.js';

export { decisionText };

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
  /** The runs' messages: an approval message that becomes its run's message is kept moving by it after the decision. */
  runMessages?: RunNotices;
}

export function approvalKey(runId: string, step: string, visit: number): string {
  return `${runId}.${step}.${visit}`;
}

export class ApprovalNotifier extends BackgroundWork {
  private readonly attempts: number;

  constructor(private readonly o: NotifierOptions) {
    super(o.retry, o.logger, 'slack notifier failed');
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
          const mine = this.o.runMessages ? await this.o.runMessages.adoptApproval(run.id, req.step, key, handle) : false;
          // Decided while we were posting? Then the decision's update found no message: apply it now.
          const latest = await this.o.stillWaiting(run.id, req.step, visit);
          if (mine) void this.o.runMessages!.sync(run.id);
          else if (!latest) await this.updateFromStore(run.id, key, full);
          return;
        }
      } catch (e) {
        log.warn({ attempt, err: errorInfo(e) }, 'posting the approval to Slack failed; the run keeps waiting and will be retried');
      }
      await this.sleep(this.backoff(attempt));
    }
    log.error({ attempts: this.attempts }, 'gave up posting the approval to Slack; decide through the API or dashboard');
  }

  private async isRunMessage(runId: string, key: string): Promise<boolean> {
    return !!this.o.runMessages && (await this.o.runMessages.runMessage(runId))?.key === key;
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
    if (await this.isRunMessage(run.id, key)) {
      void this.o.runMessages!.sync(run.id); // the run's message: it shows the decision, then keeps moving
      return;
    }
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
        // Adopted as the run's message meanwhile (its post raced the decision): draw the run's view over this one.
        if (await this.isRunMessage(run.id, key)) void this.o.runMessages!.refresh(run.id);
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
      if (await this.isRunMessage(run.id, key)) {
        void this.o.runMessages!.sync(run.id);
        return;
      }
      const handle = await this.o.chat.handleFor(key);
      if (!handle) return;
      const once = await this.o.redis.set(`${this.o.prefix}:slack:upd:${key}`, '1', 'EX', 60 * 60 * 24, 'NX');
      if (!once) return;
      const rawReq = await this.o.redis.get(this.reqKey(key));
      if (!rawReq) return;
      await this.o.chat.updateApproval(handle, cancelledText(actor, at), JSON.parse(rawReq) as ApprovalRequest);
      this.o.logger.info({ runId: run.id, step }, 'Slack approval message closed: run cancelled');
    })());
  }
}
