// One Slack message per run, updated in place as the run moves and ending with its outcome (status coloured by its
// tone, current step or where it ended, links to the commit, build, execution and dashboard, what to look at); its
// thread carries the milestones — each finished step in one line, approvals asked and decided, the end.
//
// Which message: a run that posted an approval request has that message as its message (its channel and ts are in
// Redis, so any API or worker process finds it): once decided it keeps moving, the decision shown last, and its thread
// carries what happened after the approval. A run that needs no approval gets a message in SLACK_NOTICES_CHANNEL, if
// one is configured; a run that may still reach an approval gate waits for it (its notice is posted, with the thread of
// what happened so far, once no gate is ahead).
//
// Several processes see the same events: each event is claimed once in Redis, and a run's message is brought up to
// date under a per-run Redis lock — the thread from a cursor in Redis (each milestone once, in order), the message
// only when what it shows changed. Never blocks or fails a run: Slack errors are logged and retried with backoff.
import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RunRecord, StepEvent } from '../../core/types.js';
import type { Logger } from '../../core/action.js';
import type { ApprovalRequest } from '../../ports/index.js';
import { errorInfo } from '../../core/errors.js';
import { edges, type Runbook } from '../../core/runbook.js';
import { endStatus, eventTone, eventWord, statusTone, summarizeOutput, type Tone } from '../../core/step-summary.js';
import { nextSteps, runPageUrl } from '../../core/report.js';
import type { MessageHandle, SlackChat } from '../../adapters/slack/chat.js';
import { approvalRunBlocks, approvalRunText, escapeMrkdwn, runNoticeBlocks, runNoticeText, type RunNoticeView } from '../../adapters/slack/blocks.js';
import { runLinks } from '../dashboard.js';
import { BackgroundWork } from './background.js';

export interface RunNoticesOptions {
  chat: SlackChat;
  /** SLACK_NOTICES_CHANNEL: where runs without an approval message get theirs (none: they get no message). */
  channel?: string;
  /** Approval messages are posted (SLACK_CHANNEL): a run that may reach a gate waits for its approval message. */
  approvals?: boolean;
  redis: Redis;
  prefix: string;
  logger: Logger;
  /** Base of the dashboard links (the service's public URL or the dashboard's). */
  dashboardUrl?: string;
  getRun(id: string): Promise<RunRecord | null>;
  events(id: string): Promise<StepEvent[]>;
  runbook(run: RunRecord): Runbook | undefined;
  retry?: { baseMs?: number; maxMs?: number; attempts?: number };
}

/** The run's message, as stored in Redis. */
export interface RunMessage extends MessageHandle {
  kind: 'approval' | 'notice';
  /** approval: the gate and the approval key (`<run>.<step>.<visit>`). */
  step?: string;
  key?: string;
}

const TTL_S = 60 * 60 * 24 * 30;
const LOCK_MS = 120_000;
const TERMINAL = new Set(['succeeded', 'failed', 'escalated', 'cancelled', 'refused']);
const EMOJI: Record<Tone, string> = { good: ':white_check_mark:', bad: ':x:', warn: ':warning:', neutral: ':large_blue_circle:' };

function statusEmoji(status: string): string {
  if (status === 'running' || status === 'queued') return ':arrows_counterclockwise:';
  if (status === 'waiting_approval' || status === 'waiting_lock') return ':double_vertical_bar:';
  return EMOJI[statusTone(status)];
}

const who = (actor: string) => (actor.startsWith('slack:') ? `<@${escapeMrkdwn(actor.slice(6))}>` : escapeMrkdwn(actor));

/** The thread line for one event, or null when the event is not a milestone (started, progress, skipped). */
export function milestoneLine(ev: StepEvent): string | null {
  const step = `*${escapeMrkdwn(ev.step)}*`;
  const clip = (s: string, n = 400) => escapeMrkdwn(s.length > n ? `${s.slice(0, n - 1)}…` : s);
  switch (ev.kind) {
    case 'succeeded': {
      const detail = ev.message && /^end: /.test(ev.message) ? ev.message.replace(/^end: \w+ — /, '') : ev.message ?? summarizeOutput(ev.output);
      return `${EMOJI[eventTone(ev)]} ${step} ${eventWord(ev)}${detail ? `: ${clip(detail)}` : ''}`;
    }
    case 'failed':
      return `${EMOJI.bad} ${step} failed${ev.attempt > 1 ? ` (attempt ${ev.attempt})` : ''}: ${clip(ev.error?.message ?? ev.message ?? '')}`;
    case 'waiting':
      return `:double_vertical_bar: ${step} waits for approval`;
    case 'approved':
    case 'rejected': {
      const choice = (ev.output as { choice?: string } | undefined)?.choice;
      return `${ev.kind === 'approved' ? EMOJI.good : EMOJI.bad} ${step} ${ev.kind}${choice ? ` (option ${escapeMrkdwn(choice)})` : ''}${ev.actor ? ` by ${who(ev.actor)}` : ''}`;
    }
    case 'run': {
      const status = (ev.output as { status?: string } | undefined)?.status;
      if (!status || !TERMINAL.has(status)) return null;
      return `${statusEmoji(status)} *run ${escapeMrkdwn(status)}*${ev.message ? `: ${clip(ev.message.replace(/^run \w+: /, ''), 1000)}` : ''}`;
    }
    default:
      return null;
  }
}

/** "Approved (option B) by <@U1> at <!date^…|…>": who decided and when, in Slack mrkdwn. */
export function decisionText(d: { decision: string; actor: string; at: string; comment?: string; choice?: string }): string {
  const secs = Math.floor(Date.parse(d.at) / 1000);
  const when = Number.isFinite(secs) ? `<!date^${secs}^{date_short_pretty} {time}|${d.at}>` : escapeMrkdwn(d.at);
  const comment = d.comment ? ` — “${escapeMrkdwn(d.comment.slice(0, 300))}”` : '';
  if (d.actor === 'system:timeout') return `:hourglass: *Timed out* — no decision in time; rejected at ${when}`;
  if (d.decision === 'approved') return `:white_check_mark: *Approved*${d.choice ? ` (option ${escapeMrkdwn(d.choice)})` : ''} by ${who(d.actor)} at ${when}${comment}`;
  return `:x: *Rejected* by ${who(d.actor)} at ${when}${comment}`;
}

/** "Run cancelled by X at …; this approval is closed". */
export function cancelledText(actor: string | undefined, at: string): string {
  const secs = Math.floor(Date.parse(at) / 1000);
  return `:no_entry_sign: *Run cancelled*${actor ? ` by ${who(actor)}` : ''} at <!date^${secs}^{date_short_pretty} {time}|${at}>; this approval is closed`;
}

/** Can the run still reach an approval gate (from its current step, through any edge)? */
export function approvalAhead(run: RunRecord, rb: Runbook | undefined): boolean {
  if (!rb || TERMINAL.has(run.status) || run.dryRun || run.autoApprove) return false;
  const seen = new Set<string>();
  const todo = [run.currentStep ?? rb.start];
  while (todo.length) {
    const id = todo.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    const def = rb.stepMap.get(id);
    if (!def) continue;
    // The gate it just passed (decided, the run moved on) is not ahead; a gate it waits at is.
    if (def.approval && (id !== run.currentStep || run.status === 'waiting_approval' || !run.steps[id] || run.steps[id]!.status === 'waiting')) return true;
    for (const e of edges(def)) todo.push(e.to);
  }
  return false;
}

export class RunNotices extends BackgroundWork {
  /** Per run, the chain of its syncs in this process, and the one queued that has not started yet. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly queued = new Map<string, Promise<void>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly o: RunNoticesOptions) {
    super(o.retry, o.logger, 'Slack run message failed');
  }

  private key(runId: string, what: string): string {
    return `${this.o.prefix}:slack:run:${runId}:${what}`;
  }

  /** Feed every store event here (engine.store.subscribe). */
  onEvent(ev: StepEvent): void {
    const created = ev.kind === 'run' && /^run created/.test(ev.message ?? '');
    if (!created && !milestoneLine(ev)) return;
    this.track((async () => {
      if (ev.id && !(await this.o.redis.set(this.key(ev.runId, `ev:${ev.id}`), '1', 'EX', TTL_S, 'NX'))) return; // another process has it
      await this.sync(ev.runId);
    })());
  }

  /** A sync of `runId` after `ms` (not awaited by idle(); cancelled by close()). */
  private later(runId: string, ms: number): void {
    if (this.closed || this.timers.has(runId)) return;
    const t = setTimeout(() => {
      this.timers.delete(runId);
      if (!this.closed) void this.sync(runId);
    }, ms);
    t.unref();
    this.timers.set(runId, t);
  }

  override async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await super.close();
  }

  /** Make the approval message of `key` the run's message, unless the run has one already. True when it is now. */
  async adoptApproval(runId: string, step: string, key: string, handle: MessageHandle): Promise<boolean> {
    const msg: RunMessage = { channel: handle.channel, ts: handle.ts, kind: 'approval', step, key };
    if (await this.o.redis.set(this.key(runId, 'msg'), JSON.stringify(msg), 'EX', TTL_S, 'NX')) return true;
    return (await this.runMessage(runId))?.key === key;
  }

  async runMessage(runId: string): Promise<RunMessage | null> {
    const raw = await this.o.redis.get(this.key(runId, 'msg'));
    return raw ? (JSON.parse(raw) as RunMessage) : null;
  }

  /** Sync, after something else drew over the run's message: send what it should show even if unchanged. */
  async refresh(runId: string): Promise<void> {
    await this.o.redis.del(this.key(runId, 'shown'));
    await this.sync(runId);
  }

  /** Bring the run's message up to date (in the background, retried while Slack fails). */
  sync(runId: string): Promise<void> {
    // One drain queued per run is enough: it reads the run when it starts, so it covers every event before it.
    const queued = this.queued.get(runId);
    if (queued) return queued;
    const prev = this.chains.get(runId) ?? Promise.resolve();
    const settled: Promise<void> = prev
      .then(() => {
        this.queued.delete(runId);
        return this.drain(runId);
      })
      .catch((e) => this.o.logger.warn({ runId, err: errorInfo(e) }, 'Slack run message failed'))
      .finally(() => {
        if (this.chains.get(runId) === settled) this.chains.delete(runId);
      });
    this.queued.set(runId, settled);
    this.chains.set(runId, settled);
    this.track(settled);
    return settled;
  }

  /**
   * Mark the run dirty, then sync it under its lock until nothing is dirty. A process that finds the lock taken
   * leaves: the holder looks at the dirty mark again after releasing, so no change is left behind.
   */
  private async drain(runId: string): Promise<void> {
    const r = this.o.redis;
    const dirty = this.key(runId, 'dirty');
    const lock = this.key(runId, 'lock');
    await r.set(dirty, '1', 'EX', TTL_S);
    const attempts = this.o.retry?.attempts ?? 12;
    for (let attempt = 1; !this.closed; ) {
      const token = randomUUID();
      if (!(await r.set(lock, token, 'PX', LOCK_MS, 'NX'))) {
        // The holder picks up the dirty mark; should it have died holding the lock, look again once the lock expires.
        const left = await r.pttl(lock);
        this.later(runId, (left > 0 ? left : LOCK_MS) + 250);
        return;
      }
      let failed: unknown;
      try {
        while ((await r.del(dirty)) === 1) await this.syncOnce(runId);
      } catch (e) {
        failed = e;
        await r.set(dirty, '1', 'EX', TTL_S);
      } finally {
        if ((await r.get(lock)) === token) await r.del(lock);
      }
      if (failed) {
        this.o.logger.warn({ runId, attempt, err: errorInfo(failed) }, 'updating the Slack run message failed; retrying');
        if (++attempt > attempts) {
          this.o.logger.error({ runId, attempts }, 'gave up updating the Slack run message; the next event of the run tries again');
          return;
        }
        await this.sleep(this.backoff(attempt - 1));
        continue;
      }
      if (!(await r.exists(dirty))) return;
    }
  }

  private async syncOnce(runId: string): Promise<void> {
    const run = await this.o.getRun(runId);
    if (!run) return;
    const msg = await this.messageFor(run);
    if (!msg) return;
    const events = await this.o.events(runId);
    // The thread: every milestone after the cursor, once and in order (an approval's thread starts after its gate).
    const cursor = await this.o.redis.get(this.key(runId, 'thread'));
    let from = 0;
    if (cursor) from = events.findIndex((e) => e.id === cursor) + 1;
    else if (msg.kind === 'approval') from = events.findIndex((e) => e.kind === 'waiting' && e.step === msg.step) + 1;
    for (const ev of events.slice(from)) {
      const line = milestoneLine(ev);
      if (line) await this.o.chat.postMessage(msg.channel, line, undefined, msg);
      if (ev.id) await this.o.redis.set(this.key(runId, 'thread'), ev.id, 'EX', TTL_S);
    }
    const content = await this.render(run, msg, events);
    if (!content) return;
    const hash = createHash('sha256').update(JSON.stringify(content)).digest('hex');
    if ((await this.o.redis.get(this.key(runId, 'shown'))) === hash) return;
    await this.o.chat.updateMessage(msg, content.text, content.blocks);
    await this.o.redis.set(this.key(runId, 'shown'), hash, 'EX', TTL_S);
  }

  /** The run's message: its approval message, or a notice posted now (none while an approval may still come). */
  private async messageFor(run: RunRecord): Promise<RunMessage | null> {
    const existing = await this.runMessage(run.id);
    if (existing) return existing;
    const rb = this.o.runbook(run);
    if (this.o.approvals && rb) {
      // Decided before the approval message was adopted (its post was still under way): it is the run's message all
      // the same; one being posted right now will be (the notifier syncs once it is).
      for (const def of rb.steps) {
        const st = run.steps[def.id];
        if (!def.approval || !st) continue;
        const key = `${run.id}.${def.id}.${st.visit ?? 1}`;
        // The claim first: a post that ends between the two reads has stored its handle before dropping the claim.
        if (await this.o.chat.posting(key)) return null;
        const handle = await this.o.chat.handleFor(key);
        if (handle && (await this.adoptApproval(run.id, def.id, key, handle))) return this.runMessage(run.id);
      }
    }
    if (!this.o.channel) return null;
    if (this.o.approvals && approvalAhead(run, rb)) return null;
    const v = this.view(run, []);
    const h = await this.o.chat.postMessage(this.o.channel, runNoticeText(v), runNoticeBlocks(v));
    const msg: RunMessage = { channel: h.channel, ts: h.ts, kind: 'notice' };
    if (!(await this.o.redis.set(this.key(run.id, 'msg'), JSON.stringify(msg), 'EX', TTL_S, 'NX'))) {
      this.o.logger.warn({ runId: run.id }, 'an approval message became the run message while its notice was posted; the notice stays as posted');
      return this.runMessage(run.id);
    }
    await this.o.redis.set(this.key(run.id, 'shown'), createHash('sha256').update(JSON.stringify({ text: runNoticeText(v), blocks: runNoticeBlocks(v) })).digest('hex'), 'EX', TTL_S);
    return msg;
  }

  private async render(run: RunRecord, msg: RunMessage, events: StepEvent[]): Promise<{ text: string; blocks: unknown[] } | null> {
    const v = this.view(run, events);
    if (msg.kind === 'notice') return { text: runNoticeText(v), blocks: runNoticeBlocks(v) };
    const step = msg.step!;
    // Still waiting at this gate: the buttons stay.
    if (run.status === 'waiting_approval' && run.currentStep === step && `${run.id}.${step}.${run.steps[step]?.visit ?? 1}` === msg.key) return null;
    const rawReq = await this.o.redis.get(`${this.o.prefix}:slack:req:${msg.key}`);
    if (!rawReq) return { text: runNoticeText(v), blocks: runNoticeBlocks(v) };
    const req = JSON.parse(rawReq) as ApprovalRequest;
    const out = run.steps[step]?.output as { decision?: string; actor?: string; at?: string; comment?: string; choice?: string } | undefined;
    let decision: string;
    if (out && typeof out.decision === 'string' && typeof out.actor === 'string' && typeof out.at === 'string') decision = decisionText({ decision: out.decision, actor: out.actor, at: out.at, comment: out.comment, choice: out.choice });
    else if (run.status === 'cancelled') {
      const ev = [...events].reverse().find((e) => e.kind === 'run' && (e.output as { status?: string } | undefined)?.status === 'cancelled');
      decision = cancelledText(ev?.actor, run.finishedAt ?? ev?.at ?? run.updatedAt);
    } else decision = `:double_vertical_bar: ${escapeMrkdwn(run.status.replace(/_/g, ' '))}`;
    return { text: approvalRunText(v, decision), blocks: approvalRunBlocks(req, v, decision) };
  }

  private view(run: RunRecord, events: StepEvent[]): RunNoticeView {
    const ended = TERMINAL.has(run.status);
    return {
      runId: run.id,
      runbookId: run.runbookId,
      target: run.target.name,
      status: run.status,
      emoji: statusEmoji(run.status),
      dryRun: run.dryRun,
      currentStep: (ended ? Object.entries(run.steps).find(([, st]) => endStatus(st))?.[0] : undefined) ?? run.currentStep,
      ended,
      outcome: ended ? run.outcome?.trim() : undefined,
      alertText: run.alert.text,
      links: runLinks(run).filter((l) => l.kind !== 'logs'),
      dashboardUrl: runPageUrl(this.o.dashboardUrl, run.id),
      lookAt: ended && run.status !== 'succeeded' ? nextSteps(run, events) : undefined,
    };
  }
}
