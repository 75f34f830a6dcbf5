// Where the Python helpers live: python/<file> at the project root (beside src/, and beside dist/ in a build).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PermanentError } from '../../core/errors.js';

export function pythonToolPath(file: 'sqla_tool.py' | 'sqla_probe.py' | 'alembic_tool.py'): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const up of ['../../../python', '../../../../python']) {
    const p = path.resolve(here, up, file);
    if (existsSync(p)) return p;
  }
  throw new PermanentError(`python/${file} not found next to the runwright sources`, 'tool_missing');
}
