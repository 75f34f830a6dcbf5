import { z } from 'zod';
import { defineAction } from '../../core/action.js';

// Reading an alert (or CI log, or a verification's output) for the four ways `alembic revision --autogenerate`
// fails. Alert text is attacker-controlled: it is only searched with fixed strings and these few fixed,
// linear patterns written here, never used as a pattern, a path or a command.

export type Cause = 'db_unavailable' | 'reserved_attr' | 'async_driver' | 'missing_imports';
/** The order a fix has to go in: nothing can be verified without a database; the reserved attribute stops the
 * models importing before env.py's engine is even built; the engine must connect before autogenerate compares. */
const ORDER: Cause[] = ['db_unavailable', 'reserved_attr', 'async_driver', 'missing_imports'];
/** What SQLAlchemy really reserves on declarative classes (registry on 2.x); `id` and others are not. */
const RESERVED = new Set(['metadata', 'registry']);
const MAX_TEXT = 200_000;

interface Hit {
  cause: Cause;
  signal: string;
  evidence: string;
}

const SIGNALS: { cause: Cause; needle: string; signal: string }[] = [
  { cause: 'async_driver', needle: 'the asyncio extension requires an async driver', signal: 'async engine given a sync driver' },
  { cause: 'async_driver', needle: "greenlet_spawn has not been called; can't call await_only() here", signal: 'sync engine given an async driver (MissingGreenlet)' },
  { cause: 'async_driver', needle: 'missinggreenlet', signal: 'sync engine given an async driver (MissingGreenlet)' },
  { cause: 'missing_imports', needle: 'detected removed table', signal: 'autogenerate would drop a table the models no longer declare' },
  { cause: 'missing_imports', needle: "'remove_table'", signal: 'alembic check: a table would be removed' },
  { cause: 'missing_imports', needle: 'with which to generate a foreign key to target column', signal: 'a foreign key names a table whose model was never imported' },
  { cause: 'missing_imports', needle: 'model tables missing from target_metadata', signal: 'model tables absent from target_metadata' },
  { cause: 'db_unavailable', needle: 'connection refused', signal: 'connection refused' },
  { cause: 'db_unavailable', needle: 'connect call failed', signal: 'connection refused (asyncpg)' },
  { cause: 'db_unavailable', needle: 'connection failed: connection to server at', signal: 'connection failed (psycopg 3)' },
  { cause: 'db_unavailable', needle: 'failed: connection refused', signal: 'connection refused (libpq: psycopg2 / psycopg 3)' },
  { cause: 'db_unavailable', needle: 'cannotconnectnowerror', signal: 'database starting up (asyncpg)' },
  { cause: 'db_unavailable', needle: 'could not connect to server', signal: 'could not connect to server' },
  { cause: 'db_unavailable', needle: 'is the server running on that host', signal: 'server not running' },
  { cause: 'db_unavailable', needle: 'the database system is starting up', signal: 'database starting up' },
  { cause: 'db_unavailable', needle: 'the database system is shutting down', signal: 'database shutting down' },
  { cause: 'db_unavailable', needle: 'server closed the connection unexpectedly', signal: 'server closed the connection' },
  { cause: 'db_unavailable', needle: 'timeout expired', signal: 'connection timed out' },
  { cause: 'db_unavailable', needle: 'could not translate host name', signal: 'database host name does not resolve' },
];

// Fixed patterns with bounded repetition (linear on any input).
const RESERVED_RE = /Attribute name '([A-Za-z_][A-Za-z0-9_]{0,60})' (is reserved|should be left reserved)/g;
const LOADED_DRIVER_RE = /The loaded '([A-Za-z0-9_]{1,40})' is not async/;
const NO_MODULE_RE = /No module named '(psycopg2|psycopg|asyncpg|aiopg|greenlet)'/;

function evidence(text: string, at: number, len: number): string {
  const s = Math.max(0, at - 60);
  return text.slice(s, Math.min(text.length, at + len + 100)).replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, ' ').trim();
}

export function classifyText(input: string): {
  causes: Cause[];
  alembicFailure: boolean;
  mentions: string[];
  primary: Cause | 'unknown';
  reservedAttributes: string[];
  notReserved: string[];
  driver: string | null;
  missingModule: string | null;
  hits: Hit[];
} {
  const text = input.length > MAX_TEXT ? input.slice(0, MAX_TEXT) : input;
  const lower = text.toLowerCase();
  const hits: Hit[] = [];
  const reserved = new Set<string>();
  const notReserved = new Set<string>();
  for (const m of text.matchAll(RESERVED_RE)) {
    const name = m[1]!;
    if (RESERVED.has(name)) {
      reserved.add(name);
      if (!hits.some((h) => h.cause === 'reserved_attr' && h.signal.includes(`'${name}'`)))
        hits.push({ cause: 'reserved_attr', signal: `attribute '${name}' ${m[2] === 'is reserved' ? 'is reserved (SQLAlchemy 1.4/2.0 raise)' : 'should be left reserved (SQLAlchemy 2.1 warns)'}`, evidence: evidence(text, m.index!, m[0].length) });
    } else notReserved.add(name); // SQLAlchemy never says this about other names: not a cause
  }
  for (const s of SIGNALS) {
    const at = lower.indexOf(s.needle);
    if (at >= 0 && !hits.some((h) => h.cause === s.cause && h.signal === s.signal)) hits.push({ cause: s.cause, signal: s.signal, evidence: evidence(text, at, s.needle.length) });
  }
  const driver = LOADED_DRIVER_RE.exec(text)?.[1] ?? null;
  const noModule = NO_MODULE_RE.exec(text);
  if (noModule) {
    // e.g. SQLAlchemy 2.1 reads a bare postgresql:// as psycopg (v3) for an async engine: a driver mismatch too.
    hits.push({ cause: 'async_driver', signal: `driver module '${noModule[1]}' is not installed`, evidence: evidence(text, noModule.index, noModule[0].length) });
  }
  const causes = ORDER.filter((c) => hits.some((h) => h.cause === c));
  // Does the text speak of Alembic / SQLAlchemy / a PostgreSQL driver at all? A bare "connection refused" from some
  // other client (Redis, an HTTP API) is not an Alembic failure.
  const specific = causes.some((c) => c !== 'db_unavailable');
  const about = ['alembic', 'sqlalchemy', 'psycopg', 'asyncpg', 'postgres'].filter((w) => lower.includes(w));
  return {
    causes,
    alembicFailure: specific || about.length > 0,
    mentions: about,
    primary: causes[0] ?? 'unknown',
    reservedAttributes: [...reserved].sort(),
    notReserved: [...notReserved].sort(),
    driver,
    missingModule: noModule?.[1] ?? null,
    hits,
  };
}

/** Which of the alembic autogenerate failures the text shows (several at once when it shows several). */
export default defineAction({
  name: 'alembic.classify',
  description: 'Classify an alembic autogenerate failure from alert/CI text: reserved attribute, async/sync driver, missing model imports, database unavailable',
  sideEffects: false,
  params: z.object({ text: z.string().default(''), more: z.string().optional() }),
  async run(p) {
    const r = classifyText(p.more ? `${p.text}\n${p.more}` : p.text);
    return {
      ...r,
      has: Object.fromEntries(ORDER.map((c) => [c, r.causes.includes(c)])),
      hits: r.hits.map((h) => ({ ...h, evidence: h.evidence.slice(0, 300) })),
    };
  },
});
