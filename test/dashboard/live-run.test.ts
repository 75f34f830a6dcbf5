// End to end in a real browser against the running service: a run appears live on the list as an alert is posted,
// its steps turn green one by one on the run page, it parks at approval, an approver picks an option (B: the runbook
// loops back to the gate), approves again, and the run resumes to success — both pages follow without a reload, and
// the decisions show who and when. Saves screenshots of the list and run pages (laptop and phone) to artifacts/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { launchBrowser, postAlert, screenshot, signIn, startDashboard, TOKENS, type Browser, type DashServer } from './helpers.js';

const LAPTOP = { width: 1440, height: 900 };
const PHONE = { width: 390, height: 844 };
/** Each step before the approval: long enough that a page opened on a loaded machine still sees steps run. */
const STEP_MS = 2500;
const MAPPER_TEXT =
  "sqlalchemy.exc.InvalidRequestError: When initializing mapper Mapper[Article(articles)], expression 'Auther' failed to locate a name ('Auther'). If this is a class name, consider adding this relationship() to the <class 'app.models.article.Article'> class after both dependent classes have been defined.\nTraceback (most recent call last):\n  File \"/app/worker.py\", line 41, in main";

let srv: DashServer;
let browser: Browser;

before(async () => {
  srv = await startDashboard();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await srv?.close();
});

/** Counts full page loads, so "updated without a reload" can be asserted. */
function countLoads(page: Page): () => number {
  let n = 0;
  page.on('load', () => n++);
  return () => n;
}

interface Transition {
  step: string;
  state: string;
  t: number;
}

test('a posted alert shows up live, turns green step by step, parks at approval, and an approver resumes it to success', async () => {
  // Some history first, so the list looks like a list: one run that succeeds, one that fails.
  const ok = await postAlert(srv.url, { text: 'disk usage 93% on /var/lib/data (billing-db-1)', severity: 'warning', labels: { service: 'billing' }, inputs: { stepMs: 50 } });
  const bad = await postAlert(srv.url, { text: 'disk usage 97% on /var/lib/data (search-indexer-0)', severity: 'error', labels: { service: 'search-indexer' }, inputs: { stepMs: 50, fail: true } });
  const esc = await postAlert(srv.url, { text: 'disk usage 96% on /var/log (billing-api-2)', severity: 'warning', labels: { service: 'billing' }, inputs: { stepMs: 50, after: 91 } });
  await srv.engine.waitFor(ok[0]!.runId!, (r) => r.status === 'succeeded', 20_000);
  await srv.engine.waitFor(bad[0]!.runId!, (r) => r.status === 'failed', 20_000);
  await srv.engine.waitFor(esc[0]!.runId!, (r) => r.status === 'escalated', 20_000);

  const list = await browser.newPage(LAPTOP);
  await signIn(list, srv.url, TOKENS.alice);
  await list.waitForSelector(`tr[data-run-id="${ok[0]!.runId}"]`);
  const listLoads = countLoads(list);

  // The alert arrives over HTTP; the list shows the run without a reload.
  const res = await postAlert(srv.url, { text: MAPPER_TEXT, severity: 'critical', labels: { service: 'content-worker' }, inputs: { stepMs: STEP_MS } });
  assert.equal(res[0]!.outcome, 'started');
  const runId = res[0]!.runId!;
  const row = `tr[data-run-id="${runId}"]`;
  await list.waitForSelector(row);
  assert.match((await list.textContent(`${row} td[data-label="Target"]`)) ?? '', /content-worker/);
  assert.match((await list.textContent(`${row} td[data-label="What fired"]`)) ?? '', /failed to locate a name/);

  // The run page, opened while the run is still running; every state change of a graph node is recorded from the
  // first render on.
  const page = await browser.context.newPage();
  await page.setViewportSize(LAPTOP);
  await page.addInitScript(() => {
    const w = window as unknown as { __transitions: { step: string; state: string; t: number }[] };
    w.__transitions = [];
    new MutationObserver((muts) => {
      for (const m of muts) {
        const el = m.target as Element;
        if (el.getAttribute('data-step')) w.__transitions.push({ step: el.getAttribute('data-step')!, state: el.getAttribute('data-state') ?? '', t: performance.now() });
      }
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
  });
  await page.goto(`${srv.url}/dashboard/runs/${runId}`);
  await page.waitForSelector('svg.graph .node[data-step="identify"]');
  const pageLoads = countLoads(page);

  // Steps turn green one by one, in order, and the path taken is highlighted as it grows.
  const steps = ['identify', 'inspect', 'plan', 'commit'];
  for (const step of steps) await page.waitForSelector(`.node[data-step="${step}"][data-state="succeeded"]`, { timeout: 20_000 });
  const transitions = (await page.evaluate(() => (window as unknown as { __transitions: Transition[] }).__transitions)) as Transition[];
  const greenAt = (step: string) => transitions.find((x) => x.step === step && x.state === 'succeeded')?.t;
  const runningAt = (step: string) => transitions.find((x) => x.step === step && x.state === 'running')?.t;
  // From the first step the page saw running (the page opens a moment after the run starts), every step was seen
  // running, then green, each a step's duration after the one before it — never in one batch.
  const seen = steps.slice(steps.findIndex((s) => runningAt(s) !== undefined));
  // On a busy machine the page may open only after a step or two have finished: two seen running is the floor.
  assert.ok(seen.length >= 2, `the page saw at least two steps run (${JSON.stringify(transitions)})`);
  for (const step of seen) assert.ok(runningAt(step) !== undefined && greenAt(step)! > runningAt(step)!, `${step}: running, then succeeded (${JSON.stringify(transitions)})`);
  for (let i = 1; i < seen.length; i++) {
    const gap = greenAt(seen[i]!)! - greenAt(seen[i - 1]!)!;
    assert.ok(gap > 500, `${seen[i]} turned green ${Math.round(gap)} ms after ${seen[i - 1]}`);
  }
  assert.ok(await page.locator('path.edge.taken[data-from="inspect"][data-to="plan"]').count(), 'the path taken is highlighted');

  // It parks at the approval gate: the page offers the decision with the options; the list pins it on top.
  await page.waitForSelector('#approve');
  assert.equal(await page.getAttribute('.node[data-step="approve"]', 'data-state'), 'waiting');
  assert.equal(await page.getAttribute('#run-status', 'data-status'), 'waiting_approval');
  assert.deepEqual(await page.$$eval('input[name=choice]', (els) => els.map((e) => (e as HTMLInputElement).value)), ['A', 'B', 'C']);
  assert.equal(await page.$eval('input[name=choice]:checked', (e) => (e as HTMLInputElement).value), 'C', 'the recommended option is preselected');
  assert.match((await page.textContent('.approval-card .prompt')) ?? '', /Fix C is prepared as commit 3f9c2b7e41d0/);
  assert.ok(await page.locator('.approval-card table.diff tr.d-add').count(), 'the proposed diff is rendered as a diff');
  await list.waitForSelector(`.attention-item[data-run-id="${runId}"]`);
  await list.waitForSelector(`${row}[data-status="waiting_approval"]`);
  assert.equal(await list.getAttribute('#runs-body tr:first-child', 'data-run-id'), runId, 'the waiting run stands out at the top of the list');
  assert.equal((await srv.engine.store.get(runId))!.status, 'waiting_approval');

  await list.evaluate(() => window.scrollTo(0, 0));
  await screenshot(list, 'list');
  await page.evaluate(() => window.scrollTo(0, 0));
  await screenshot(page, 'run-approval');
  await screenshot(page, 'run-approval-full', true);
  await page.setViewportSize(PHONE);
  await screenshot(page, 'run-approval-phone');
  await page.setViewportSize(LAPTOP);

  // Option B with a comment: the runbook prepares B and comes back to the gate (its loop), where C is approved.
  await page.check('#choice-B');
  await page.fill('#decision-comment', 'try disabling the model first');
  await page.click('#approve');
  await page.waitForSelector('.node[data-step="replan"][data-state="succeeded"]', { timeout: 20_000 });
  await page.waitForSelector('.decisions li.approved');
  assert.match((await page.textContent('.decisions li.approved')) ?? '', /Approved — option B by alice at \d\d:\d\d:\d\d/);
  assert.match((await page.textContent('.decisions .comment')) ?? '', /try disabling the model first/);
  await page.waitForSelector('#approve', { timeout: 20_000 });
  assert.ok(await page.locator('path.edge.taken.back[data-from="replan"][data-to="approve"]').count(), 'the loop back to the gate is on the path taken');
  await page.check('#choice-C');
  await page.click('#approve');

  // It resumes to success; both pages follow.
  await page.waitForSelector('body[data-status="succeeded"]', { timeout: 30_000 });
  for (const step of ['push', 'build', 'deploy', 'verify_logs', 'done']) assert.equal(await page.getAttribute(`.node[data-step="${step}"]`, 'data-state'), 'succeeded', step);
  assert.equal(await page.getAttribute('.node[data-step="rejected"]', 'data-state'), 'pending');
  await page.waitForFunction(() => document.querySelectorAll('.decisions li.approved').length === 2);
  const decisions = await page.$$eval('.decisions li', (els) => els.map((e) => e.textContent ?? ''));
  assert.match(decisions[0]!, /option B by alice/);
  assert.match(decisions[1]!, /option C by alice/);
  assert.equal(await page.locator('#approve').count(), 0, 'nothing left to approve');
  assert.match((await page.textContent('#run-outcome')) ?? '', /Fix C pushed to main as 3f9c2b7e41d0/);
  await list.waitForSelector(`${row}[data-status="succeeded"]`);
  assert.match((await list.textContent(`${row} td[data-label="Approved by"]`)) ?? '', /alice · C/);
  assert.equal(await list.locator(`.attention-item[data-run-id="${runId}"]`).count(), 0);

  const run = (await srv.engine.store.get(runId))!;
  assert.equal(run.status, 'succeeded');
  assert.deepEqual(run.approvals?.map((a) => [a.actor, a.decision, a.choice, a.comment ?? null]), [['alice', 'approved', 'B', 'try disabling the model first'], ['alice', 'approved', 'C', null]]);

  // Outputs are readable: verdicts, the plan, the diff, links to the commit, build, execution and log query.
  await page.click('#step-inspect summary');
  assert.match((await page.textContent('#step-inspect table.data')) ?? '', /Article\.author\s*Auther\s*✕ broken/);
  await page.click('#step-plan summary');
  assert.match((await page.textContent('#step-plan .plan-choice')) ?? '', /Chosen fix C/);
  await page.click('#step-commit summary');
  assert.ok(await page.locator('#step-commit table.diff tr.d-del').count());
  assert.equal(await page.getAttribute('#step-commit .link-commit a', 'href'), 'https://github.com/acme/content-worker/commit/3f9c2b7e41d08a6c5e2f7b19d4a0c3e8b6f1d2a7');
  assert.match((await page.getAttribute('#step-build .link-build a', 'href')) ?? '', /^https:\/\/console\.cloud\.google\.com\/cloud-build\/builds/);
  assert.equal(await page.getAttribute('#step-deploy .link-execution a', 'href'), 'https://console.cloud.google.com/run/jobs/executions/details/us-central1/content-worker-x7k2p/tasks?project=acme-prod');
  assert.match((await page.getAttribute('#step-verify_logs .link-logs a', 'href')) ?? '', /^https:\/\/console\.cloud\.google\.com\/logs\/query;query=resource\.type%3D%22cloud_run_job%22.*\?project=acme-prod$/);
  assert.equal(await page.textContent('#alert-text'), MAPPER_TEXT, 'the alert as received, in full');
  const timeline = await page.$$eval('#timeline tbody tr', (els) => els.map((e) => `${e.getAttribute('data-step')}:${e.getAttribute('data-result')}`));
  for (const s of ['identify:succeeded', 'approve:approved', 'replan:succeeded', 'verify_logs:succeeded']) assert.ok(timeline.includes(s), `${s} in ${timeline.join(' ')}`);

  assert.equal(pageLoads(), 0, 'the run page never reloaded');
  assert.equal(listLoads(), 0, 'the list never reloaded');

  await page.evaluate(() => window.scrollTo(0, 0));
  await screenshot(page, 'run-succeeded');
  await screenshot(page, 'run-succeeded-full', true);
  await list.evaluate(() => window.scrollTo(0, 0));
  await screenshot(list, 'list-after');

  // Phone size: the same pages, one column.
  await list.setViewportSize(PHONE);
  await screenshot(list, 'list-phone');
  await page.setViewportSize(PHONE);
  await page.evaluate(() => window.scrollTo(0, 0));
  await screenshot(page, 'run-phone');
  const overflow = await list.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the list fits a phone's width (overflows by ${overflow}px)`);

  assert.deepEqual(browser.problems, [], 'no console errors, CSP violations or page errors');
  await page.close();
  await list.close();
});
