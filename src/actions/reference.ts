// docs/ACTIONS.md, generated from the action registry: every action's name, description, side effects, parameters
// (types, required, defaults from its zod schema) and outputs (src/actions/outputs.ts). `runwright actions` prints
// it; `npm run docs:actions` writes it; test/cli/actions.test.ts fails when the file and the code disagree.
import { z } from 'zod';
import type { ActionRegistry } from './index.js';
import { ACTION_OUTPUTS } from './outputs.js';

type Schema = { deprecated?: boolean; type?: string | string[]; enum?: unknown[]; items?: Schema; anyOf?: Schema[]; default?: unknown; description?: string; properties?: Record<string, Schema>; required?: string[]; pattern?: string; minimum?: number; maximum?: number };

function typeOf(s: Schema | undefined): string {
  if (!s || Object.keys(s).length === 0 || (Object.keys(s).length === 1 && 'default' in s)) return 'any';
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (s.anyOf) return s.anyOf.map(typeOf).join(' | ');
  if (s.type === 'array') return `${typeOf(s.items)}[]`;
  if (s.type === 'object') return s.properties ? `{ ${Object.keys(s.properties).join(', ')} }` : 'object';
  if (Array.isArray(s.type)) return s.type.join(' | ');
  return s.type === 'integer' ? 'integer' : s.type ?? 'any';
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The markdown reference of every registered action. */
export function actionsMarkdown(registry: ActionRegistry): string {
  const L = [
    '# Action reference',
    '',
    '<!-- Generated from the action registry by `npm run docs:actions` (src/actions/reference.ts). Do not edit by hand: test/cli/actions.test.ts fails when this file and the code disagree. -->',
    '',
    'Every action a runbook step can name in `action:`. Parameters go in `with:` (strings may be `{{ JSONata }}` templates); outputs are read by later steps as `steps.<step id>.output.<field>`. **Side effects: yes** means the action changes something outside runwright (git remotes, cloud, chat): it takes an idempotency key, is safe to re-run, and a dry run calls its `plan()` instead (its output then carries `dryRun: true` and `plan`).',
    '',
    '| action | side effects | what it does |',
    '|---|---|---|',
  ];
  const names = registry.names();
  for (const n of names) {
    const a = registry.get(n)!;
    L.push(`| [\`${n}\`](#${n.replace(/[^a-z0-9_-]/gi, '').toLowerCase()}) | ${a.sideEffects ? 'yes' : 'no'} | ${cell(a.description)} |`);
  }
  for (const n of names) {
    const a = registry.get(n)!;
    L.push('', `## ${n}`, '', cell(a.description), '', `Side effects: **${a.sideEffects ? 'yes' : 'no'}**${a.sideEffects ? ' (idempotency key; dry run = plan)' : ''}.`, '');
    const js = z.toJSONSchema(a.params as unknown as z.ZodType, { unrepresentable: 'any', io: 'input' }) as Schema;
    const props = Object.entries(js.properties ?? {});
    if (!props.length) L.push(js.type === 'object' && !js.properties ? 'Parameters: any (passed through).' : 'Parameters: none.');
    else {
      L.push('| parameter | type | required | default | notes |', '|---|---|---|---|---|');
      for (const [k, p] of props) {
        const notes = [p.deprecated ? '**deprecated**' : '', p.description, p.pattern ? `pattern \`${p.pattern}\`` : '', p.minimum !== undefined ? `≥ ${p.minimum}` : '', p.maximum !== undefined ? `≤ ${p.maximum}` : ''].filter(Boolean).join('; ');
        L.push(`| \`${k}\` | ${cell(typeOf(p))} | ${js.required?.includes(k) ? 'yes' : 'no'} | ${p.default !== undefined ? `\`${cell(JSON.stringify(p.default))}\`` : ''} | ${cell(notes)} |`);
      }
    }
    const outs = Object.entries(ACTION_OUTPUTS[n] ?? {});
    L.push('');
    if (!outs.length) L.push('Outputs: none (the step fails or succeeds).');
    else {
      L.push('| output | meaning |', '|---|---|');
      for (const [k, v] of outs) L.push(`| ${k === '*' ? '(all fields)' : `\`${k}\``} | ${cell(v)} |`);
    }
  }
  return L.join('\n') + '\n';
}

if (process.argv[1] && /[\\/]actions[\\/]reference\.[jt]s$/.test(process.argv[1])) {
  const { writeFileSync } = await import('node:fs');
  const path = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const { defaultRegistry } = await import('./index.js');
  const out = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'ACTIONS.md');
  writeFileSync(out, actionsMarkdown(defaultRegistry()));
  process.stdout.write(`wrote ${out}\n`);
}
