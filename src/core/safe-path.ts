// Every file operation derived from repo content or alert text goes through here.
import { realpathSync, lstatSync } from 'node:fs';
import path from 'node:path';
import { PermanentError } from './errors.js';

/**
 * Resolve `rel` inside `root`. Rejects absolute paths, `..` escapes, NUL bytes, and any existing
 * path component that is a symlink resolving outside root. Returns the absolute path.
 */
export function resolveInside(root: string, rel: string): string {
  if (typeof rel !== 'string' || rel.length === 0) throw new PermanentError('empty path', 'unsafe_path');
  if (rel.includes('\0')) throw new PermanentError('path contains a NUL byte', 'unsafe_path');
  if (path.isAbsolute(rel)) throw new PermanentError(`absolute path not allowed: ${JSON.stringify(rel)}`, 'unsafe_path');
  const parts = rel.split(/[\\/]+/);
  if (parts.includes('..')) throw new PermanentError(`path escapes its root: ${JSON.stringify(rel)}`, 'unsafe_path');
  const realRoot = realpathSync(root);
  const abs = path.resolve(realRoot, rel);
  if (abs !== realRoot && !abs.startsWith(realRoot + path.sep)) throw new PermanentError(`path escapes its root: ${JSON.stringify(rel)}`, 'unsafe_path');
  // Walk existing components: a symlink anywhere must still resolve inside root.
  let cur = realRoot;
  for (const p of path.relative(realRoot, abs).split(path.sep)) {
    if (!p) continue;
    cur = path.join(cur, p);
    let st;
    try {
      st = lstatSync(cur);
    } catch {
      break; // does not exist yet: the rest cannot be a link
    }
    if (st.isSymbolicLink()) {
      const target = realpathSync(cur);
      if (target !== realRoot && !target.startsWith(realRoot + path.sep)) {
        throw new PermanentError(`symlink leaves the repository: ${JSON.stringify(path.relative(realRoot, cur))}`, 'unsafe_path');
      }
    }
  }
  return abs;
}

/** True when `rel` is a safe repo-relative path (no throw). */
export function isInside(root: string, rel: string): boolean {
  try {
    resolveInside(root, rel);
    return true;
  } catch {
    return false;
  }
}
