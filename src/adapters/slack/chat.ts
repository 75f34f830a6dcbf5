// ChatPort on Slack's Web API (@slack/web-api WebClient): approval messages with Block Kit, updated in place
// once decided. postApproval is re-run safe by key: the message handle (channel, ts) is remembered in Redis
// and a short claim stops two processes posting the same approval twice.
import { Redis } from 'ioredis';
import { LogLevel, WebClient } from '@slack/web-api';
import type { ApprovalRequest, ChatPort } from '../../ports/index.js';
import { approvalBlocks, decidedBlocks, fallbackText } from './blocks.js';

export interface SlackChatOptions {
  token: string;
  channel: string;
  /** Web API base URL; default https://slack.com/api/ */
  apiUrl?: string;
  /** Redis for message handles (else one is opened lazily from redisUrl and closed by close()). */
  redis?: Redis;
  redisUrl?: string;
  prefix: string;
  /** Per-request timeout in ms (default 10 s). */
  timeoutMs?: number;
}

export interface MessageHandle {
  channel: string;
  ts: string;
}

const HANDLE_TTL_S = 60 * 60 * 24 * 30;

export class SlackChat implements ChatPort {
  readonly client: WebClient;
  private redisConn?: Redis;
  private readonly ownsRedis: boolean;
  private groupCache = new Map<string, { users: Set<string>; until: number }>();

  constructor(private readonly opts: SlackChatOptions) {
    this.client = new WebClient(opts.token, {
      slackApiUrl: opts.apiUrl,
      // Retries are the caller's business (the approval notifier backs off itself); never hang a request.
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      timeout: opts.timeoutMs ?? 10_000,
      logLevel: LogLevel.ERROR,
      allowAbsoluteUrls: false,
    });
    this.redisConn = opts.redis;
    this.ownsRedis = !opts.redis;
  }

  private get redis(): Redis {
    if (!this.redisConn) {
      if (!this.opts.redisUrl) throw new Error('SlackChat needs redis or redisUrl');
      this.redisConn = new Redis(this.opts.redisUrl, { maxRetriesPerRequest: 3, lazyConnect: false });
    }
    return this.redisConn;
  }

  private handleKey(key: string): string {
    return `${this.opts.prefix}:slack:msg:${key}`;
  }

  /** The message posted for `key`, if any. */
  async handleFor(key: string): Promise<MessageHandle | null> {
    const v = await this.redis.get(this.handleKey(key));
    return v ? (JSON.parse(v) as MessageHandle) : null;
  }

  /** Is the approval message of `key` being posted right now (another call holds the claim)? */
  async posting(key: string): Promise<boolean> {
    return (await this.redis.exists(`${this.handleKey(key)}:claim`)) === 1;
  }

  /**
   * Posts the approval message once per key. Returns the existing handle when already posted, null when another
   * process holds the claim right now. Throws when Slack fails (the caller retries with backoff).
   */
  async postApproval(req: ApprovalRequest, key: string): Promise<MessageHandle | null> {
    const hk = this.handleKey(key);
    const existing = await this.handleFor(key);
    if (existing) return existing;
    const claimed = await this.redis.set(`${hk}:claim`, '1', 'PX', 60_000, 'NX');
    if (!claimed) return this.handleFor(key);
    try {
      const res = await this.client.chat.postMessage({
        channel: this.opts.channel,
        text: fallbackText(req),
        blocks: approvalBlocks(req, key),
        unfurl_links: false,
        unfurl_media: false,
      });
      const handle = { channel: String(res.channel), ts: String(res.ts) };
      await this.redis.set(hk, JSON.stringify(handle), 'EX', HANDLE_TTL_S);
      return handle;
    } finally {
      await this.redis.del(`${hk}:claim`).catch(() => undefined);
    }
  }

  /** Replace the buttons with who decided and when (`text` is trusted mrkdwn built by runwright). */
  async updateApproval(handle: MessageHandle, text: string, req: ApprovalRequest): Promise<void> {
    await this.client.chat.update({ channel: handle.channel, ts: handle.ts, text: `${fallbackText(req)} — ${text}`.slice(0, 3000), blocks: decidedBlocks(req, text) });
  }

  /** A plain message (run notices): in `channel`, or as a reply in the thread of `thread`. Throws when Slack fails. */
  async postMessage(channel: string, text: string, blocks?: unknown[], thread?: MessageHandle): Promise<MessageHandle> {
    const res = await this.client.chat.postMessage({ channel: thread?.channel ?? channel, text: text.slice(0, 3000), ...(blocks ? { blocks: blocks as never } : {}), ...(thread ? { thread_ts: thread.ts } : {}), unfurl_links: false, unfurl_media: false });
    return { channel: String(res.channel), ts: String(res.ts) };
  }

  /** Replace a message's text and blocks in place. */
  async updateMessage(handle: MessageHandle, text: string, blocks: unknown[]): Promise<void> {
    await this.client.chat.update({ channel: handle.channel, ts: handle.ts, text: text.slice(0, 3000), blocks: blocks as never });
  }

  /** A message only `user` sees (answers to clicks that change nothing). */
  async postEphemeral(channel: string, user: string, text: string): Promise<void> {
    await this.client.chat.postEphemeral({ channel, user, text });
  }

  /** Is `user` a member of the Slack user group `group`? Cached for a minute. */
  async userInGroup(user: string, group: string): Promise<boolean> {
    const now = Date.now();
    let entry = this.groupCache.get(group);
    if (!entry || entry.until < now) {
      const res = await this.client.usergroups.users.list({ usergroup: group });
      entry = { users: new Set((res.users as string[] | undefined) ?? []), until: now + 60_000 };
      this.groupCache.set(group, entry);
    }
    return entry.users.has(user);
  }

  async close(): Promise<void> {
    if (this.ownsRedis && this.redisConn) {
      await this.redisConn.quit().catch(() => this.redisConn?.disconnect());
      this.redisConn = undefined;
    }
  }
}
