// The venv cache: keyed by the dependency file's content (and the interpreter), built once, shared by builders that
// race (two processes that both miss: one publishes, the other discards its copy and uses the winner's), a changed
// file gets a new venv, pyproject.toml's [project].dependencies work like a requirements file.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Target } from '../../src/core/types.js';
import { VenvCache } from '../../src/adapters/local/runtime.js';
import { PermanentError } from '../../src/core/errors.js';

let root: string;
before(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'rw-venv-cache-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

function checkout(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(root, 'co-'));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

const target = (runtime: Target['runtime']): Target => ({ name: 'svc', repo: '/x', branch: 'main', modelsDir: 'app', platform: 'local', labels: {}, runtime });

function imports(python: string, mod: string): boolean {
  return spawnSync(python, ['-c', `import ${mod}`], { timeout: 60_000 }).status === 0;
}

test('two builders that race publish one venv; both use it; the loser leaves nothing behind', { timeout: 10 * 60_000 }, async () => {
  const dir = path.join(root, 'race');
  const co = checkout({ 'requirements.txt': 'pydantic>=2\n' });
  const [a, b] = await Promise.all([new VenvCache(dir).resolve(target({ requirements: 'requirements.txt' }), co), new VenvCache(dir).resolve(target({ requirements: 'requirements.txt' }), co)]);
  assert.equal(a.venv!.key, b.venv!.key);
  assert.equal(a.python, b.python, 'the same published venv');
  assert.ok(imports(a.python, 'pydantic'));
  assert.deepEqual(readdirSync(dir).sort(), [a.venv!.key, path.basename(a.venv!.dir)].sort(), 'one link and one folder');
  const again = await new VenvCache(dir).resolve(target({ requirements: 'requirements.txt' }), co);
  assert.equal(again.venv!.built, false);
  assert.equal(again.python, a.python);
});

test('pyproject.toml dependencies; a changed file gets a new venv', { timeout: 10 * 60_000 }, async () => {
  const dir = path.join(root, 'pyproject');
  const co1 = checkout({ 'pyproject.toml': '[project]\nname = "svc"\nversion = "1"\ndependencies = ["typing-extensions"]\n' });
  const one = await new VenvCache(dir).resolve(target({ pyproject: 'pyproject.toml' }), co1);
  assert.equal(one.venv!.built, true);
  assert.ok(imports(one.python, 'typing_extensions'));
  const co2 = checkout({ 'pyproject.toml': '[project]\nname = "svc"\nversion = "1"\ndependencies = ["typing-extensions", "annotated-types"]\n' });
  const two = await new VenvCache(dir).resolve(target({ pyproject: 'pyproject.toml' }), co2);
  assert.notEqual(two.venv!.key, one.venv!.key);
  assert.ok(imports(two.python, 'annotated_types'));
  assert.ok(existsSync(one.python), 'the earlier venv stays for runs still on the old file');
});

test('a package the index does not have: a permanent error naming the file; nothing published', { timeout: 10 * 60_000 }, async () => {
  const dir = path.join(root, 'missing');
  const co = checkout({ 'req.txt': 'runwright-no-such-package-xyz==1.0\n' });
  await assert.rejects(new VenvCache(dir).resolve(target({ requirements: 'req.txt' }), co), (e: unknown) => e instanceof PermanentError && e.code === 'runtime_pip_failed' && /req\.txt/.test(e.message));
  assert.deepEqual(readdirSync(dir), [], 'no half-built venv left');
  await assert.rejects(new VenvCache(dir).resolve(target({ requirements: 'nope.txt' }), co), (e: unknown) => e instanceof PermanentError && e.code === 'runtime_file_missing');
});
