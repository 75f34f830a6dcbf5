// Starting a run by hand in a real browser: an approver picks the runbook and target, picks a recent alert (or
// pastes one), sees the dry-run plan (each step's line, nothing written), then starts the run and lands on its
// page; a viewer sees why they cannot, and the API refuses them anyway.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { postAlert, signIn, TOKENS, useDashboard } from './helpers.js';

const { srv: srvOf, browser: browserOf } = useDashboard();

const TEXT = 'disk usage 94% on /var/lib/data (billing-db-7)';

test('an approver picks a recent alert, sees the dry-run plan, then starts the run', async () => {
  // a recent alert in the intake log, to pick from the list
  const res = await postAlert(srvOf().url, { text: TEXT, severity: 'warning', labels: { service: 'billing' }, inputs: { stepMs: 20 } });
  await srvOf().engine.waitForEnd(res[0]!.runId!, 20_000);

  const page = await browserOf().newPage();
  await signIn(page, srvOf().url, TOKENS.alice);
  await page.click('#new-run');
  await page.waitForURL(/\/dashboard\/new$/);
  await page.waitForSelector('#nr-form');
  const recentIndex = await page.$$eval('#nr-recent option', (os, t) => os.findIndex((o) => (o.textContent ?? '').includes(t as string)) - 1, TEXT.slice(0, 40));
  assert.ok(recentIndex >= 0, 'the recent alert is offered');
  await page.selectOption('#nr-recent', String(recentIndex));
  assert.equal(await page.inputValue('#nr-alert'), TEXT);
  assert.equal(await page.inputValue('#nr-runbook'), 'disk-pressure', 'the runbook it matched is preselected');
  assert.equal(await page.inputValue('#nr-target'), 'billing');
  assert.equal(await page.isDisabled('#nr-start'), true, 'no start before the plan');

  const before = (await srvOf().engine.store.list({ limit: 100 })).runs.length;
  await page.click('#nr-plan');
  await page.waitForSelector('#nr-plan-steps li[data-step="done"]', { timeout: 30_000 });
  assert.equal(await page.getAttribute('#nr-plan-outcome', 'data-status'), 'succeeded');
  assert.deepEqual(await page.$$eval('#nr-plan-steps li', (ls) => ls.map((l) => `${l.getAttribute('data-step')}:${l.getAttribute('data-tone')}`)), ['measure:good', 'clear_cache:good', 'check:good', 'done:good']);
  assert.match((await page.textContent('#nr-plan-card')) ?? '', /DRY RUN — nothing written/);
  const runs1 = (await srvOf().engine.store.list({ limit: 100 })).runs;
  assert.equal(runs1.length, before + 1);
  const dry = runs1.find((r) => r.dryRun)!;
  assert.ok(dry, 'the plan is a dry run');
  assert.equal((await srvOf().engine.store.get(dry.id))!.alert.text, TEXT);

  assert.equal(await page.isDisabled('#nr-start'), false);
  await page.click('#nr-start');
  await page.waitForURL(/\/dashboard\/runs\/[A-Za-z0-9_-]+$/);
  const runId = decodeURIComponent(page.url().split('/').pop()!);
  const run = await srvOf().engine.waitForEnd(runId, 20_000);
  assert.equal(run.dryRun, false);
  assert.equal(run.runbookId, 'disk-pressure');
  assert.equal(run.target.name, 'billing');
  assert.equal(run.alert.text, TEXT);
  assert.equal(run.status, 'succeeded');
  await page.waitForSelector('body[data-status="succeeded"]');
  assert.deepEqual(browserOf().problems, []);
});

test('a viewer is told the role it needs, and the API refuses the start', async () => {
  const page = await browserOf().newPage();
  await signIn(page, srvOf().url, TOKENS.viewer);
  assert.equal(await page.locator('#new-run').count(), 0, 'no start link for a viewer');
  await page.goto(`${srvOf().url}/dashboard/new`);
  await page.waitForSelector('#nr-role');
  assert.match((await page.textContent('#nr-role')) ?? '', /needs the approver role/);
  assert.equal(await page.isDisabled('#nr-plan'), true);
  const res = await fetch(`${srvOf().url}/api/runs`, { method: 'POST', headers: { authorization: `Bearer ${TOKENS.viewer}`, 'content-type': 'application/json' }, body: JSON.stringify({ runbook: 'disk-pressure', target: 'billing', text: TEXT, dryRun: true }) });
  assert.equal(res.status, 403);
});
