import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import type { Json } from '../../core/types.js';
import { IN_CHECKOUT, checkoutDir, checkoutName } from '../lib/checkout.js';
import { aheadFor, runTool } from './lib/tool.js';
import { PY_IDENT, type Analysis, type Problem, type RelInfo } from './lib/types.js';
import { readSqlalchemyError, type Cause } from './lib/error-text.js';

/** Class.attr names a problem's relationship answers to: its own, and each mapped class a mixin gives it to. */
function relNames(x: Problem): string[] {
  const mappedAs = Array.isArray(x.mapped_as) ? (x.mapped_as as string[]) : [];
  return [`${x.class}.${x.attr}`, ...mappedAs.map((c) => `${c}.${x.attr}`)];
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);

/** Does this problem explain the error SQLAlchemy raised? */
export function explains(c: Cause, x: Problem): boolean {
  const fk = typeof x.foreign_keys === 'string' ? x.foreign_keys : '';
  switch (c.kind) {
    case 'missing_name': {
      if (!c.name) return false;
      const short = c.name.split('.').pop();
      if (['missing_class', 'not_imported', 'misspelled_class'].includes(x.kind)) return x.target === c.name || (x.target === short && x.target_string === c.name) || x.target === short;
      if (x.kind === 'stale_module_path') return x.target_string === c.name;
      if (x.kind === 'secondary_missing') return x.secondary === c.name;
      if (x.kind === 'expr_unknown_name') return strings(x.unknown_names).includes(c.name);
      return false;
    }
    case 'name_error':
      return (
        !!c.name &&
        (x.undefined_name === c.name || (['missing_class', 'misspelled_class'].includes(x.kind) && x.target === c.name) || (x.kind === 'expr_unknown_name' && strings(x.unknown_names).includes(c.name)))
      );
    case 'ambiguous_name':
      return x.kind === 'ambiguous_class' && !!c.name && (x.target === c.name || x.target_string === c.name);
    case 'no_property':
      return x.kind.startsWith('backpop_') && x.target === c.owner && x.back_populates === c.attr;
    case 'not_a_relationship':
    case 'reverse_property':
      return !!c.relationship && relNames(x).includes(c.relationship);
    case 'join_condition':
      return (x.kind === (c.ambiguous ? 'ambiguous_foreign_keys' : 'no_foreign_keys')) && !!c.relationship && relNames(x).includes(c.relationship);
    case 'table_attribute':
      return x.kind === 'fk_table_string' && !!c.attr && fk.split(/[^\w.]+/).some((t) => t.endsWith(`.${c.attr}`));
    case 'unknown_column':
      return (
        (x.kind === 'fk_unknown_attr' && fk.split(/[^\w.]+/).includes(`${c.owner}.${c.attr}`)) ||
        (x.kind === 'expr_unknown_attr' && strings(x.unknown_attrs).includes(`${c.owner}.${c.attr}`))
      );
    default:
      return false;
  }
}

/** The runtime probe's localisation of the failure (sqlalchemy.confirm's `failure`; any field may be null). */
export interface Failure {
  mapper?: string | null;
  property?: string | null;
  exceptionClass?: string | null;
  message?: string | null;
  file?: string | null;
  line?: number | null;
}

/** Does this problem explain the failure the probe localised: the property, the file and line, or its message? */
export function explainsFailure(f: Failure, x: Problem): boolean {
  if (f.property && relNames(x).includes(f.property)) return true;
  if (f.file && typeof f.line === 'number') {
    const file = f.file.replace(/\\/g, '/');
    const inFile = file === x.path || file.endsWith(`/${x.path}`);
    if (inFile && f.line >= x.line && f.line <= (x.end_line ?? x.line)) return true;
  }
  if (f.message) {
    const cause = readSqlalchemyError(`${f.exceptionClass ? `${f.exceptionClass}: ` : ''}${f.message}`).cause;
    if (cause && explains(cause, x)) return true;
  }
  return false;
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
  changesCheckouts: 'none', // reads the checkout (the AST tool's analysis writes nothing)
  params: z.object({
    ...IN_CHECKOUT,
    mapper: z.string().regex(PY_IDENT).nullish(),
    /** What the check said (sqlalchemy.confirm's cause): matched against the problems found. */
    cause: z.object({ kind: z.string() }).passthrough().nullish(),
    /** Where the runtime probe saw the failure (sqlalchemy.confirm's `failure`): matched against the problems too. */
    failure: z
      .object({
        mapper: z.string().max(300).nullish(),
        property: z.string().max(600).nullish(),
        exceptionClass: z.string().max(300).nullish(),
        message: z.string().max(20_000).nullish(),
        file: z.string().max(4096).nullish(),
        line: z.number().int().nullish(),
      })
      .nullish(),
  }),
  async run(p, ctx) {
    const dir = await checkoutDir(ctx, p);
    // Made ahead by sqlalchemy.confirm on this worker (the same commit, this tool, these models), else here.
    const given = aheadFor(ctx, checkoutName(ctx, dir))?.result;
    const a = given ?? (await runTool<Analysis>(ctx, { cmd: 'analyze', root: dir, models_dir: ctx.target.modelsDir }));
    // The problems that explain what the check said; when the error named no failing mapper (SQLAlchemy's
    // first-use "has no property" and AttributeError forms do not), the explaining relationship's class is it.
    const explaining = a.problems.filter((x) => (p.cause && explains(p.cause as Cause, x)) || (p.failure && explainsFailure(p.failure, x)));
    // a mixin's relationship fails under the mapped class it lands on (the probe's mapper says which)
    const failingMapper = p.failure?.mapper && PY_IDENT.test(p.failure.mapper) ? p.failure.mapper : null;
    const name = p.mapper ?? failingMapper ?? explaining[0]?.class ?? null;
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
      checkout: checkoutName(ctx, dir),
      analysisFrom: given ? 'confirm' : 'inspect',
      dir, // deprecated (one release): this worker's path; later steps name `checkout`
      package: a.package,
      explained: p.cause || p.failure ? explaining.map((x) => `${x.class}.${x.attr}`) : null,
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
    ctx.logger.info({ mapper: name, found: !!model, problems: problems.length, analysedBy: given ? 'confirm' : 'inspect' }, 'inspected');
    return out as unknown as Json;
  },
});
