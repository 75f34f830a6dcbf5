// Builds a real ActionContext for calling one action directly in a test (no engine).
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ActionContext } from '../../src/core/action.js';
import type { Alert, Target } from '../../src/core/types.js';
import type { Ports } from '../../src/ports/index.js';
import { createPorts } from '../../src/adapters/index.js';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/logging.js';
import { resolveInside } from '../../src/core/safe-path.js';
import { MAIN_CHECKOUT, checkoutRel } from '../../src/core/workspace.js';

export function testAlert(text: string, extra: Partial<Alert> = {}): Alert {
  return { source: 'test', fingerprint: 'fp-test', severity: 'error', text, labels: {}, receivedAt: new Date().toISOString(), ...extra };
}

export function actionContext(opts: { target: Target; alert?: Alert; ports?: Partial<Ports>; steps?: ActionContext['steps']; inputs?: ActionContext['inputs']; approval?: ActionContext['approval']; stepId?: string; runId?: string; dryRun?: boolean; workdir?: string }): ActionContext {
  const runId = opts.runId ?? `run${Math.random().toString(36).slice(2, 10)}`;
  const stepId = opts.stepId ?? 'step';
  const progress: string[] = [];
  const workdir = opts.workdir ?? mkdtempSync(path.join(os.tmpdir(), 'rw-ctx-'));
  const ctx: ActionContext & { progressLines: string[] } = {
    run: { id: runId, runbookId: 'test', runbookHash: 'test', dryRun: opts.dryRun ?? false },
    step: { id: stepId, visit: 1, attempt: 1 },
    idempotencyKey: `${runId}.${stepId}.1`,
    logger: silentLogger(),
    signal: new AbortController().signal,
    alert: opts.alert ?? testAlert(''),
    target: opts.target,
    inputs: opts.inputs ?? {},
    steps: opts.steps ?? {},
    approval: opts.approval,
    workdir,
    // No engine here, so no manifest: the run's checkouts are the git checkouts in its folder (the same name rules).
    checkout: async (name: string) => resolveInside(workdir, checkoutRel(name, (rel) => rel === MAIN_CHECKOUT || existsSync(path.join(resolveInside(workdir, rel), '.git')))),
    ports: createPorts(loadConfig({}), opts.target.platform, opts.ports),
    progress: async (m: string) => { progress.push(m); },
    progressLines: progress,
  };
  return ctx;
}
