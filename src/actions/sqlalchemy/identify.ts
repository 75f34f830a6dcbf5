import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import type { Json } from '../../core/types.js';
import { readSqlalchemyError, type ErrorReading } from './lib/error-text.js';

/** Words that say the text is about SQLAlchemy models at all (the runbook was chosen for a reason). */
const SQLALCHEMY_WORDS = /sqlalchemy|\bmappers?\b|configure_mappers|relationship|back_populates|foreign_keys|join condition|declarative|failed to locate a name/i;
/** The same, without the bare library name: words only a model/mapper problem uses. */
const MODEL_WORDS = /\bmappers?\b|\bmapped\b|configure_mappers|relationship|back_populates|backref|foreign_keys|remote_side|primaryjoin|secondary|join condition|declarative|declared_attr|registry|failed to locate a name/i;
/**
 * Errors SQLAlchemy raises while talking to the database or using a session (connection refused, a constraint,
 * bad SQL, a pool timeout, a detached object): an alert that names one of these and no model word is another
 * incident, not a mapper failure, even when the repo has a mapper problem of its own.
 */
const RUNTIME_ERRORS = /\b(?:OperationalError|IntegrityError|ProgrammingError|DataError|InterfaceError|DatabaseError|InternalError|NotSupportedError|DBAPIError|DisconnectionError|PendingRollbackError|NoResultFound|MultipleResultsFound|StaleDataError|DetachedInstanceError|ObjectDeletedError|ResourceClosedError|UniqueViolation|ForeignKeyViolation|QueuePool limit)\b/;

/** Where SQLAlchemy's messages put names (mapper, expression, located name, property); contents are only tested, never used. */
const NAME_SLOTS: RegExp[] = [
  /Triggering mapper:\s*'([^']{0,300})'/g,
  /When initializing mapper\s+([^,]{0,300}),/g,
  /expression\s+'([^']{0,400})'\s+failed/g,
  /failed to locate a name\s+\((?:'([^']{0,300})'|"([^"]{0,300})")\)/g,
  /Mapper\s+'([^']{0,300})'\s+has no property/g,
  /has no property\s+'([^']{0,200})'/g,
];

/** What a name slot may hold: `Mapper[Cls(table)]`, `mapped class Cls->table`, identifiers and Python expression text. */
const SAFE_SLOT = /^[A-Za-z0-9_.,\[\]()\s=<>!'"+-]{1,300}$/;
/** Path traversal (`..`) is refused even inside otherwise expression-like text. */
const TRAVERSAL = /\.\./;

function slots(text: string): string[] {
  const flat = text.replace(/\s+/g, ' ').slice(0, 256 * 1024);
  const out: string[] = [];
  for (const re of NAME_SLOTS) for (const m of flat.matchAll(re)) if (out.length < 100) out.push((m[1] ?? m[2] ?? '').trim());
  return out;
}

export type Route = 'proceed' | 'refused' | 'unrelated';

/**
 * Where the runbook goes with this alert: `proceed` (clone and let the repo's check decide), `refused` (every name
 * the alert gives is path traversal or shell text: the run still looks at the repo but ends escalated, saying so),
 * `unrelated` (the text is not about SQLAlchemy models at all: nothing is cloned).
 */
export function routeOf(text: string, r: ErrorReading): { route: Route; unsafeNames: number; why: string } {
  const found = slots(text);
  const unsafe = found.filter((s) => TRAVERSAL.test(s) || !SAFE_SLOT.test(s)).length;
  const accepted = !!(r.mapper || r.cause?.name || r.cause?.attr || r.cause?.owner || r.cause?.relationship);
  const allRefused = (found.length > 0 && unsafe === found.length) || (r.refused > 0 && !accepted);
  if (allRefused)
    return { route: 'refused', unsafeNames: Math.max(unsafe, r.refused), why: `every name in the alert was refused as unsafe (${Math.max(unsafe, r.refused)} with path traversal, shell text or no identifier shape); none was used` };
  if (r.readable) return { route: 'proceed', unsafeNames: unsafe, why: 'the alert names a mapper error; the repo decides' };
  const head = text.slice(0, 256 * 1024);
  if (RUNTIME_ERRORS.test(head) && !MODEL_WORDS.test(head))
    return { route: 'unrelated', unsafeNames: unsafe, why: 'the alert is a database/session error, not a mapper failure: another runbook' };
  if (SQLALCHEMY_WORDS.test(head))
    return { route: 'proceed', unsafeNames: unsafe, why: 'the alert is about SQLAlchemy models but in words this reader does not know; the repo decides' };
  return { route: 'unrelated', unsafeNames: unsafe, why: 'the alert text is not about SQLAlchemy models' };
}

/**
 * Read the failing mapper and the cause out of the alert text (pure: no file, no process). Both wordings
 * (1.4 `mapped class X->t`, 2.x `Mapper[X(t)]`), the first-use and the cascade forms, inside tracebacks,
 * JSON log entries or wrapped lines. Names that are not plain identifiers are refused, never used. The alert only
 * hints: the route says whether the repo should be looked at (see routeOf).
 */
export default defineAction({
  name: 'sqlalchemy.identify',
  description: 'Identify the failing SQLAlchemy mapper and cause from alert text',
  sideEffects: false,
  params: z.object({ text: z.string().max(4_000_000).default('') }),
  async run(p, ctx) {
    const r = readSqlalchemyError(p.text);
    const route = routeOf(p.text, r);
    const summary = !r.readable
      ? route.route === 'proceed'
        ? 'no SQLAlchemy mapper error this reader knows in the alert text; the repo will be checked'
        : route.route === 'refused'
          ? `the alert's names were refused: ${route.why}`
          : 'no SQLAlchemy mapper error found in the alert text'
      : `${r.mapper ? `mapper ${r.mapper.class}${r.mapper.table ? ` (${r.mapper.table})` : ''}` : 'mapper not named'}; cause ${r.cause?.kind ?? 'unknown'}${r.cause?.name ? ` '${r.cause.name}'` : ''}${r.cause?.attr ? ` ${r.cause.owner ?? ''}.${r.cause.attr}` : ''}${r.version ? `; SQLAlchemy ${r.version} wording` : ''}`;
    ctx.logger.info({ readable: r.readable, mapper: r.mapper?.class, cause: r.cause?.kind, refused: r.refused, route: route.route }, summary);
    return { ...r, ...route, summary } as unknown as Json;
  },
});
