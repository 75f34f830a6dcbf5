// The action registry: every action, one file each, registered by name.
import { z } from 'zod';
import type { Action } from '../core/action.js';
import type { ActionCatalog } from '../core/runbook.js';
import { actions as builtin } from './builtin/index.js';
import { actions as git } from './git/index.js';
import { actions as sqlalchemy } from './sqlalchemy/index.js';
import { actions as deploy } from './deploy/index.js';
import { actions as alembic } from './alembic/index.js';

export class ActionRegistry {
  private readonly byName = new Map<string, Action>();
  constructor(actions: Action[] = []) {
    for (const a of actions) this.register(a);
  }
  register(a: Action): this {
    if (this.byName.has(a.name)) throw new Error(`action '${a.name}' registered twice`);
    if (a.sideEffects && !a.plan) throw new Error(`action '${a.name}' has side effects but no plan()`);
    this.byName.set(a.name, a);
    return this;
  }
  get(name: string): Action | undefined {
    return this.byName.get(name);
  }
  has(name: string): boolean {
    return this.byName.has(name);
  }
  /** What the runbook loader needs: which actions exist and which params they require. */
  catalog(): ActionCatalog {
    return {
      has: (name) => this.byName.has(name),
      requiredParams: (name) => {
        const schema = this.byName.get(name)?.params as { shape?: Record<string, { safeParse(v: unknown): { success: boolean } }> } | undefined;
        if (!schema?.shape) return [];
        return Object.entries(schema.shape)
          .filter(([, f]) => !f.safeParse(undefined).success)
          .map(([k]) => k);
      },
      names: () => this.names(),
      deprecatedParams: (name) => this.deprecatedParams(name),
    };
  }
  private readonly deprecated = new Map<string, Record<string, string>>();
  /** Params marked `deprecated` in an action's schema (zod .meta), with their description (what to write instead). */
  deprecatedParams(name: string): Record<string, string> {
    let d = this.deprecated.get(name);
    if (!d) {
      const a = this.byName.get(name);
      let js: { properties?: Record<string, { deprecated?: boolean; description?: string }> } = {};
      try {
        if (a) js = z.toJSONSchema(a.params as unknown as z.ZodType, { unrepresentable: 'any', io: 'input' }) as typeof js;
      } catch {
        /* not a zod schema (a test's own action): nothing is deprecated */
      }
      d = Object.fromEntries(Object.entries(js.properties ?? {}).filter(([, p]) => p.deprecated).map(([k, p]) => [k, p.description ?? 'no longer needed']));
      this.deprecated.set(name, d);
    }
    return d;
  }
  names(): string[] {
    return [...this.byName.keys()].sort();
  }
}

export function builtinActions(): Action[] {
  return [...builtin, ...git, ...sqlalchemy, ...deploy, ...alembic];
}

export function defaultRegistry(extra: Action[] = []): ActionRegistry {
  return new ActionRegistry([...builtinActions(), ...extra]);
}
