import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import type { Json } from '../../core/types.js';
import { ownDir } from '../git/paths.js';
import { runTool } from './lib/tool.js';
import type { Analysis, Problem, RelInfo } from './lib/types.js';
import type { Cause } from './lib/error-text.js';

/** Does this problem explain the error SQLAlchemy raised? */
function explains(c: Cause, x: Problem): boolean {
  const fk = typeof x.foreign_keys === 'string' ? x.foreign_keys : '';
  switch (c.kind) {
    case 'missing_name':
      return (x.kind === 'missing_class' || x.kind === 'not_imported') && !!c.name && x.target === c.name;
    case 'no_property':
      return x.kind.startsWith('backpop_') && x.target === c.owner && x.back_populates === c.attr;
    case 'not_a_relationship':
    case 'reverse_property':
      return `${x.class}.${x.attr}` === c.relationship;
    case 'table_attribute':
      return x.kind === 'fk_table_string' && !!c.attr && fk.split(/[^\w.]+/).some((t) => t.endsWith(`.${c.attr}`));
    case 'unknown_column':
      return x.kind === 'fk_unknown_attr' && fk.split(/[^\w.]+/).includes(`${c.owner}.${c.attr}`);
    default:
      return false;
  }
}

/**
 * Inspect the models package with Python's ast (python/sqla_tool.py): find the failing model by its class
 * definition anywhere in the package, every relationship of it and of the models pointing at it with a verdict,
 * and every problem SQLAlchemy would really raise anywhere in the package (a partial fix is no fix).
 */
export default defineAction({
  name: 'sqlalchemy.inspect',
  description: 'Find the model and check every relationship of it (and pointing at it) with Python ast',
  sideEffects: false,
  params: z.object({
    dir: z.string().min(1),
    mapper: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).nullish(),
    /** What the check said (sqlalchemy.confirm's cause): matched against the problems found. */
    cause: z.object({ kind: z.string() }).passthrough().nullish(),
  }),
  async run(p, ctx) {
    const dir = ownDir(ctx, p.dir);
    const a = await runTool<Analysis>(ctx, { cmd: 'analyze', root: dir, models_dir: ctx.target.modelsDir });
    // The problems that explain what the check said; when the error named no failing mapper (SQLAlchemy's
    // first-use "has no property" and AttributeError forms do not), the explaining relationship's class is it.
    const explaining = p.cause ? a.problems.filter((x) => explains(p.cause as Cause, x)) : [];
    const name = p.mapper ?? explaining[0]?.class ?? null;
    const defs = name ? a.classes.filter((c) => c.name === name) : [];
    const model = defs.find((c) => c.imported) ?? defs[0] ?? null;
    const related = (r: RelInfo) => !name || r.class === name || r.target === name;
    const relationships = a.relationships.filter(related).map((r) => ({
      relationship: `${r.class}.${r.attr}`,
      path: r.path,
      line: r.line,
      target: r.target,
      targetFrom: r.target_from,
      typed: r.typed,
      backPopulates: r.back_populates,
      foreignKeys: r.foreign_keys?.source ?? null,
      verdict: r.verdict,
      problems: r.problems,
    }));
    const problems: Problem[] = a.problems;
    const summary = problems.map((x) => `${x.class}.${x.attr} (${x.path}:${x.line}): ${x.kind} — ${x.message}`);
    const out = {
      dir,
      package: a.package,
      explained: p.cause ? explaining.map((x) => `${x.class}.${x.attr}`) : null,
      mapper: name ? { class: name, inferred: !p.mapper, found: !!model, path: model?.path ?? null, line: model?.line ?? null, imported: model?.imported ?? null, table: model?.tablename ?? null } : null,
      relationships,
      otherRelationships: a.relationships.length - relationships.length,
      problems,
      problemKinds: [...new Set(problems.map((x) => x.kind))].sort(),
      needsPerson: problems.some((x) => x.needs_person),
      modules: a.modules.map((m) => ({ path: m.path, imported: m.imported, syntaxError: m.syntax_error })),
      skipped: a.skipped,
      summary: summary.length ? summary : [name ? `no broken relationship found around ${name}` : 'no broken relationship found'],
    };
    ctx.logger.info({ mapper: name, found: !!model, problems: problems.length }, 'inspected');
    return out as unknown as Json;
  },
});
