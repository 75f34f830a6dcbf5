// Server-sent events: live StepEvents for one run (history first, from Last-Event-ID) or for all runs.
// Subscribes before reading history so nothing falls between the two; ids are Redis stream ids.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Engine } from '../engine/engine.js';
import type { StepEvent } from '../core/types.js';
import { errorInfo } from '../core/errors.js';

function idParts(id: string): [bigint, bigint] {
  const [a, b] = id.split('-');
  return [BigInt(a ?? '0'), BigInt(b ?? '0')];
}

/** Compare Redis stream ids ("ms-seq"). */
export function compareStreamIds(a: string, b: string): number {
  const [a1, a2] = idParts(a);
  const [b1, b2] = idParts(b);
  if (a1 !== b1) return a1 < b1 ? -1 : 1;
  if (a2 !== b2) return a2 < b2 ? -1 : 1;
  return 0;
}

const STREAM_ID = /^\d{1,20}-\d{1,20}$/;

export class EventStreams {
  private readonly open = new Set<() => void>();
  constructor(private readonly engine: Engine, private readonly heartbeatMs = 15_000) {}

  get size(): number {
    return this.open.size;
  }

  /** End every stream (graceful shutdown: lets the HTTP server close). */
  closeAll(): void {
    for (const end of [...this.open]) end();
  }

  async serve(req: FastifyRequest, reply: FastifyReply, opts: { runId?: string; after?: string }): Promise<void> {
    const after = opts.after && STREAM_ID.test(opts.after) ? opts.after : undefined;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // The stream is the connection's only response: when it ends, the socket goes too (no idle keep-alive
      // socket holding a shutting-down server open).
      connection: 'close',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 3000\n: connected\n\n');
    let live = false;
    let lastId = after;
    const pending: StepEvent[] = [];
    const send = (ev: StepEvent) => {
      if (ev.id && lastId && compareStreamIds(ev.id, lastId) <= 0) return;
      if (ev.id) lastId = ev.id;
      res.write(`${ev.id ? `id: ${ev.id}\n` : ''}data: ${JSON.stringify(ev)}\n\n`);
    };
    let off: (() => Promise<void>) | undefined;
    let timer: NodeJS.Timeout | undefined;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      this.open.delete(end);
      clearInterval(timer);
      void off?.();
      if (!res.writableEnded) res.end();
      req.log.info({ runId: opts.runId, stream: opts.runId ? 'run' : 'all' }, 'event stream closed');
    };
    this.open.add(end);
    req.raw.on('close', end);
    try {
      off = await this.engine.store.subscribe((ev) => (live ? send(ev) : pending.push(ev)), opts.runId ? { runId: opts.runId } : {});
      if (ended) {
        await off(); // the client left while we subscribed
        return;
      }
      if (opts.runId) {
        const run = await this.engine.store.get(opts.runId);
        if (run) res.write(`event: run\ndata: ${JSON.stringify({ id: run.id, status: run.status, currentStep: run.currentStep ?? null, runbookId: run.runbookId, updatedAt: run.updatedAt })}\n\n`);
        for (const ev of await this.engine.store.events(opts.runId, { after })) send(ev);
      }
      for (const ev of pending) send(ev);
      pending.length = 0;
      live = true;
      timer = setInterval(() => res.write(': ping\n\n'), this.heartbeatMs);
      timer.unref();
      req.log.info({ runId: opts.runId, stream: opts.runId ? 'run' : 'all' }, 'event stream opened');
    } catch (e) {
      req.log.warn({ runId: opts.runId, err: errorInfo(e) }, 'event stream failed');
      end();
    }
  }
}
