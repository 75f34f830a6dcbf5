// filesDefining: where a checkout defines a class, read as text (no target code runs), with the name compared as a
// string — it comes from alert text. Folders that hold no code of the repo's own are skipped, symlinks not followed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { classDefined, filesDefining } from '../../src/actions/sqlalchemy/lib/uncovered.js';

test('classDefined reads the class a line defines, at any indentation, and nothing else', () => {
  assert.equal(classDefined('class Report(Base):'), 'Report');
  assert.equal(classDefined('    class Inner:'), 'Inner');
  assert.equal(classDefined('class Généré(Base, Mixin):'), 'Généré');
  assert.equal(classDefined('class Box[T](Base):'), 'Box');
  assert.equal(classDefined('\tclass  Spaced (Base):'), 'Spaced');
  for (const l of ['classes = []', '# class Report(Base):', 'x = "class Report"', 'subclass Report:', 'class', 'class (:']) assert.equal(classDefined(l), null, l);
});

test('filesDefining finds the defining .py files (repo-relative, sorted), skipping venvs, .git and symlinks', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'rw-uncovered-'));
  const outside = mkdtempSync(path.join(os.tmpdir(), 'rw-uncovered-out-'));
  try {
    const write = (rel: string, text: string) => {
      mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      writeFileSync(path.join(root, rel), text);
    };
    write('backend/app/reports.py', 'from x import Base\n\n\nclass Report(Base):\r\n    pass\n');
    write('backend/app/models/report_view.py', 'class ReportView(Base):\n    """not a Report"""\n');
    write('backend/app/models/legacy.py', '# class Report(Base): was here\nname = "class Report(Base):"\n');
    write('backend/.venv/lib/site.py', 'class Report: pass\n');
    write('.git/hooks/x.py', 'class Report: pass\n');
    write('backend/app/report.txt', 'class Report(Base):\n');
    writeFileSync(path.join(outside, 'elsewhere.py'), 'class Report: pass\n');
    symlinkSync(outside, path.join(root, 'backend', 'linked'));
    assert.deepEqual(await filesDefining(root, 'Report'), ['backend/app/reports.py']);
    assert.deepEqual(await filesDefining(root, 'ReportView'), ['backend/app/models/report_view.py']);
    assert.deepEqual(await filesDefining(root, 'Nowhere'), []);
    assert.deepEqual(await filesDefining(root, '.*'), [], 'a pattern is just a name that is nowhere');
    assert.deepEqual(await filesDefining(path.join(root, 'missing'), 'Report'), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  }
});
