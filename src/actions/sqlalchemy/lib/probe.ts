// The runtime probe (python/sqla_probe.py): imports the target's models package in the target's runtime and
// configures the mappers with instrumentation. It explains a failure; the target's check decides whether there is one.
import type { ActionContext } from '../../../core/action.js';
import { RunwrightError } from '../../../core/errors.js';
import { resolveInside } from '../../../core/safe-path.js';
import { pythonToolPath } from '../../lib/python-tool.js';
import { pythonOf, runInTarget } from './tool.js';

/** Where SQLAlchemy failed, as SQLAlchemy itself saw it. */
export interface Failure {
  phase: 'import' | 'configure';
  /** The mapper being configured when it raised (null at import time). */
  mapper: { class: string; table: string | null } | null;
  /** The property being configured, `Class.attr` (null when the error came outside a property). */
  property: string | null;
  /** The exception's class name (`InvalidRequestError`, `AmbiguousForeignKeysError`, `AttributeError` ...). */
  exceptionClass: string;
  /** Its qualified name (`sqlalchemy.exc.InvalidRequestError`). */
  exceptionType: string;
  message: string;
  attributes: Record<string, unknown>;
  /** The statement declaring the property (else the class, else the last traceback frame in the repo), repo-relative. */
  file: string | null;
  line: number | null;
  /** The class whose body declares the property (a mixin's name for @declared_attr), when found. */
  declaredIn?: string | null;
  traceback: { file: string; line: number; name: string; inRepo: boolean }[];
}

/** What the registries hold before configure_mappers(): every mapped class and every declared relationship. */
export interface Mapped {
  classes: string[];
  relationships: string[];
  /** Inherited relationships → the class whose body declares them (`Contract.owner` → `OwnedMixin`). */
  declaredIn?: Record<string, string>;
  /** False when the package could not be imported (then only what was declared before the error). */
  complete: boolean;
}

export interface ProbeResult {
  sqlalchemy: string;
  python: string;
  package: string;
  imported: boolean;
  configured: boolean;
  failure: Failure | null;
  mapped: Mapped;
  modules: string[];
  notImported: string[];
  warnings: string[];
}

/** The probe's answer, or why there is none (never throws for the target's own misbehaviour). */
export type Probed = { ok: true; probe: ProbeResult } | { ok: false; error: string };

export async function runProbe(ctx: ActionContext, dir: string): Promise<Probed> {
  resolveInside(dir, ctx.target.modelsDir);
  try {
    const r = await runInTarget(ctx, dir, [pythonOf(ctx.target), '-B', pythonToolPath('sqla_probe.py')], {
      what: 'probe',
      input: JSON.stringify({ root: dir, models_dir: ctx.target.modelsDir }),
    });
    let out: any;
    try {
      out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
    } catch {
      return { ok: false, error: `the probe gave no answer (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 500)}` };
    }
    if (!out?.ok) return { ok: false, error: `the probe refused: ${out?.error?.code ?? 'error'}: ${out?.error?.message ?? ''}` };
    delete out.ok;
    return { ok: true, probe: out as ProbeResult };
  } catch (e) {
    if (e instanceof RunwrightError && e.code === 'unsafe_path') throw e;
    if (e instanceof RunwrightError) return { ok: false, error: e.message }; // a probe that hangs or cannot start explains nothing
    throw e;
  }
}

/**
 * One line saying where it failed: `Organization.users (backend/app/models/organization.py:13): AttributeError: ...`
 * when configuring, `backend/app/models/user.py:7: KeyError: ...` when importing.
 */
export function localisation(f: Failure): string {
  const at = f.file ? `${f.file}${f.line ? `:${f.line}` : ''}` : null;
  const first = f.message.split('\n')[0]!.slice(0, 300);
  if (f.phase === 'import') return `${at ?? 'the models package'}: ${f.exceptionClass}: ${first}`;
  const where = f.property ?? (f.mapper ? `mapper ${f.mapper.class}` : 'configure_mappers()');
  return `${where}${at ? ` (${at})` : ''}: ${f.exceptionClass}: ${first}`;
}

/** Names mapped before and no longer after (the fixed commit's registries against the base's). */
export function lostNames(before: Mapped, after: Mapped): { classes: string[]; relationships: string[] } {
  const a = { classes: new Set(after.classes), relationships: new Set(after.relationships) };
  return {
    classes: before.classes.filter((c) => !a.classes.has(c)),
    relationships: before.relationships.filter((r) => !a.relationships.has(r)),
  };
}
