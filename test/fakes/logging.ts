// Fake Cloud Logging v2 (REST): entries.list with the query language's subset runwright and the client use —
// comparisons (=, !=, >=, <=, >, <, :) on resource.type, resource.labels.*, labels."…", severity, timestamp,
// logName, textPayload, jsonPayload.*; bare quoted strings as global text search (case-insensitive, any field);
// AND (explicit or by juxtaposition), OR, NOT and parentheses. Anything else is INVALID_ARGUMENT, as the real API
// answers a bad filter. orderBy "timestamp asc|desc", pageSize and pageToken paging.
import { randomBytes } from 'node:crypto';
import { FakeGoogleServer, rpcError, wantsIntEnums, type RecordedRequest, type Reply } from './http.js';

const SEVERITY: Record<string, number> = { DEFAULT: 0, DEBUG: 100, INFO: 200, NOTICE: 300, WARNING: 400, ERROR: 500, CRITICAL: 600, ALERT: 700, EMERGENCY: 800 };

export interface FakeLogEntry {
  logName: string;
  resource: { type: string; labels: Record<string, string> };
  timestamp: string;
  receiveTimestamp?: string;
  severity: string;
  insertId?: string;
  labels?: Record<string, string>;
  textPayload?: string;
  jsonPayload?: Record<string, unknown>;
}

export class FakeCloudLogging extends FakeGoogleServer {
  readonly entries: FakeLogEntry[] = [];
  /** The server may return fewer entries than pageSize, with a nextPageToken (the real API caps pages too). */
  maxPageSize = 1000;

  constructor() {
    super();
    this.routes.push({ method: 'POST', pattern: /^\/v2\/entries:list$/, handle: (r) => this.list(r) });
  }

  add(e: FakeLogEntry): void {
    this.entries.push({ insertId: randomBytes(8).toString('hex'), receiveTimestamp: e.timestamp, ...e });
  }

  /** A line a Cloud Run job execution wrote. */
  addJobLine(opts: { project: string; job: string; region: string; execution: string; text: string; severity?: string; at?: Date; stream?: 'stdout' | 'stderr' }): void {
    const stream = opts.stream ?? (opts.severity === 'ERROR' ? 'stderr' : 'stdout');
    this.add({
      logName: `projects/${opts.project}/logs/run.googleapis.com%2F${stream}`,
      resource: { type: 'cloud_run_job', labels: { job_name: opts.job, location: opts.region, project_id: opts.project } },
      timestamp: (opts.at ?? new Date()).toISOString(),
      severity: opts.severity ?? 'DEFAULT',
      labels: { 'run.googleapis.com/execution_name': opts.execution, 'run.googleapis.com/task_index': '0', 'run.googleapis.com/task_attempt': '0' },
      textPayload: opts.text,
    });
  }

  private list(r: RecordedRequest): Reply {
    const b = r.body ?? {};
    if (!Array.isArray(b.resourceNames) || b.resourceNames.length === 0) return rpcError('INVALID_ARGUMENT', 'resource_names: at least one resource name is required');
    let pred: (e: FakeLogEntry) => boolean;
    try {
      pred = b.filter ? compileFilter(String(b.filter)) : () => true;
    } catch (e) {
      return rpcError('INVALID_ARGUMENT', `Unparseable filter: ${(e as Error).message}`);
    }
    const projects = new Set((b.resourceNames as string[]).map((n) => n.replace(/^projects\//, '')));
    let list = this.entries.filter((e) => projects.has(e.logName.split('/')[1]!) && pred(e));
    const order = String(b.orderBy ?? 'timestamp asc').trim();
    if (order !== 'timestamp asc' && order !== 'timestamp desc') return rpcError('INVALID_ARGUMENT', `orderBy: unsupported ${order}`);
    list = list.sort((x, y) => Date.parse(x.timestamp) - Date.parse(y.timestamp));
    if (order === 'timestamp desc') list.reverse();
    const size = Math.min(Number(b.pageSize) > 0 ? Number(b.pageSize) : 50, this.maxPageSize);
    const start = b.pageToken ? Number(Buffer.from(String(b.pageToken), 'base64url').toString()) : 0;
    const page = list.slice(start, start + size);
    const more = start + size < list.length;
    const ints = wantsIntEnums(r);
    return { body: { entries: page.map((e) => (ints ? { ...e, severity: SEVERITY[e.severity] ?? 0 } : e)), ...(more ? { nextPageToken: Buffer.from(String(start + size)).toString('base64url') } : {}) } };
  }
}

// ---- a small parser for the filter language subset ----

type Tok = { t: 'str' | 'word' | 'op' | '(' | ')'; v: string };

function tokenize(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '(' || c === ')') { out.push({ t: c, v: c }); i++; continue; }
    if (c === '"') {
      let v = '';
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\') {
          const n = s[i + 1];
          v += n === 'n' ? '\n' : n === 'r' ? '\r' : n;
          i += 2;
        } else v += s[i++];
      }
      if (s[i] !== '"') throw new Error('unterminated string');
      i++;
      out.push({ t: 'str', v });
      continue;
    }
    const op = /^(>=|<=|!=|=|>|<|:)/.exec(s.slice(i));
    if (op) { out.push({ t: 'op', v: op[1]! }); i += op[1]!.length; continue; }
    const w = /^[A-Za-z_][A-Za-z0-9_.\-]*/.exec(s.slice(i));
    if (!w) throw new Error(`unexpected ${JSON.stringify(c)} at ${i}`);
    out.push({ t: 'word', v: w[0] });
    i += w[0].length;
  }
  return out;
}

type Pred = (e: FakeLogEntry) => boolean;

export function compileFilter(src: string): Pred {
  const toks = tokenize(src);
  let p = 0;
  const peek = () => toks[p];
  const orExpr = (): Pred => {
    const parts = [andExpr()];
    while (peek()?.t === 'word' && peek()!.v === 'OR') { p++; parts.push(andExpr()); }
    return parts.length === 1 ? parts[0]! : (e) => parts.some((f) => f(e));
  };
  const andExpr = (): Pred => {
    const parts = [unary()];
    for (;;) {
      const t = peek();
      if (!t || t.t === ')' || (t.t === 'word' && t.v === 'OR')) break;
      if (t.t === 'word' && t.v === 'AND') p++;
      parts.push(unary());
    }
    return (e) => parts.every((f) => f(e));
  };
  const unary = (): Pred => {
    const t = toks[p++];
    if (!t) throw new Error('unexpected end of filter');
    if (t.t === 'word' && t.v === 'NOT') { const f = unary(); return (e) => !f(e); }
    if (t.t === '(') { const f = orExpr(); if (toks[p++]?.t !== ')') throw new Error('missing )'); return f; }
    if (t.t === 'str' && peek()?.t !== 'op') { const needle = t.v.toLowerCase(); return (e) => strings(e).some((x) => x.toLowerCase().includes(needle)); }
    // a field path: word segments and quoted segments joined by dots (labels."run.googleapis.com/execution_name")
    const path: string[] = [];
    let seg: Tok | undefined = t;
    for (;;) {
      if (seg.t === 'word') path.push(...seg.v.split('.').filter(Boolean));
      else if (seg.t === 'str') path.push(seg.v);
      else throw new Error(`unexpected ${seg.v}`);
      if (seg.t === 'word' && seg.v.endsWith('.') && peek()?.t === 'str') { seg = toks[p++]!; continue; }
      break;
    }
    const op = toks[p++];
    if (op?.t !== 'op') throw new Error(`expected a comparison after ${path.join('.')}`);
    const val = toks[p++];
    if (!val || (val.t !== 'str' && val.t !== 'word')) throw new Error(`expected a value after ${op.v}`);
    return comparison(path, op.v, val.v);
  };
  const f = orExpr();
  if (p !== toks.length) throw new Error(`unexpected ${toks[p]!.v}`);
  return f;
}

/** Every string value in an entry (global text search looks at all fields). */
function strings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(strings);
  if (v && typeof v === 'object') return Object.values(v).flatMap(strings);
  return [];
}

function comparison(path: string[], op: string, value: string): Pred {
  const field = path.join('.');
  if (!/^(resource\.type|resource\.labels\..+|labels\..+|severity|timestamp|logName|textPayload|jsonPayload\..+|insertId)$/.test(field)) throw new Error(`unknown field ${field}`);
  return (e) => {
    let got: unknown = e as unknown;
    for (const k of path) got = got && typeof got === 'object' ? (got as Record<string, unknown>)[k] : undefined;
    if (got === undefined) return op === '!=';
    if (field === 'severity') return cmp(SEVERITY[String(got)] ?? 0, SEVERITY[value.toUpperCase()] ?? NaN, op);
    if (field === 'timestamp') return cmp(Date.parse(String(got)), Date.parse(value), op);
    if (op === ':') return String(got).toLowerCase().includes(value.toLowerCase());
    return cmp(String(got), value, op);
  };
}

function cmp<T extends number | string>(a: T, b: T, op: string): boolean {
  switch (op) {
    case '=': return a === b;
    case '!=': return a !== b;
    case '>=': return a >= b;
    case '<=': return a <= b;
    case '>': return a > b;
    case '<': return a < b;
    default: throw new Error(`operator ${op} not supported for this field`);
  }
}
