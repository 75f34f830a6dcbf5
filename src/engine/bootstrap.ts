// Loads what a process needs to run: the action registry, runbooks, targets.
import { existsSync } from 'node:fs';
import type { Config } from '../config/config.js';
import { loadTargets } from '../config/targets.js';
import { loadRunbooksDir, type Runbook } from '../core/runbook.js';
import type { Target } from '../core/types.js';
import { defaultRegistry, type ActionRegistry } from '../actions/index.js';

export interface World {
  /** Absent when the runbooks were loaded elsewhere (`serve --role worker` validates them off-thread): the engine then imports the built-in actions when a step first needs one. */
  registry?: ActionRegistry;
  runbooks: Map<string, Runbook>;
  targets: Map<string, Target>;
}

export function loadWorld(config: Config, opts: { targetsFile?: string; requireTargets?: boolean } = {}): World {
  const registry = defaultRegistry();
  const runbooks = existsSync(config.runbooksDir) ? loadRunbooksDir(config.runbooksDir, registry.catalog()) : new Map<string, Runbook>();
  const file = opts.targetsFile ?? config.targetsFile;
  let targets = new Map<string, Target>();
  if (existsSync(file)) targets = loadTargets(file);
  else if (opts.requireTargets) throw new Error(`targets file not found: ${file}`);
  return { registry, runbooks, targets };
}
