import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import { RunwrightError } from '../../core/errors.js';
import type { Json } from '../../core/types.js';
import { ownDir } from '../git/paths.js';
import { runTool } from './lib/tool.js';
import type { FixKind, FixResult } from './lib/types.js';

const FIX = z.enum(['A', 'B', 'C']);

/**
 * Choose fix A (comment out every broken relationship), B (disable the whole model) or C (mechanical repairs)
 * by the runbook's policy: `auto` takes the first fix in `preference` that can be applied to this tree (each
 * is tried as a dry run); A/B/C forces one, falling back along `fallback` when it cannot apply. A problem only
 * a person can solve (a model class nobody wrote) sets needsPerson, so the runbook asks before pushing.
 */
export default defineAction({
  name: 'sqlalchemy.plan_fix',
  description: 'Choose fix A/B/C by policy, trying each as a dry run',
  sideEffects: false,
  params: z.object({
    dir: z.string().min(1),
    mapper: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).nullish(),
    problems: z.array(z.object({ kind: z.string(), class: z.string(), attr: z.string(), needs_person: z.boolean().optional() }).passthrough()).default([]),
    policy: z.enum(['auto', 'A', 'B', 'C']).default('auto'),
    preference: z.array(FIX).min(1).default(['C', 'A', 'B']),
    fallback: z.record(z.string(), FIX).default({ C: 'A', A: 'B' }),
  }),
  async run(p, ctx) {
    const dir = ownDir(ctx, p.dir);
    const model = p.mapper ?? (new Set(p.problems.map((x) => x.class)).size === 1 ? p.problems[0]!.class : null);
    const options: Record<FixKind, { applicable: boolean; touched?: string[]; summary?: string[]; why?: string; leftoverUses?: Json }> = {} as any;
    for (const fix of ['A', 'B', 'C'] as const) {
      try {
        const r = await runTool<FixResult>(ctx, { cmd: 'fix', fix, root: dir, models_dir: ctx.target.modelsDir, model: fix === 'B' ? model : undefined, dry_run: true });
        const leftovers = r.leftover_uses ?? [];
        options[fix] = leftovers.length
          ? { applicable: false, why: `disabling leaves ${leftovers.length} use(s) of ${model} in other modules`, touched: r.touched, summary: r.summary, leftoverUses: leftovers as unknown as Json }
          : { applicable: true, touched: r.touched, summary: r.summary };
      } catch (e) {
        if (!(e instanceof RunwrightError) || !e.code.startsWith('sqla_')) throw e;
        options[fix] = { applicable: false, why: e.message.replace(/^sqla_tool: /, '') };
      }
    }
    const needsPerson = p.problems.some((x) => x.needs_person === true);
    const chain = (start: FixKind): FixKind[] => {
      const out: FixKind[] = [];
      for (let f: FixKind | undefined = start; f && !out.includes(f); f = p.fallback[f] as FixKind | undefined) out.push(f);
      return out;
    };
    let fix: FixKind | null = null;
    let reason: string;
    if (p.policy === 'auto') {
      fix = p.preference.find((f) => options[f].applicable) ?? null;
      reason = fix
        ? `policy auto: ${fix} is the first applicable of ${p.preference.join(' > ')}${p.preference.filter((f) => f !== fix && p.preference.indexOf(f) < p.preference.indexOf(fix!)).map((f) => ` (${f}: ${options[f].why})`).join('')}`
        : `policy auto: no fix applies (${(['A', 'B', 'C'] as const).map((f) => `${f}: ${options[f].why}`).join('; ')})`;
    } else {
      fix = chain(p.policy).find((f) => options[f].applicable) ?? null;
      reason = fix === p.policy ? `policy ${p.policy}` : fix ? `policy ${p.policy} cannot apply (${options[p.policy].why}); falling back to ${fix}` : `policy ${p.policy}: neither it nor its fallbacks apply`;
    }
    const sequence = fix ? chain(fix).filter((f) => options[f].applicable) : [];
    if (needsPerson) reason += '; a person must write what is missing, so the fix is prepared and a person approves it';
    const fallback: Record<string, string> = {};
    for (let i = 0; i + 1 < sequence.length; i++) fallback[sequence[i]!] = sequence[i + 1]!;
    ctx.logger.info({ fix, needsPerson, sequence }, reason);
    return { fix, needsPerson, reason, policy: p.policy, model, sequence, fallback, options } as unknown as Json;
  },
});
