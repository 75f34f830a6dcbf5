// The list on a large history: thousands of runs in Redis, the page asks for one page at a time (limit 50, cursor),
// shows where it is ("Runs 51–100 of 3,000"), pages both ways, filters by target/runbook/status through the URL, and
// every request stays fast however deep the page — the indexes do the work, the browser never loads the history.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, signIn, startDashboard, TOKENS, type Browser, type DashServer } from './helpers.js';

const RUNS = 3000;
const TARGETS = ['billing', 'search-indexer', 'content-worker'];

let srv: DashServer;
let browser: Browser;

before(async () => {
  // No worker: runs stay where submit leaves them (one running per target, the rest waiting for the target lock).
  srv = await startDashboard({ worker: false });
  browser = await launchBrowser();
  const t0 = Date.now();
  for (let i = 0; i < RUNS; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, RUNS - i) }, (_, k) => {
        const n = i + k;
        const target = TARGETS[n % TARGETS.length]!;
        const runbookId = n % 5 === 0 ? 'mapper-fix' : 'disk-pressure';
        const at = new Date(t0 - (RUNS - n) * 60_000).toISOString();
        return srv.engine.submit({ runbookId, target, alert: { source: 'generic', fingerprint: `hist-${n}`, severity: n % 7 === 0 ? 'critical' : 'warning', text: `disk usage ${50 + (n % 50)}% on /data (${target}-${n})`, labels: { service: target }, receivedAt: at }, dedupe: true });
      }),
    );
  }
});

after(async () => {
  await browser?.close();
  await srv?.close();
});

test(`the runs list pages through ${RUNS.toLocaleString('en-US')} runs 50 at a time, filters through the URL, and stays fast`, async () => {
  const page = await browser.newPage({ width: 1440, height: 900 });
  const listCalls: { url: URL; ms: number }[] = [];
  const started = new Map<string, number>();
  page.on('request', (r) => started.set(r.url(), Date.now()));
  page.on('requestfinished', (r) => {
    const u = new URL(r.url());
    if (u.pathname === '/api/runs') listCalls.push({ url: u, ms: Date.now() - (started.get(r.url()) ?? Date.now()) });
  });

  const t0 = Date.now();
  await signIn(page, srv.url, TOKENS.viewer);
  await page.waitForSelector('#runs-body tr.run-row');
  const loadMs = Date.now() - t0;
  assert.equal(await page.locator('#runs-body tr.run-row').count(), 50);
  assert.equal(await page.textContent('.page-info'), `Runs 1–50 of ${RUNS.toLocaleString('en-US')}`);
  const counts = Object.fromEntries(await page.$$eval('.count', (els) => els.map((e) => [e.className.match(/st-(\w+)/)![1], e.querySelector('.count-n')!.textContent])));
  assert.equal(counts.running, '3');
  assert.equal(counts.waiting_lock, (RUNS - 3).toLocaleString('en-US'));

  // Newest first; older pages on request, and back.
  const firstIds = await page.$$eval('#runs-body tr.run-row', (els) => els.map((e) => e.getAttribute('data-run-id')));
  await page.click('#page-older');
  await page.waitForFunction(() => document.querySelector('.page-info')?.textContent?.startsWith('Runs 51–100'));
  const secondIds = await page.$$eval('#runs-body tr.run-row', (els) => els.map((e) => e.getAttribute('data-run-id')));
  assert.equal(secondIds.length, 50);
  assert.equal(secondIds.filter((id) => firstIds.includes(id)).length, 0, 'page two holds other runs');
  for (let i = 0; i < 8; i++) {
    const before = await page.textContent('.page-info');
    await page.click('#page-older');
    await page.waitForFunction((b) => document.querySelector('.page-info')?.textContent !== b, before);
  }
  assert.equal(await page.textContent('.page-info'), `Runs 451–500 of ${RUNS.toLocaleString('en-US')}`);
  assert.match(page.url(), /[?&]cursor=450\b/);
  await page.click('#page-newer');
  await page.waitForFunction(() => document.querySelector('.page-info')?.textContent?.startsWith('Runs 401–450'));

  // Filters go to the server (and into the URL, so a filtered view can be shared).
  await page.goto(`${srv.url}/dashboard/?target=content-worker&runbook=mapper-fix`);
  await page.waitForSelector('#runs-body tr.run-row');
  const targets = await page.$$eval('#runs-body tr.run-row td[data-label="Target"] .target', (els) => [...new Set(els.map((e) => e.textContent))]);
  assert.deepEqual(targets, ['content-worker']);
  assert.equal(await page.$eval('#f-target', (e) => (e as HTMLSelectElement).value), 'content-worker');
  assert.equal(await page.$eval('#f-runbook', (e) => (e as HTMLSelectElement).value), 'mapper-fix');
  assert.equal(await page.textContent('.page-info'), 'Runs 1–50', 'with two filters the total is not counted (that would be a scan)');
  await page.selectOption('#f-runbook', '');
  await page.selectOption('#f-status', 'running');
  await page.waitForFunction(() => document.querySelectorAll('#runs-body tr.run-row').length === 1);
  assert.equal(await page.textContent('.page-info'), 'Runs 1–1');
  assert.match(page.url(), /status=running/);
  assert.match(page.url(), /target=content-worker/);

  // What the page asked for: never more than a page, never the whole history.
  assert.ok(listCalls.length >= 12, `${listCalls.length} list requests`);
  for (const c of listCalls) assert.ok(Number(c.url.searchParams.get('limit')) <= 50, c.url.search);
  const slowest = Math.max(...listCalls.map((c) => c.ms));
  assert.ok(slowest < 1500, `slowest list request took ${slowest} ms`);
  assert.ok(loadMs < 8000, `first page signed in and shown in ${loadMs} ms`);

  // The API directly: a deep page answers as fast as the first (offset on a sorted-set index, no scan).
  const time = async (q: string) => {
    const t = Date.now();
    const res = await fetch(`${srv.url}/api/runs?${q}`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } });
    const body = (await res.json()) as { runs: unknown[]; total: number };
    return { ms: Date.now() - t, n: body.runs.length, total: body.total };
  };
  const first = await time('limit=50');
  const deep = await time('limit=50&cursor=2900');
  assert.equal(first.total, RUNS);
  assert.equal(deep.n, 50);
  assert.ok(deep.ms < 500, `page 59 took ${deep.ms} ms`);
  assert.deepEqual(browser.problems, []);
  await page.close();
});
