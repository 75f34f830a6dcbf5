// Completion notices in Slack (SLACK_NOTICES_CHANNEL): one message per run, posted when the run is created and
// updated in place as it moves (status coloured by its tone, current step, outcome, links to the commit, build,
// execution and dashboard); its thread carries the milestones — each finished step in one line, approvals asked
// and decided, the end. Never blocks or fails a run: Slack errors are logged and the next event tries again.
// Several API processes may see the same event: a Redis claim per event (and per run message) posts it once.
import type { Redis } from 'ioredis';
import type { RunRecord, StepEvent } from '../../core/types.js';
import type { Logger } from '../../core/action.js';
import { errorInfo } from '../../core/errors.js';
import { endStatus, eventTone, eventWord, statusTone, summarizeOutput, type Tone } from '../../core/step-summary.js';
import { runPageUrl } from '../../core/report.js';
import type { MessageHandle, SlackChat } from '../../adapters/slack/chat.js';
import { escapeMrkdwn, runNoticeBlocks, runNoticeText } from '../../adapters/slack/blocks.js';
import { runLinks } from '../dashboard.js';

export interface RunNoticesOptions {
  chat: SlackChat;
  channel: string;
  redis: Redis;
  prefix: string;
  logger: Logger;
  /** Base of the dashboard links (the service's public URL or the dashboard's). */
  dashboardUrl?: string;
  getRun(id: string): Promise<RunRecord | null>;
}

const TTL_S = 60 * 60 * 24 * 30;
const TERMINAL = new Set(['succeeded', 'failed', 'escalated', 'cancelled', 'refused']);
const EMOJI: Record<Tone, string> = { good: ':white_check_mark:', bad: ':x:', warn: ':warning:', neutral: ':large_blue_circle:' };

function statusEmoji(status: string): string {
  if (status === 'running' || status === 'queued') return ':arrows_counterclockwise:';
  if (status === 'waiting_approval' || status === 'waiting_lock') return ':double_vertical_bar:';
  return EMOJI[statusTone(status)];
}

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
      return `${ev.kind === 'approved' ? EMOJI.good : EMOJI.bad} ${step} ${ev.kind}${choice ? ` (option ${escapeMrkdwn(choice)})` : ''}${ev.actor ? ` by ${ev.actor.startsWith('slack:') ? `<@${escapeMrkdwn(ev.actor.slice(6))}>` : escapeMrkdwn(ev.actor)}` : ''}`;
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

export class RunNotices {
  private readonly inflight = new Set<Promise<void>>();
  /** Per run, the chain of its notices in this process (thread order = event order). */
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly o: RunNoticesOptions) {}

  private key(runId: string, what: string): string {
    return `${this.o.prefix}:slack:notice:${runId}:${what}`;
  }

  /** Feed every store event here (engine.store.subscribe). */
  onEvent(ev: StepEvent): void {
    const created = ev.kind === 'run' && /^run created/.test(ev.message ?? '');
    if (!created && !milestoneLine(ev)) return;
    const prev = this.chains.get(ev.runId) ?? Promise.resolve();
    const next = prev.then(() => this.handle(ev, created)).catch((e) => this.o.logger.warn({ runId: ev.runId, err: errorInfo(e) }, 'Slack run notice failed'));
    this.chains.set(ev.runId, next);
    const tracked = next.finally(() => {
      this.inflight.delete(tracked);
      if (this.chains.get(ev.runId) === next) this.chains.delete(ev.runId);
    });
    this.inflight.add(tracked);
  }

  private async handle(ev: StepEvent, created: boolean): Promise<void> {
    if (ev.id && !(await this.o.redis.set(this.key(ev.runId, `ev:${ev.id}`), '1', 'EX', TTL_S, 'NX'))) return; // another process has it
    const run = await this.o.getRun(ev.runId);
    if (!run) return;
    const handle = await this.message(run);
    if (!handle) return;
    if (!created) {
      const line = milestoneLine(ev);
      if (line) await this.o.chat.postMessage(this.o.channel, line, undefined, handle);
    }
    await this.o.chat.updateMessage(handle, runNoticeText(this.view(run)), runNoticeBlocks(this.view(run)));
  }

  /** The run's message: posted once (a claim in Redis), its handle remembered for the updates. */
  private async message(run: RunRecord): Promise<MessageHandle | null> {
    const k = this.key(run.id, 'msg');
    for (let i = 0; i < 50; i++) {
      const raw = await this.o.redis.get(k);
      if (raw) return JSON.parse(raw) as MessageHandle;
      if (await this.o.redis.set(`${k}:claim`, '1', 'PX', 30_000, 'NX')) {
        try {
          const v = this.view(run);
          const h = await this.o.chat.postMessage(this.o.channel, runNoticeText(v), runNoticeBlocks(v));
          await this.o.redis.set(k, JSON.stringify(h), 'EX', TTL_S);
          return h;
        } finally {
          await this.o.redis.del(`${k}:claim`);
        }
      }
      await new Promise((r) => setTimeout(r, 100)); // another process is posting it
    }
    return null;
  }

  private view(run: RunRecord) {
    return {
      runId: run.id,
      runbookId: run.runbookId,
      target: run.target.name,
      status: run.status,
      emoji: statusEmoji(run.status),
      dryRun: run.dryRun,
      currentStep: (TERMINAL.has(run.status) ? Object.entries(run.steps).find(([, st]) => endStatus(st))?.[0] : undefined) ?? run.currentStep,
      ended: TERMINAL.has(run.status),
      outcome: TERMINAL.has(run.status) ? run.outcome?.trim() : undefined,
      alertText: run.alert.text,
      links: runLinks(run).filter((l) => l.kind !== 'logs'),
      dashboardUrl: runPageUrl(this.o.dashboardUrl, run.id),
    };
  }

  /** Resolves when no notice is in flight (tests await this). */
  async idle(): Promise<void> {
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
  }
}
