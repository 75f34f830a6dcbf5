// A real worker process for the SIGKILL chaos test, driven over IPC.
//   env: REDIS_URL, RW_PREFIX, RW_WORKDIR, RW_PLATFORM_DIR, RW_RUNBOOK (a YAML file), RW_LOCK_MS
//        RW_KILL_STEP / RW_KILL_WHEN=before|after: at that step, say so and hang (the parent SIGKILLs us) —
//        `before` the action runs, or `after` it ran (its side effects done, its outcome not yet recorded).
//   IPC: sends {type:'loaded'} once the engine exists; on {type:'go'} starts the worker and sends {type:'ready'};
//        sends {type:'hanging', step, when, output?} at the kill point; on {type:'stop'} closes and exits.
// Loading first and starting later lets the parent have a replacement process ready before it kills this one.
import { readFileSync } from 'node:fs';
import { Engine } from '../../src/engine/engine.js';
import { loadConfig } from '../../src/config/config.js';
import { parseRunbook } from '../../src/core/runbook.js';
import { ActionRegistry, builtinActions, defaultRegistry } from '../../src/actions/index.js';
import { withDeployTail } from '../../src/demo/deploy-tail.js';
import type { Action } from '../../src/core/action.js';

const lockMs = Number(process.env.RW_LOCK_MS ?? 1500);
const config = loadConfig({ REDIS_URL: process.env.REDIS_URL }, {
  prefix: process.env.RW_PREFIX!,
  workdir: process.env.RW_WORKDIR!,
  retentionDays: 0,
  local: { platformDir: process.env.RW_PLATFORM_DIR! },
  worker: { concurrency: 2, lockDurationMs: lockMs, stalledIntervalMs: Math.max(200, Math.floor(lockMs / 3)) },
} as any);
const killStep = process.env.RW_KILL_STEP;
const killWhen = process.env.RW_KILL_WHEN ?? 'before';

/** Every builtin action, each wrapped so that at the kill step it announces itself and never returns. */
function dying(a: Action): Action {
  const hang = (msg: Record<string, unknown>) =>
    new Promise<never>(() => {
      process.send!({ type: 'hanging', ...msg });
    });
  return {
    ...a,
    run: async (params, ctx) => {
      if (ctx.step.id !== killStep) return a.run(params, ctx);
      if (killWhen === 'before') return hang({ step: ctx.step.id, when: 'before' });
      const output = await a.run(params, ctx);
      return hang({ step: ctx.step.id, when: 'after', output: JSON.parse(JSON.stringify(output ?? {})) });
    },
  };
}
const registry = killStep ? new ActionRegistry(builtinActions().map(dying)) : defaultRegistry();

const { source } = withDeployTail(readFileSync(process.env.RW_RUNBOOK!, 'utf8'));
const rb = parseRunbook(source, process.env.RW_RUNBOOK!, registry.catalog());
const engine = await Engine.create({ config, runbooks: new Map([[rb.id, rb]]), registry });
process.send!({ type: 'loaded', pid: process.pid });
process.on('message', async (m: { type?: string }) => {
  if (m?.type === 'go') {
    await engine.startWorker();
    process.send!({ type: 'ready' });
  } else if (m?.type === 'stop') {
    await engine.close();
    process.exit(0);
  }
});
