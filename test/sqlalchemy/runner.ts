// Calls sqlalchemy.* and git.* actions one by one with a real ActionContext, as the engine would: a shared run id
// and workdir; each call is its own step, its output recorded for the next.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Action, ActionContext } from '../../src/core/action.js';
import { actions as sqlaActions } from '../../src/actions/sqlalchemy/index.js';
import { actions as gitActions } from '../../src/actions/git/index.js';
import { actionContext, testAlert } from '../helpers/action-ctx.js';
import type { Service } from './helpers.js';

export const all = new Map<string, Action>([...sqlaActions, ...gitActions].map((a) => [a.name, a]));

export function runner(svc: Pick<Service, 'target'>, alert = '') {
  const runId = `r${Math.random().toString(36).slice(2, 10)}`;
  const workdir = mkdtempSync(path.join(os.tmpdir(), 'rw-sqla-act-'));
  const steps: ActionContext['steps'] = {};
  return {
    workdir,
    ctx(stepId: string, visit = 1): ActionContext {
      const c = actionContext({ target: svc.target, alert: testAlert(alert), runId, stepId, workdir, steps });
      return { ...c, step: { id: stepId, visit, attempt: 1 }, idempotencyKey: `${runId}.${stepId}.${visit}` };
    },
    async call(name: string, stepId: string, params: unknown, visit = 1): Promise<any> {
      const a = all.get(name)!;
      const parsed = a.params.safeParse(params);
      if (!parsed.success) throw new Error(`bad params for ${name}: ${JSON.stringify(parsed.error.issues)}`);
      const out = await a.run(parsed.data, this.ctx(stepId, visit));
      steps[stepId] = { status: 'succeeded', output: out as any, visit, attempt: 1 };
      return JSON.parse(JSON.stringify(out));
    },
  };
}
