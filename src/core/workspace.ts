// A run's workspace, portable between machines: what is on a worker's disk is a cache of what the run record
// (the manifest below, in the store) and git (the target's remote plus the run ref) say. Pure helpers, no I/O.
//
// The manifest names each checkout a run made by its path relative to the run's folder (`repo`, `wt/fix-A-…`):
// a clone of the target branch or a detached worktree of one, the commit it is at (`head`) and, when a step
// left changes in it that are not committed yet, a snapshot commit of its tree (`snap`, parent `head`). Every
// commit a run makes that the target branch does not have is published under the run ref
// (refs/runwright/runs/<run id>) before the step's outcome is recorded, so a step on another machine can fetch it.
import path from 'node:path';

export interface WorkspaceEntry {
  kind: 'clone' | 'worktree';
  /** For a worktree: the clone it belongs to (relative path). */
  repo?: string;
  /** The target branch a clone was made from. */
  branch?: string;
  /** The commit checked out. */
  head: string;
  /** A commit whose tree is the checkout's content (uncommitted changes of earlier steps), parent `head`. */
  snap?: string;
  /** A build artifact (a worktree of the built commit): its content is the commit, whatever a deployed job
   * leaves in it (caches, logs) is never snapshotted nor carried to another machine. */
  artifact?: boolean;
}

export interface WorkspaceManifest {
  entries: Record<string, WorkspaceEntry>;
  /** Commits already reachable on the remote (the target branch, or the run ref). */
  published: string[];
  /** The run ref's current commit (an anchor whose parents keep every published run commit reachable). */
  anchor?: string;
}

export const emptyManifest = (): WorkspaceManifest => ({ entries: {}, published: [] });

export function runRef(runId: string): string {
  return `refs/runwright/runs/${runId}`;
}

/** A run id as the engine makes them (also what a run folder on disk is called). */
export const RUN_ID = /^r[0-9a-z]{6,12}[0-9a-f]{10}$/;

/**
 * The place `p` names inside the run's folder, relative to it — also when `p` was written on another machine
 * whose run folder is elsewhere (`/work/a/<run>/repo` and `/srv/b/<run>/repo` name the same checkout). Returns
 * null for a path that is not inside some folder of this run. The result is still to be resolved with
 * resolveInside against this machine's run folder (it may hold `..`).
 */
export function runRelative(runId: string, runDir: string, p: string): string | null {
  if (!p || !path.isAbsolute(p)) return null;
  const abs = path.resolve(p);
  const here = path.relative(runDir, abs);
  if (here && !here.startsWith('..') && !path.isAbsolute(here)) return here;
  if (abs === runDir) return '';
  const seg = `${path.sep}${runId}${path.sep}`;
  const i = abs.indexOf(seg);
  if (i >= 0) return abs.slice(i + seg.length);
  if (abs.endsWith(`${path.sep}${runId}`)) return '';
  return null;
}

/** The manifest entry a run-relative path lies in (the longest entry path that is it or a folder above it). */
export function entryFor(m: WorkspaceManifest, rel: string): string | undefined {
  let best: string | undefined;
  for (const k of Object.keys(m.entries)) {
    if ((rel === k || rel.startsWith(`${k}${path.sep}`)) && (!best || k.length > best.length)) best = k;
  }
  return best;
}

/** Every string inside a params value that names a place in the run's folder (relative paths), in order. */
export function runPathsIn(runId: string, runDir: string, value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') {
    const rel = runRelative(runId, runDir, value);
    if (rel !== null) out.push(rel);
  } else if (Array.isArray(value)) for (const v of value) runPathsIn(runId, runDir, v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) runPathsIn(runId, runDir, v, out);
  return out;
}

/** Entries to materialise for `rel`: its clone first, then the worktree. */
export function materialiseOrder(m: WorkspaceManifest, rel: string): string[] {
  const e = m.entries[rel];
  if (!e) return [];
  if (e.kind === 'worktree' && e.repo && m.entries[e.repo]) return [e.repo, rel];
  return [rel];
}

export function parseManifest(raw: string | undefined | null): WorkspaceManifest {
  if (!raw) return emptyManifest();
  try {
    const m = JSON.parse(raw) as WorkspaceManifest;
    return { entries: m.entries ?? {}, published: m.published ?? [], anchor: m.anchor };
  } catch {
    return emptyManifest();
  }
}
