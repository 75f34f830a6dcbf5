// A worker process with its own work folder, as a Cloud Run instance has its own in-memory disk.
//   env: REDIS_URL, RW_PREFIX, RW_WORKDIR, RW_PLATFORM_DIR, RW_RUNBOOKS (YAML files, comma-separated)
//        RW_WIPE=1: before every step, this worker forgets what it has of the run on disk (an instance recycled
//        between any two steps): every step it runs must re-materialise the run's checkouts from git.
//        RW_CONCURRENCY (default 1). Every step is its own job (no sticky execution), so the steps of a run land
//        on whichever worker is free, as they do after crashes and approval waits.
//   stdout: "ready <pid>" once the worker runs; SIGTERM closes it.
import { rmSync } from 'node:fs';
import { Engine } from '../../src/engine/engine.js';
import { loadConfig } from '../../src/config/config.js';
import { loadRunbookFiles } from '../../src/core/runbook.js';
import { defaultRegistry } from '../../src/actions/index.js';
import { LocalWorkspace } from '../../src/adapters/local/workspace.js';
import type { WorkspacePort } from '../../src/ports/index.js';
import { serveAsWorkerProcess } from '../helpers/engine.js';

const config = loadConfig({ REDIS_URL: process.env.REDIS_URL }, {
  prefix: process.env.RW_PREFIX!,
  workdir: process.env.RW_WORKDIR!,
  retentionDays: 0,
  local: { platformDir: process.env.RW_PLATFORM_DIR! },
  worker: { concurrency: Number(process.env.RW_CONCURRENCY ?? 1), lockDurationMs: 30_000, stalledIntervalMs: 5_000 },
} as any);
const local = new LocalWorkspace(config.workdir);
const workspace: WorkspacePort = process.env.RW_WIPE === '1'
  ? {
      runDir: (id) => local.runDir(id),
      session: (run, m, log) => {
        rmSync(local.runDir(run.id), { recursive: true, force: true });
        return local.session(run, m, log);
      },
      release: (run, m) => local.release(run, m),
      dropLocal: (id) => local.dropLocal(id),
      sweep: (live) => local.sweep(live),
    }
  : local;
const registry = defaultRegistry();
const runbooks = loadRunbookFiles(process.env.RW_RUNBOOKS!.split(','), registry.catalog());
const engine = await Engine.create({ config, runbooks, registry, workspace, stickySteps: 0 });
await serveAsWorkerProcess(engine);
