// Ends are coloured by their end status, in a real browser: an `end: failed` step and a deploy whose execution
// failed are red with ✕ (never green ✓), an `end: escalated` step is an escalation (⚑), a dry run is marked; the
// incident report opens from the run page and is served at GET /api/runs/:id/report (viewer and up).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { signIn, TOKENS, useDashboard } from './helpers.js';
import type { Alert } from '../../src/core/types.js';

const { srv: srvOf, browser: browserOf } = useDashboard();

const alert = (text: string): Alert => ({ source: 'test', fingerprint: `fp-${Math.random().toString(36).slice(2)}`, severity: 'error', text, labels: {}, receivedAt: new Date().toISOString() });

async function submit(runbookId: string, inputs: Record<string, unknown>, dryRun = false): Promise<string> {
  const res = await srvOf().engine.submit({ runbookId, target: 'billing', alert: alert(`${runbookId} deploy outcome`), inputs: inputs as never, dryRun });
  assert.equal(res.result, 'created');
  const id = res.run.id;
  await srvOf().engine.waitForEnd(id, 30_000);
  return id;
}

async function node(page: Page, step: string): Promise<{ state: string; icon: string; fill: string; label: string }> {
  return page.$eval(`.node[data-step="${step}"]`, (el) => ({
    state: el.getAttribute('data-state') ?? '',
    icon: el.querySelector('.icon')?.textContent ?? '',
    fill: getComputedStyle(el.querySelector('.box')!).fill,
    label: el.getAttribute('aria-label') ?? '',
  }));
}

const RED = 'rgb(200, 50, 31)';
const GREEN = 'rgb(26, 127, 69)';
const PURPLE = 'rgb(124, 58, 237)';

test('a failed execution and an end: failed are red ✕, an end: escalated is ⚑, a good end is green; timeline agrees', async () => {
  const failed = await submit('deploy-outcome', { execStatus: 'failed' });
  const cured = await submit('deploy-outcome', { execStatus: 'succeeded' });
  const escalated = await submit('disk-pressure', { stepMs: 10, after: 91 });
  assert.equal((await srvOf().engine.store.get(failed))!.status, 'failed');
  assert.equal((await srvOf().engine.store.get(escalated))!.status, 'escalated');

  const page = await browserOf().newPage();
  await signIn(page, srvOf().url, TOKENS.viewer);

  await page.goto(`${srvOf().url}/dashboard/runs/${failed}`);
  await page.waitForSelector('.node[data-step="not_cured"][data-state="failed"]');
  for (const step of ['deploy', 'not_cured']) {
    const n = await node(page, step);
    assert.equal(n.state, 'failed', step);
    assert.equal(n.icon, '✕', step);
    assert.equal(n.fill, RED, step);
    assert.match(n.label, /: Failed/, step);
  }
  assert.equal(await page.getAttribute('tr[data-step="not_cured"]', 'data-result'), 'failed');
  assert.equal(await page.getAttribute('tr[data-step="deploy"]', 'data-result'), 'failed');
  assert.equal(await page.locator('details.step-detail[data-step="deploy"].ss-failed').count(), 1);

  await page.goto(`${srvOf().url}/dashboard/runs/${cured}`);
  await page.waitForSelector('.node[data-step="done"][data-state="succeeded"]');
  for (const step of ['deploy', 'done']) {
    const n = await node(page, step);
    assert.deepEqual([n.state, n.icon, n.fill], ['succeeded', '✓', GREEN], step);
  }

  await page.goto(`${srvOf().url}/dashboard/runs/${escalated}`);
  await page.waitForSelector('.node[data-step="escalate"][data-state="escalated"]');
  const e = await node(page, 'escalate');
  assert.deepEqual([e.icon, e.fill], ['⚑', PURPLE]);
  assert.match(e.label, /: Escalated/);
  assert.equal((await node(page, 'check')).state, 'succeeded', 'the step that found the problem did its job');
  assert.equal(await page.getAttribute('tr[data-step="escalate"]', 'data-result'), 'escalated');
});

test('the incident report: a button on the run page, and GET /api/runs/:id/report for viewers', async () => {
  const failed = await submit('deploy-outcome', { execStatus: 'failed' });
  const res = await fetch(`${srvOf().url}/api/runs/${failed}/report`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/markdown/);
  const md = await res.text();
  assert.match(md, /^# Incident report: Deploy and verify \(outcome colours\) on billing\n/);
  assert.match(md, /\*\*Status:\*\* ❌ \*\*FAILED\*\* — execution job-exec-1 failed/);
  assert.match(md, /\n## Timeline\n/);
  assert.match(md, /\| deploy \| ❌ finished/);
  assert.match(md, /\*\*Dashboard:\*\* http:\/\/127\.0\.0\.1:\d+\/dashboard\/runs\//);
  assert.equal((await fetch(`${srvOf().url}/api/runs/${failed}/report`)).status, 401);
  assert.equal((await fetch(`${srvOf().url}/api/runs/nope/report`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } })).status, 404);

  const page = await browserOf().newPage();
  await signIn(page, srvOf().url, TOKENS.viewer);
  await page.goto(`${srvOf().url}/dashboard/runs/${failed}`);
  await page.click('#report-button');
  await page.waitForSelector('#report-text');
  const shown = (await page.textContent('#report-text')) ?? '';
  assert.equal(shown.replace(/_Generated by runwright .*_/, ''), md.replace(/_Generated by runwright .*_/, ''));
  assert.equal(await page.getAttribute('#report-download', 'href'), `/api/runs/${failed}/report`);
  assert.deepEqual(browserOf().problems, []);
});

test('a dry run is marked on its run page and in the list', async () => {
  const dry = await submit('disk-pressure', { stepMs: 10 }, true);
  const page = await browserOf().newPage();
  await signIn(page, srvOf().url, TOKENS.viewer);
  await page.goto(`${srvOf().url}/dashboard/runs/${dry}`);
  await page.waitForSelector('#dry-run-flag');
  assert.match((await page.textContent('#dry-run-flag')) ?? '', /DRY RUN — nothing written/);
  await page.goto(`${srvOf().url}/dashboard/`);
  await page.waitForSelector(`tr[data-run-id="${dry}"]`);
  assert.match((await page.textContent(`tr[data-run-id="${dry}"]`)) ?? '', /dry run/);
});
