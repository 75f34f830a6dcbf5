// The seed incident's alert text as the broken sample service really prints it: its check, run once on a clone.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { createSampleService } from '../../src/demo/sample-service.js';

export async function seedAlertText(root: string, python: string): Promise<string> {
  const svc = await createSampleService(path.join(root, 'probe'), { name: 'probe', python });
  spawnSync('git', ['clone', '-q', svc.remote, path.join(root, 'probe', 'clone')]);
  const r = spawnSync(python, ['-c', 'import app.models; from sqlalchemy.orm import configure_mappers; configure_mappers()'], { cwd: path.join(root, 'probe', 'clone', 'backend'), encoding: 'utf8' });
  const text = `${r.stderr}`.trim().split('\n').filter((l) => /sqlalchemy|Error/.test(l)).slice(-1)[0] ?? '';
  assert.match(text, /failed to locate a name/, `the seed service fails as the seed says: ${r.stderr}`);
  return text;
}
