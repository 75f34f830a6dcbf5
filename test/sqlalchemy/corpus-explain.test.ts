// Every corpus case at the tool level, with real SQLAlchemy 1.4 and 2.x: what the check prints is readable
// (lib/error-text.ts reads every kind in both wordings, generated here, never copied), and for every case the
// runbook must fix, a problem python/sqla_tool.py found EXPLAINS that failure (inspect's explains(): what
// plan_fix requires before it offers any fix); for the escalation cases none does. Fix C, where every found
// problem has a repair, leaves a tree that passes the check.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSqlalchemyError } from '../../src/actions/sqlalchemy/lib/error-text.js';
import { explains } from '../../src/actions/sqlalchemy/inspect.js';
import type { Problem } from '../../src/actions/sqlalchemy/lib/types.js';
import { CHECK_CODE } from '../fixtures/sqlalchemy/generate.js';
import { caseFiles, corpus, MODELS_DIR } from '../fixtures/sqlalchemy/corpus.js';
import { debianPython, flaskPython, isSkip, type PythonEnv } from '../fixtures/sqlalchemy/python-env.js';

const TOOL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../python/sqla_tool.py');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'rw-sqla-explain-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function tree(files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(path.join(tmp, 'c-'));
  for (const [rel, t] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), t);
  }
  return dir;
}

function check(dir: string, python: string) {
  return spawnSync(python, ['-c', CHECK_CODE], { cwd: path.join(dir, 'backend'), encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
}

function tool(req: object): any {
  const r = spawnSync('/usr/bin/python3', ['-I', '-B', TOOL], { input: JSON.stringify(req), encoding: 'utf8' });
  const out = JSON.parse(r.stdout);
  return out;
}

// The cause kind each corpus case's check output reads as (real SQLAlchemy decides; this pins the reader).
const CAUSE: Record<string, string | null> = {
  missing_class_seed: 'missing_name',
  misspelled_class_one_close: 'missing_name',
  misspelled_class_two_close: 'missing_name',
  flask_misspelled: 'missing_name',
  flask_backpop_wrong: 'no_property',
  flask_missing_class: 'missing_name',
  flask_ambiguous_fk: 'join_condition',
  flask_secondary_typo: 'missing_name',
  primaryjoin_and_typo: 'unknown_column',
  nested_stale_module_path: 'missing_name',
  nested_relative_backpop: 'no_property',
  nested_missing_module_class: 'missing_name',
  secondary_string_typo: 'missing_name',
  secondary_string_unknown: 'missing_name',
  secondary_object_undefined: 'name_error',
  primaryjoin_typo: 'unknown_column',
  order_by_typo: 'unknown_column',
  order_by_unknown: 'unknown_column',
  mixin_declared_attr_typo: 'missing_name',
  mixin_declared_attr_missing: 'missing_name',
  several_files_repairable: null, // which of the three SQLAlchemy meets first depends on its configure order
  several_files_mixed: null,
  typed_list_misspelled: 'missing_name',
  typed_optional_union_string: 'missing_name',
  typed_writeonly_backpop: 'no_property',
  typed_dataclass_backpop: 'no_property',
  typed_missing_class: 'missing_name',
  ambiguous_fk_named: 'join_condition',
  ambiguous_fk_unnamed: 'join_condition',
  no_foreign_keys: 'join_condition',
  runtime_loader_backpop: 'no_property',
  runtime_loader_missing: 'missing_name',
  crlf_backpop: 'no_property',
  bom_tabs_missing: 'missing_name',
  alert_json_logger_entry_list: 'no_property',
  lambda_target_missing: 'name_error',
  escalate_no_primary_key: 'no_primary_key',
  escalate_fk_unknown_table: null,
  qualified_class_typo: 'missing_name',
  colliding_unqualified: 'ambiguous_name',
  colliding_module_typo: 'missing_name',
  secondary_module_not_imported: 'missing_name',
  remote_side_case_typo: 'unknown_column',
  self_ref_backpop_typo: 'no_property',
  unicode_class_typo: 'missing_name',
  mixed_missing_and_typo: null, // which of the two SQLAlchemy meets first depends on its configure order
};

const envs: [string, PythonEnv | { skip: string }][] = [
  ['1.4', debianPython()],
  ['2.x', flaskPython()],
];

for (const [line, py] of envs) {
  describe(`corpus at the tool level, SQLAlchemy ${line}`, () => {
    for (const c of corpus()) {
      if (line === '1.4' && c.flavor !== 'classic') continue;
      // the repo there is repairable: the run escalates because the alert is another incident (runbook-level)
      if (c.alert === 'db-error') continue;
      test(`${c.name}: readable, explained${c.expect === 'escalated' ? ' by nothing' : ''}`, { skip: isSkip(py) ? py.skip : false }, () => {
        const python = (py as PythonEnv).python;
        const dir = tree(caseFiles(c).broken);
        const r = check(dir, python);
        assert.notEqual(r.status, 0);
        const reading = readSqlalchemyError(r.stderr);
        if (CAUSE[c.name] !== null) assert.equal(reading.cause?.kind ?? null, CAUSE[c.name], r.stderr.slice(-600));
        assert.equal(reading.refused, 0);
        const a = tool({ cmd: 'analyze', root: dir, models_dir: MODELS_DIR });
        assert.equal(a.ok, true, JSON.stringify(a.error));
        const problems = a.problems as Problem[];
        const explaining = reading.cause ? problems.filter((p) => explains(reading.cause!, p)) : [];
        if (c.expect === 'escalated') {
          assert.deepEqual(explaining, [], 'nothing explains it');
          assert.deepEqual(problems, [], 'and nothing is found: no fix is offered');
          return;
        }
        assert.ok(explaining.length > 0, `a found problem explains ${JSON.stringify(reading.cause)}; found ${JSON.stringify(problems.map((p) => [p.class, p.attr, p.kind]))}`);
        // every problem found is real: after fixing them all (C where each has a repair, else A) the check passes
        const fix = problems.every((p) => p.repair) ? 'C' : 'A';
        const f = tool({ cmd: 'fix', fix, root: dir, models_dir: MODELS_DIR });
        assert.equal(f.ok, true, JSON.stringify(f.error));
        const after = check(dir, python);
        assert.equal(after.status, 0, `fix ${fix}: ${after.stderr.slice(-600)}`);
      });
    }
  });
}
