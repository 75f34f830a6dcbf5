// Git credentials embedded in a target's repo URL (https://user:token@host/…) never go into a run record in
// Redis: the record keeps the URL without them, and the worker that runs a step puts them back from its own
// targets configuration (same target name, same URL once stripped). A worker without them clones without them.
import type { Target } from '../core/types.js';

/** The URL without user/password; anything that is not a URL with credentials (a local path, ssh) is unchanged. */
export function stripCredentials(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  if (!u.username && !u.password) return url;
  u.username = '';
  u.password = '';
  return u.toString();
}

/** The target as a run record may keep it. */
export function withoutCredentials(t: Target): Target {
  const repo = stripCredentials(t.repo);
  const repoUrl = t.gcp?.repoUrl !== undefined ? stripCredentials(t.gcp.repoUrl) : undefined;
  if (repo === t.repo && repoUrl === t.gcp?.repoUrl) return t;
  return { ...t, repo, ...(t.gcp ? { gcp: { ...t.gcp, ...(repoUrl !== undefined ? { repoUrl } : {}) } } : {}) };
}

/** The stored target with this worker's credentials for it put back (only where the stripped URLs agree). */
export function withCredentials(stored: Target, known: Map<string, Target>): Target {
  const own = known.get(stored.name);
  if (!own) return stored;
  const repo = own.repo !== stored.repo && stripCredentials(own.repo) === stored.repo ? own.repo : stored.repo;
  const ownUrl = own.gcp?.repoUrl;
  const repoUrl = ownUrl && stored.gcp?.repoUrl && ownUrl !== stored.gcp.repoUrl && stripCredentials(ownUrl) === stored.gcp.repoUrl ? ownUrl : stored.gcp?.repoUrl;
  if (repo === stored.repo && repoUrl === stored.gcp?.repoUrl) return stored;
  return { ...stored, repo, ...(stored.gcp ? { gcp: { ...stored.gcp, ...(repoUrl !== undefined ? { repoUrl } : {}) } } : {}) };
}
