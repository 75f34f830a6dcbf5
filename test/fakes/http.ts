// A loopback HTTP server speaking Google's REST JSON conventions, shared by the fake Cloud Build, Cloud Run Admin v2
// and Cloud Logging servers: routes by method + path pattern, records every request for assertions, injects
// failures on demand, and answers errors in the google.rpc.Status JSON shape ({error: {code, message, status}}).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: any;
  headers: http.IncomingHttpHeaders;
}

export interface Reply {
  status?: number;
  body: unknown;
}

export type Route = { method: string; pattern: RegExp; handle: (req: RecordedRequest, m: RegExpMatchArray) => Reply | Promise<Reply> };

const HTTP_FOR: Record<string, number> = { INVALID_ARGUMENT: 400, FAILED_PRECONDITION: 400, UNAUTHENTICATED: 401, PERMISSION_DENIED: 403, NOT_FOUND: 404, ABORTED: 409, ALREADY_EXISTS: 409, RESOURCE_EXHAUSTED: 429, INTERNAL: 500, UNAVAILABLE: 503, DEADLINE_EXCEEDED: 504 };

export function rpcError(status: keyof typeof HTTP_FOR | string, message: string): Reply {
  const code = HTTP_FOR[status] ?? 500;
  return { status: code, body: { error: { code, message, status } } };
}

/** The clients ask for `$alt=json;enum-encoding=int`: enums then travel as numbers, as the real APIs send them. */
export function wantsIntEnums(req: RecordedRequest): boolean {
  return (req.query['$alt'] ?? '').includes('enum-encoding=int');
}

export class FakeGoogleServer {
  readonly requests: RecordedRequest[] = [];
  private readonly faults: { match: (r: RecordedRequest) => boolean; reply: Reply; times: number }[] = [];
  private server?: http.Server;
  port = 0;

  constructor(protected readonly routes: Route[] = []) {}

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.onRequest(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
    this.server = undefined;
  }

  /** The next `times` requests matching `match` get `reply` instead of the normal answer. */
  fail(match: (r: RecordedRequest) => boolean, reply: Reply, times = 1): void {
    this.faults.push({ match, reply, times });
  }

  /** Recorded requests, `$alt` and other transport noise left in `query`. */
  calls(method: string, pathPrefix: string | RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && (typeof pathPrefix === 'string' ? r.path.startsWith(pathPrefix) : pathPrefix.test(r.path)));
  }

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let raw = '';
    req.setEncoding('utf8');
    for await (const c of req) raw += c;
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path: decodeURIComponent(url.pathname),
      query: Object.fromEntries(url.searchParams.entries()),
      body: raw ? safeJson(raw) : undefined,
      headers: req.headers,
    };
    this.requests.push(rec);
    let reply: Reply;
    const fault = this.faults.find((f) => f.times > 0 && f.match(rec));
    if (fault) {
      fault.times--;
      reply = fault.reply;
    } else {
      const route = this.routes.map((r) => ({ r, m: r.method === rec.method ? rec.path.match(r.pattern) : null })).find((x) => x.m);
      try {
        reply = route ? await route.r.handle(rec, route.m!) : rpcError('NOT_FOUND', `no route for ${rec.method} ${rec.path}`);
      } catch (e) {
        reply = rpcError('INTERNAL', (e as Error).message);
      }
    }
    res.statusCode = reply.status ?? 200;
    res.setHeader('content-type', 'application/json; charset=UTF-8');
    res.end(JSON.stringify(reply.body ?? {}));
  }
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

export function nowIso(): string {
  return new Date().toISOString();
}
