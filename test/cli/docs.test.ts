// The documents a newcomer follows: the example targets file loads and its gcp target has a repo URL Cloud Build can
// fetch (HTTPS); PRODUCTION.md creates the secrets before the IAM step binds them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadTargets } from '../../src/config/targets.js';
import { ROOT } from './helpers.js';

test('runwright.targets.yaml.example loads; its gcp targets use an https repo URL', () => {
  const targets = [...loadTargets(path.join(ROOT, 'runwright.targets.yaml.example')).values()];
  assert.ok(targets.length >= 1);
  for (const t of targets.filter((x) => x.platform === 'gcp')) assert.match(t.repo, /^https:\/\//, t.name);
});

test('PRODUCTION.md: secrets are created before the IAM step binds them', () => {
  const doc = readFileSync(path.join(ROOT, 'docs', 'PRODUCTION.md'), 'utf8');
  const secrets = doc.search(/^## \d+\. Secrets/m);
  const iam = doc.search(/^## \d+\. Service accounts and IAM/m);
  assert.ok(secrets > 0 && iam > 0 && secrets < iam, 'the Secrets section comes before the IAM section');
  assert.ok(doc.indexOf('gcloud secrets create runwright-targets') < doc.indexOf('bash deploy/iam.sh'), 'secrets created before iam.sh is run');
});
