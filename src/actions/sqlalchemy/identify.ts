import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import type { Json } from '../../core/types.js';
import { readSqlalchemyError } from './lib/error-text.js';

/**
 * Read the failing mapper and the cause out of the alert text (pure: no file, no process). Both wordings
 * (1.4 `mapped class X->t`, 2.x `Mapper[X(t)]`), the first-use and the cascade forms, inside tracebacks,
 * JSON log entries or wrapped lines. Names that are not plain identifiers are refused, never used.
 */
export default defineAction({
  name: 'sqlalchemy.identify',
  description: 'Identify the failing SQLAlchemy mapper and cause from alert text',
  sideEffects: false,
  params: z.object({ text: z.string().max(4_000_000).default('') }),
  async run(p, ctx) {
    const r = readSqlalchemyError(p.text);
    const summary = !r.readable
      ? 'no SQLAlchemy mapper error found in the alert text'
      : `${r.mapper ? `mapper ${r.mapper.class}${r.mapper.table ? ` (${r.mapper.table})` : ''}` : 'mapper not named'}; cause ${r.cause?.kind ?? 'unknown'}${r.cause?.name ? ` '${r.cause.name}'` : ''}${r.cause?.attr ? ` ${r.cause.owner ?? ''}.${r.cause.attr}` : ''}${r.version ? `; SQLAlchemy ${r.version} wording` : ''}`;
    ctx.logger.info({ readable: r.readable, mapper: r.mapper?.class, cause: r.cause?.kind, refused: r.refused }, summary);
    return { ...r, summary } as unknown as Json;
  },
});
