// A runbook as users wrote them before checkouts had names: every step that works in the run's checkout is handed
// an absolute path (`dir: "{{ steps.checkout.output.dir }}"`, a worktree's `steps.apply.output.dir`). Made from
// the repo's own runbook, so that the deprecated form is tested on the real thing; `dir` is accepted for one release.
import { readFileSync } from 'node:fs';
import { parseDocument, isMap, isSeq, type YAMLMap } from 'yaml';

const IN_A_CHECKOUT = /^(git\.(commit|push)|deploy\.(push|build)|sqlalchemy\.(confirm|inspect|plan_fix|apply_fix|preflight)|alembic\.(reproduce|wait_for_db|fix_\w+|verify|commit_message))$/;

/** The runbook at `file` in its old form, and the ids of the steps that now carry a deprecated `dir`. */
export function oldStyleRunbook(file: string): { source: string; steps: string[] } {
  const doc = parseDocument(readFileSync(file, 'utf8'));
  const steps = doc.get('steps');
  const changed: string[] = [];
  if (!isSeq(steps)) throw new Error(`${file}: no steps`);
  for (const s of steps.items) {
    if (!isMap(s) || !IN_A_CHECKOUT.test(String(s.get('action')))) continue;
    let w = s.get('with') as YAMLMap | undefined;
    if (!isMap(w)) {
      w = doc.createNode({}) as YAMLMap;
      s.set('with', w);
    }
    const named = /^\{\{ steps\.(\w+)\.output\.checkout \}\}$/.exec(String(w.get('checkout') ?? ''));
    w.delete('checkout');
    // the old form first, where people wrote it
    w.items.unshift(doc.createPair('dir', named ? `{{ steps.${named[1]}.output.dir }}` : '{{ steps.checkout.output.dir }}') as (typeof w.items)[number]);
    changed.push(String(s.get('id')));
  }
  return { source: doc.toString({ lineWidth: 0 }), steps: changed };
}
