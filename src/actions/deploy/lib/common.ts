// Helpers shared by the deploy.* actions.
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { ActionContext } from '../../../core/action.js';
import type { Json } from '../../../core/types.js';
import { PermanentError } from '../../../core/errors.js';
import { resolveInside } from '../../../core/safe-path.js';
import { parseDuration } from '../../../config/config.js';

export const SHA = z.string().regex(/^[0-9a-f]{40}$/, 'a full 40-hex commit sha');
export const DURATION = z.union([z.number().int().min(0), z.string().regex(/^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$/, 'a duration such as 500ms, 30s, 5m')]);

export function ms(v: string | number | undefined): number | undefined {
  return v === undefined ? undefined : parseDuration(v);
}

/** The run's clone: `dir` must lie inside the run's workdir (absolute or relative to it) — never a user's working copy. */
export function runDir(ctx: ActionContext, dir: string): string {
  const root = realpathSync(ctx.workdir);
  const abs = path.resolve(root, dir);
  const rel = path.relative(root, abs);
  if (!rel || rel.startsWith('..') || path.isAbsolute(rel)) throw new PermanentError(`dir ${JSON.stringify(dir)} is not inside this run's workdir`, 'unsafe_path');
  return resolveInside(root, rel);
}

/** A remote URL fit for a record: any user:password@ part removed. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}

export function json<T>(v: T): Json {
  return JSON.parse(JSON.stringify(v)) as Json;
}
