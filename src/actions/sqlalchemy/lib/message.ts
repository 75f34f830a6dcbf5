// Commit message text in the seed's shape: a subject naming the fix, then why (the Fixes: line is the runbook's).
import type { FixKind, FixResult, Problem } from './types.js';

function list(xs: string[], max = 4): string {
  return xs.length <= max ? xs.join(', ') : `${xs.slice(0, max).join(', ')} and ${xs.length - max} more`;
}

function why(p: Problem): string {
  switch (p.kind) {
    case 'missing_class':
      return `${p.target} model doesn't exist, causing mapper initialization to fail.`;
    case 'not_imported':
      return `${p.target} is defined in ${String(p.defined_in ?? 'a module')} but the models package never imports it, so SQLAlchemy cannot locate the name.`;
    case 'backpop_missing':
    case 'backpop_wrong_class':
    case 'backpop_not_relationship':
      return `${p.class}.${p.attr} has back_populates=${JSON.stringify(p.back_populates)}, which names no relationship on ${p.target} pointing back.`;
    case 'fk_table_string':
    case 'fk_unknown_attr':
    case 'fk_unknown_name':
    case 'fk_name_undefined':
    case 'fk_unparseable':
      return `${p.class}.${p.attr} has foreign_keys=${JSON.stringify(p.foreign_keys)}, which does not resolve to a mapped column.`;
    case 'misspelled_class':
      return `${p.class}.${p.attr} points at ${p.target}, which no model defines; the only close class is ${String((p.close_to as string[] | undefined)?.[0] ?? '?')}.`;
    case 'stale_module_path':
      return `${p.class}.${p.attr} names ${JSON.stringify(p.target_string)}, a module path where ${p.target} no longer lives.`;
    case 'secondary_missing':
    case 'secondary_undefined':
      return `${p.class}.${p.attr} has secondary=${JSON.stringify(p.secondary)}, a table the models package does not define.`;
    case 'expr_unknown_attr':
    case 'expr_unknown_name':
      return `${p.class}.${p.attr} has ${String(p.argument)}=${JSON.stringify(p.expression)}, which names what the models do not have.`;
    case 'ambiguous_foreign_keys':
      return `${p.class}.${p.attr} has several foreign key paths to ${p.target} (${((p.paths as string[] | undefined) ?? []).join(', ')}) and no foreign_keys=.`;
    case 'no_foreign_keys':
      return `${p.class}.${p.attr}: no foreign key links it to ${p.target}.`;
    default:
      return `${p.class}.${p.attr}: ${p.message}`;
  }
}

export function commitText(fix: FixKind, r: FixResult, model: string | null, problems: Problem[]): { subject: string; body: string } {
  const reasons = [...new Set(problems.map(why))];
  if (fix === 'A') {
    // (edits with `via` are a mixin's relationship as each inheriting class has it: the mixin's line says it)
    const rels = r.edits.filter((e) => e.op === 'comment_out' && !e.via).map((e) => `${e.class}.${e.attr}`);
    const subject = rels.length === 1 ? `Fix SQLAlchemy: Comment out broken ${rels[0]} relationship` : `Fix SQLAlchemy: Comment out ${rels.length} broken relationships (${list(rels, 3)})`;
    const missing = [...new Set(problems.filter((p) => p.kind === 'missing_class').map((p) => p.target))];
    const until = missing.length ? `Commenting out until ${list(missing as string[])} ${missing.length === 1 ? 'is' : 'are'} implemented.` : 'Commenting out until the relationships are fixed (TODO notes mark each).';
    return { subject, body: [...reasons, until, '', ...r.summary.map((s) => `- ${s}`)].join('\n') };
  }
  if (fix === 'B') {
    const disabled = r.disabled ?? (model ? [model] : []);
    const base = (r.file ?? '').split('/').pop();
    const subject = `Fix SQLAlchemy: Disable ${list(disabled, 3)} model${disabled.length === 1 ? '' : 's'} (${base} -> ${base}.disabled)`;
    return {
      subject,
      body: [
        ...reasons,
        `Disabling ${r.file} entirely: its imports are removed and relationships pointing at it are commented out (TODO notes mark each; see ${r.renamed_to}.txt to re-enable).`,
        '',
        ...r.summary.map((s) => `- ${s}`),
      ].join('\n'),
    };
  }
  const rels = [...new Set(problems.map((p) => `${p.class}.${p.attr}`))];
  const subject = rels.length === 1 ? `Fix SQLAlchemy: Repair ${rels[0]} relationship` : `Fix SQLAlchemy: Repair ${rels.length} relationships (${list(rels, 3)})`;
  return { subject, body: [...reasons, 'Mechanical repair, no model removed:', '', ...r.summary.map((s) => `- ${s}`)].join('\n') };
}
