// Helpers shared by the deploy.* actions (the run-dir and URL helpers are the git actions': ../git/paths.ts, ../git/redact.ts).
import { z } from 'zod';
import type { Json } from '../../../core/types.js';
import { parseDuration } from '../../../config/config.js';

export const SHA = z.string().regex(/^[0-9a-f]{40}$/, 'a full 40-hex commit sha');
export const DURATION = z.union([z.number().int().min(0), z.string().regex(/^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$/, 'a duration such as 500ms, 30s, 5m')]);

export function ms(v: string | number | undefined): number | undefined {
  return v === undefined ? undefined : parseDuration(v);
}

export function json<T>(v: T): Json {
  return JSON.parse(JSON.stringify(v)) as Json;
}
