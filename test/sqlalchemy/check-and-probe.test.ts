// The target's check and the runtime probe in one Python process (runCheckAndProbe): the same exit status, the
// same output (Python's own traceback, without the probe's frames) and the same probe answer as running them one
// after the other — with one process instead of two — and whatever the combined run cannot vouch for (exit
// handlers, a check that never imports the models) run on its own. Real git, real SQLAlchemy, the real sandbox.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createSampleService } from '../../src/demo/sample-service.js';
import { runCheckAndProbe, runProbe, type Probed } from '../../src/actions/sqlalchemy/lib/probe.js';
import { runCheck } from '../../src/actions/sqlalchemy/lib/tool.js';
import type { Target } from '../../src/core/types.js';
import { LocalProcess } from '../../src/adapters/local/process.js';
import { RunwrightError } from '../../src/core/errors.js';
import { actionContext } from '../helpers/action-ctx.js';

const CHECK = 'import app.models; from sqlalchemy.orm import configure_mappers; configure_mappers()';

/** A LocalProcess that counts the target processes it starts. */
class CountingProcess extends LocalProcess {
  targetRuns = 0;
  override async runTarget(...a: Parameters<LocalProcess['runTarget']>) {
    this.targetRuns++;
    return super.runTarget(...a);
  }
}

/** The probe's answer without what names the caller (the outer frames of a traceback differ by design). */
function comparable(p: Probed | null): unknown {
  if (!p?.ok) return p;
  const f = p.probe.failure ? { ...p.probe.failure, traceback: p.probe.failure.traceback.filter((t) => t.inRepo || /sqlalchemy/.test(t.file)).map((t) => t.name) } : null;
  return { ...p.probe, failure: f };
}

async function both(target: Target, dir: string) {
  const proc = new CountingProcess();
  const ctx = actionContext({ target, ports: { proc } });
  const combined = await runCheckAndProbe(ctx, dir);
  const combinedRuns = proc.targetRuns;
  proc.targetRuns = 0;
  const check = await runCheck(ctx, dir);
  const probed = await runProbe(ctx, dir);
  return { combined, combinedRuns, alone: { check, probed }, aloneRuns: proc.targetRuns };
}

test('the check and the probe in one process: same status, output and answer as one after the other', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'rw-chkprobe-'));
  try {
    const svc = await createSampleService(path.join(root, 'origin'));
    const repo = path.join(root, 'repo');
    execFileSync('git', ['clone', '-q', svc.remote, repo]);
    const target: Target = { ...svc.target, check: { command: ['python', '-c', CHECK], cwd: 'backend' } };

    // The seed: the check fails configuring Organization.feature_flags.
    const seed = await both(target, repo);
    assert.equal(seed.combinedRuns, 1, 'one target process for the check and the probe');
    assert.equal(seed.aloneRuns, 2);
    assert.equal(seed.combined.check.passed, false);
    assert.equal(seed.combined.check.exitCode, seed.alone.check.exitCode);
    assert.equal(seed.combined.check.output, seed.alone.check.output, 'the same traceback, none of the probe\'s frames');
    assert.match(seed.combined.check.output, /\nTraceback \(most recent call last\):\n {2}File "<string>", line 1, in <module>\n {2}File "[^"]*sqlalchemy\/orm\/mapper\.py"/);
    assert.doesNotMatch(seed.combined.check.output, /sqla_probe/);
    assert.equal(seed.combined.check.runtime?.withProbe, true);
    assert.deepEqual(seed.combined.check.argv, seed.alone.check.argv);
    assert.ok(seed.combined.probed.ok && seed.combined.probed.probe.failure?.property === 'Organization.feature_flags');
    assert.deepEqual(comparable(seed.combined.probed), comparable(seed.alone.probed));

    // The fixed tree passes; what is mapped is read before the check's own configure (no backrefs added).
    const org = path.join(repo, 'backend', 'app', 'models', 'organization.py');
    writeFileSync(org, readFileSync(org, 'utf8').replace(/ {4}feature_flags = relationship\([\s\S]*?\n {4}\)\n/, ''));
    const fixed = await both(target, repo);
    assert.equal(fixed.combinedRuns, 1);
    assert.equal(fixed.combined.check.passed, true, fixed.combined.check.output);
    assert.equal(fixed.combined.check.output, fixed.alone.check.output);
    assert.deepEqual(comparable(fixed.combined.probed), comparable(fixed.alone.probed));

    // A check that never imports the models: its own exit status and output; the probe then runs on its own.
    const exit3 = await both({ ...target, check: { command: ['python', '-c', 'import sys; print("out"); print("err", file=sys.stderr); sys.exit(3)'], cwd: 'backend' } }, repo);
    assert.equal(exit3.combined.check.exitCode, 3);
    assert.equal(exit3.combined.check.output, 'out\n\nerr\n');
    assert.equal(exit3.combined.check.output, exit3.alone.check.output);
    assert.equal(exit3.combinedRuns, 2, 'the probe ran on its own');
    assert.deepEqual(comparable(exit3.combined.probed), comparable(exit3.alone.probed));

    // A check whose exit handler prints: only a process of its own ends like that, so it runs on its own.
    const atexit = await both({ ...target, check: { command: ['python', '-c', `import atexit; atexit.register(print, "bye"); ${CHECK}`], cwd: 'backend' } }, repo);
    assert.match(atexit.combined.check.output, /bye/);
    assert.equal(atexit.combined.check.output, atexit.alone.check.output);
    assert.equal(atexit.combined.check.runtime?.withProbe, undefined);
    assert.equal(atexit.combinedRuns, 3, 'the combined try, then the check and the probe on their own');

    // Flags before -c, or another interpreter: never combined.
    const flags = await both({ ...target, check: { command: ['python', '-W', 'error', '-c', CHECK], cwd: 'backend' } }, repo);
    assert.equal(flags.combinedRuns, 2);

    // The check keeps its own deadline inside the combined run.
    const slow = actionContext({ target: { ...target, check: { command: ['python', '-c', 'import time; time.sleep(60)'], cwd: 'backend', timeoutMs: 1500 } } });
    const t0 = Date.now();
    await assert.rejects(runCheckAndProbe(slow, repo), (e: unknown) => e instanceof RunwrightError && e.code === 'check_timeout');
    assert.ok(Date.now() - t0 < 30_000);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
