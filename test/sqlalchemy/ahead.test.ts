// sqlalchemy.confirm analyses the head and dry-runs every fix in one tool process while the check runs, and keeps
// the answers in the run's folder (a cache, keyed by checkout, models folder and tool version): sqlalchemy.inspect
// and sqlalchemy.plan_fix on the same worker use them instead of a tool process each. These tests hold the cache to
// what it claims: its answers give exactly the outputs the tool gives when asked anew (another worker, where the
// cache is not), and nothing is kept when the run's clone is not exactly at the head.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupServices, isSkip, pythonFor, scenarios, service, type PythonEnv } from './helpers.js';
import { runner } from './runner.js';

after(() => cleanupServices());

const py14 = pythonFor(scenarios()[0]!, '1.4');
const skip = isSkip(py14) ? py14.skip : false;
const scn = (name: string) => scenarios().find((s) => s.name === name)!;

/** An output without the field saying where its answers came from. */
const bare = (o: Record<string, unknown>, field: string) => Object.fromEntries(Object.entries(o).filter(([k]) => k !== field));

describe('the analysis and dry runs made ahead by confirm', { skip }, () => {
  for (const name of ['missing_class', 'two_missing_classes', 'backpop_missing', 'fk_bad_attr', 'referenced_model_b']) {
    test(`${name}: inspect and plan give the same outputs from the answers made ahead as from the tool asked anew`, async () => {
      const svc = service(scn(name), py14 as PythonEnv);
      const r = runner(svc);
      const co = await r.call('git.checkout', 'checkout', {});
      const cf = await r.call('sqlalchemy.confirm', 'confirm', { head: co.head });
      assert.equal(cf.healthy, false, name);
      const aheadDir = path.join(r.workdir, '.rw-ahead');
      assert.equal(readdirSync(aheadDir).filter((f) => f.endsWith('.json')).length, 1, 'one answer file, written whole');

      const inspectParams = { checkout: cf.checkout, mapper: cf.mapper?.class ?? null, cause: cf.cause, failure: cf.failure };
      const ins = await r.call('sqlalchemy.inspect', 'inspect', inspectParams);
      assert.equal(ins.analysisFrom, 'confirm');
      const planParams = { checkout: cf.checkout, mapper: ins.mapper?.class ?? null, problems: ins.problems, explained: ins.explained, failure: cf.failure };
      const plan = await r.call('sqlalchemy.plan_fix', 'plan', planParams);
      // the dry runs apply when B would disable the one class the problems are in (or no model is named)
      const owners = [...new Set(ins.problems.map((x: { class: string }) => x.class))];
      const model = planParams.mapper ?? (owners.length === 1 ? owners[0] : null);
      if (plan.explained) assert.equal(plan.dryRunsFrom, model === null || (owners.length === 1 && owners[0] === model) ? 'confirm' : 'plan', name);

      // Another worker: no answers kept there; the tool is asked, and says the same.
      rmSync(aheadDir, { recursive: true, force: true });
      const ins2 = await r.call('sqlalchemy.inspect', 'inspect', inspectParams);
      assert.equal(ins2.analysisFrom, 'inspect');
      assert.deepEqual(bare(ins2, 'analysisFrom'), bare(ins, 'analysisFrom'));
      const plan2 = await r.call('sqlalchemy.plan_fix', 'plan', planParams);
      if (plan.explained) assert.equal(plan2.dryRunsFrom, 'plan');
      assert.deepEqual(bare(plan2, 'dryRunsFrom'), bare(plan, 'dryRunsFrom'));
    });
  }

  test('forcing another model for B: plan asks the tool (the B made ahead disables the one class the problems are in)', async () => {
    const svc = service(scn('missing_class'), py14 as PythonEnv);
    const r = runner(svc);
    const co = await r.call('git.checkout', 'checkout', {});
    const cf = await r.call('sqlalchemy.confirm', 'confirm', { head: co.head });
    const ins = await r.call('sqlalchemy.inspect', 'inspect', { checkout: cf.checkout, mapper: cf.mapper.class, cause: cf.cause, failure: cf.failure });
    const plan = await r.call('sqlalchemy.plan_fix', 'plan', { checkout: cf.checkout, mapper: 'User', problems: ins.problems, explained: ins.explained, failure: cf.failure });
    assert.equal(plan.dryRunsFrom, 'plan');
    assert.equal(plan.model, 'User');
  });

  test('a clone that is not exactly at the head keeps nothing ahead: inspect and plan read the tree themselves', async () => {
    const svc = service(scn('missing_class'), py14 as PythonEnv);
    const r = runner(svc);
    const co = await r.call('git.checkout', 'checkout', {});
    writeFileSync(path.join(r.workdir, co.checkout, 'backend', 'app', 'models', 'stray.py'), 'x = 1\n');
    const cf = await r.call('sqlalchemy.confirm', 'confirm', { head: co.head });
    assert.equal(cf.healthy, false);
    assert.equal(existsSync(path.join(r.workdir, '.rw-ahead')), false);
    const ins = await r.call('sqlalchemy.inspect', 'inspect', { checkout: cf.checkout, mapper: cf.mapper.class, cause: cf.cause, failure: cf.failure });
    assert.equal(ins.analysisFrom, 'inspect');
    assert.ok(!ins.modules.some((m: { path: string }) => m.path.endsWith('stray.py')), 'the worktree of the head was inspected, not the clone');
  });
});
