// `dir` is deprecated (steps name checkouts, not paths) but accepted for one release: `runwright validate` passes a
// runbook that still hands steps a path, and warns once per such param with its file, line and step. No runbook in
// the repo (runbooks/, test and bench runbooks, the demo's deploy tail, the docs' examples) passes a `dir` any more.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { cli, ROOT } from './helpers.js';
import { oldStyleRunbook } from '../helpers/old-style-runbook.js';
import { DEPLOY_TAIL_STEPS } from '../../src/demo/deploy-tail.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rw-validate-dep-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const RUNBOOKS = ['sqlalchemy-mapper-failure', 'alembic-autogenerate-failure'];

test('validate: an old-style runbook is ok, with one deprecation warning per dir naming file, line and step', { timeout: 120_000 }, async () => {
  const files = RUNBOOKS.map((id) => {
    const old = oldStyleRunbook(path.join(ROOT, 'runbooks', `${id}.yaml`));
    const f = path.join(dir, `${id}.yaml`);
    writeFileSync(f, old.source);
    return { f, old };
  });
  const r = await cli(['validate', ...files.map((x) => x.f)]);
  assert.equal(r.code, 0, r.stderr);
  for (const { f } of files) assert.match(r.stdout, new RegExp(`^ok +${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} `, 'm'));
  const warnings = r.stderr.trim().split('\n').filter(Boolean);
  assert.equal(warnings.length, files.reduce((n, x) => n + x.old.steps.length, 0), r.stderr);
  for (const { f, old } of files) {
    const lines = old.source.split('\n');
    for (const step of old.steps) {
      const w = warnings.find((l) => l.startsWith(`warning ${f}:`) && l.includes(` step '${step}' `));
      assert.ok(w, `${step} in ${f}: ${r.stderr}`);
      const m = /^warning [^:]+:(\d+): step '[\w]+' \(steps\[\d+\]\.with\.dir\) 'dir' of ([\w.]+) is deprecated: .*accepted for one release; name the checkout instead/.exec(w);
      assert.ok(m, w);
      assert.match(lines[Number(m[1]) - 1]!, /^\s+dir: /, `line ${m[1]} of ${f} is the dir`);
    }
  }
  const j = await cli(['validate', '--json', files[0]!.f]);
  assert.equal(j.code, 0);
  const [res] = JSON.parse(j.stdout);
  assert.equal(res.ok, true);
  assert.deepEqual(res.warnings.map((w: { step: string }) => w.step), files[0]!.old.steps);
});

test('validate: the repo\'s runbooks pass with no warning', { timeout: 120_000 }, async () => {
  const r = await cli(['validate', ...RUNBOOKS.map((id) => path.join(ROOT, 'runbooks', `${id}.yaml`))]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
});

/** Every runbook YAML in the repo (broken ones included: they are runbooks too). */
function repoRunbooks(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name.startsWith('.') || e.name === 'deploy') continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(e.name)) out.push(p);
    }
  };
  walk(ROOT);
  return out;
}

const stepsWithDir = (steps: unknown): string[] =>
  Array.isArray(steps) ? steps.filter((s) => s && typeof s === 'object' && s.with && typeof s.with === 'object' && 'dir' in s.with).map((s) => String(s.id)) : [];

test('no runbook in the repo, nor the demo\'s deploy tail or a docs example, hands a step a dir', () => {
  const files = repoRunbooks();
  assert.ok(files.some((f) => f.endsWith(path.join('runbooks', 'sqlalchemy-mapper-failure.yaml'))));
  for (const f of files) {
    let doc: { steps?: unknown } | null = null;
    try {
      doc = YAML.parse(readFileSync(f, 'utf8'));
    } catch {
      continue; // a deliberately broken test runbook
    }
    assert.deepEqual(stepsWithDir(doc?.steps), [], f);
  }
  assert.deepEqual(stepsWithDir(DEPLOY_TAIL_STEPS), [], 'src/demo/deploy-tail.ts');
  for (const md of ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((n) => n.endsWith('.md')).map((n) => path.join('docs', n))]) {
    const text = readFileSync(path.join(ROOT, md), 'utf8');
    assert.ok(!/^\s+dir: "?\{\{/m.test(text), `${md} hands a step a dir`);
    assert.ok(!/steps\.\w+\.output\.dir\b/.test(text), `${md} reads a step's output.dir`);
  }
});

test('serve: the start-up report carries every deprecation warning of the runbooks it loaded', async () => {
  const { startupReport } = await import('../../src/cli/main.js');
  const { loadConfig } = await import('../../src/config/config.js');
  const { loadRunbooksDir } = await import('../../src/core/runbook.js');
  const { defaultRegistry } = await import('../../src/actions/index.js');
  const rbDir = mkdtempSync(path.join(dir, 'serve-'));
  const old = oldStyleRunbook(path.join(ROOT, 'runbooks', 'sqlalchemy-mapper-failure.yaml'));
  writeFileSync(path.join(rbDir, 'sqlalchemy-mapper-failure.yaml'), old.source);
  const runbooks = loadRunbooksDir(rbDir, defaultRegistry().catalog());
  const lines = startupReport(loadConfig({ RUNWRIGHT_RUNBOOKS: rbDir }), { runbooks, targets: new Map() }, 'worker');
  const warned = lines.filter((l) => l.startsWith('warning ') && l.includes("'dir' of "));
  assert.equal(warned.length, old.steps.length, lines.join('\n'));
  for (const step of old.steps) assert.ok(warned.some((l) => l.includes(` step '${step}' `)), `${step}: ${lines.join('\n')}`);
});
