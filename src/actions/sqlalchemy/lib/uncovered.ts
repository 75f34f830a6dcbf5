// Where the repository defines a class, found without running anything: the Python files of a checkout, read as
// text. Used when the target's check passes but the alert names a mapper the check never mapped — the class may live
// in a module only the job imports (the check cannot see it: not a stale alert), or nowhere any more (stale).
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';

/** Folders that hold no code of the repository's own. */
const SKIP = new Set(['.git', 'node_modules', '__pycache__', 'site-packages', '.venv', 'venv', '.tox', '.mypy_cache', '.pytest_cache', 'build', 'dist']);
const MAX_FILES = 20_000;
const MAX_BYTES = 2 * 1024 * 1024;

/** The class name a line defines (`class Name(...)`/`class Name:` at any indentation), else null. */
export function classDefined(line: string): string | null {
  const t = line.trimStart();
  if (!t.startsWith('class ') && !t.startsWith('class\t')) return null;
  const rest = t.slice(6).trimStart();
  let end = 0;
  while (end < rest.length && !'(:[ \t'.includes(rest[end]!)) end++;
  return end > 0 ? rest.slice(0, end) : null;
}

/**
 * Repo-relative paths of the .py files under `root` that define `className` (compared as a string: the name comes
 * from alert text and never becomes a pattern or a path), at most `limit`. Symbolic links are not followed.
 */
export async function filesDefining(root: string, className: string, limit = 5): Promise<string[]> {
  const found: string[] = [];
  let files = 0;
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (found.length >= limit || files >= MAX_FILES) return;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (!SKIP.has(e.name)) await walk(p);
      } else if (e.isFile() && e.name.endsWith('.py')) {
        files++;
        if ((await stat(p)).size > MAX_BYTES) continue;
        const text = await readFile(p, 'utf8');
        if (!text.includes(className)) continue;
        if (text.split(/\r?\n/).some((l) => classDefined(l) === className)) found.push(path.relative(root, p).split(path.sep).join('/'));
      }
    }
  };
  await walk(root);
  return found;
}
