// How target code ran (ProcessPort.runTarget), as JSON for a step output.
import type { Json } from '../../core/types.js';
import type { TargetRunInfo } from '../../ports/index.js';

export function runtimeOf(run: TargetRunInfo): { [k: string]: Json } {
  return {
    sandbox: run.sandbox,
    python: run.python,
    venv: run.venv ? { key: run.venv.key, from: run.venv.from, built: run.venv.built, ...(run.venv.buildMs !== undefined ? { buildMs: run.venv.buildMs } : {}) } : null,
    env: run.envNames,
  };
}
