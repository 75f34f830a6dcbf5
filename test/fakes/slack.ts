// A loopback fake of the Slack Web API (POST /api/<method>), for @slack/web-api's WebClient via slackApiUrl.
// Records every request exactly as it arrived (method path, Authorization header, decoded form fields with
// JSON-valued fields such as `blocks` parsed) and answers like Slack does ({ok: true, ...} with HTTP 200).
import http from 'node:http';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';

export interface SlackCall {
  method: string; // e.g. chat.postMessage
  path: string; // e.g. /api/chat.postMessage
  authorization?: string;
  contentType?: string;
  body: Record<string, any>;
  /** What the fake answered (e.g. the ts of a posted message). */
  response?: Record<string, any>;
}

export class FakeSlack {
  readonly calls: SlackCall[] = [];
  /** 'ok': answer normally; 'http500': HTTP 500; 'error': {ok:false,error:'channel_not_found'}. Per method or '*'. */
  mode = new Map<string, 'ok' | 'http500' | 'error'>();
  /** usergroups.users.list answers: group id -> user ids. */
  groups = new Map<string, string[]>();
  private server?: http.Server;
  private events = new EventEmitter();
  private tsCounter = 1000;
  url = '';

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}/api/`;
    return this;
  }

  callsTo(method: string): SlackCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Resolves with the first recorded call (past or future) matching `pred`. */
  waitFor(pred: (c: SlackCall) => boolean, timeoutMs = 10_000): Promise<SlackCall> {
    const found = this.calls.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.events.off('call', on);
        reject(new Error(`fake Slack: no matching call within ${timeoutMs} ms; got ${this.calls.map((c) => c.method).join(', ') || 'none'}`));
      }, timeoutMs);
      const on = (c: SlackCall) => {
        if (!pred(c)) return;
        clearTimeout(t);
        this.events.off('call', on);
        resolve(c);
      };
      this.events.on('call', on);
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const path = (req.url ?? '').split('?')[0]!;
      const method = path.replace(/^\/api\//, '');
      const body: Record<string, any> = {};
      const ct = String(req.headers['content-type'] ?? '');
      if (ct.includes('application/json')) Object.assign(body, raw ? JSON.parse(raw) : {});
      else {
        for (const [k, v] of new URLSearchParams(raw)) {
          body[k] = v.startsWith('[') || v.startsWith('{') ? safeJson(v) : v; // WebClient JSON-encodes blocks etc.
        }
      }
      const call: SlackCall = { method, path, authorization: req.headers.authorization, contentType: ct, body };
      const mode = this.mode.get(method) ?? this.mode.get('*') ?? 'ok';
      if (mode === 'http500') {
        this.record(call);
        res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error');
        return;
      }
      if (mode === 'error') {
        this.record(call);
        this.json(res, { ok: false, error: 'channel_not_found' });
        return;
      }
      call.response = this.answer(method, body);
      this.record(call);
      this.json(res, call.response);
    });
  }

  private record(c: SlackCall) {
    this.calls.push(c);
    this.events.emit('call', c);
  }

  private answer(method: string, body: Record<string, any>): Record<string, any> {
    switch (method) {
      case 'chat.postMessage': {
        const ts = `1700000000.${String(this.tsCounter++).padStart(6, '0')}`;
        return { ok: true, channel: body.channel, ts, message: { text: body.text, ts, blocks: body.blocks } };
      }
      case 'chat.update':
        return { ok: true, channel: body.channel, ts: body.ts, text: body.text };
      case 'chat.postEphemeral':
        return { ok: true, message_ts: `1700000001.${String(this.tsCounter++).padStart(6, '0')}` };
      case 'usergroups.users.list':
        return { ok: true, users: this.groups.get(body.usergroup) ?? [] };
      case 'auth.test':
        return { ok: true, user_id: 'UBOT', team_id: 'T1' };
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  private json(res: http.ServerResponse, v: unknown) {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(v));
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
    this.server = undefined;
  }
}

function safeJson(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}
