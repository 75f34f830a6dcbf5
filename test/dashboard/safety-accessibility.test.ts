// Attacker-controlled alert text stays text on both pages; the pages carry a strict CSP (own script only, no inline,
// no eval, Trusted Types for HTML sinks) and no inline script; links only ever point at http(s). Accessibility basics
// checked in the real browser: labelled controls, named buttons, table headers, a skip link first in the tab order,
// keyboard access to the graph, and text contrast of at least 4.5:1 (WCAG AA) for the pages' text.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { DASHBOARD_CSP } from '../../src/api/dashboard.js';
import { safeHref } from '../../src/ui/dom.js';
import { launchBrowser, postAlert, signIn, startDashboard, TOKENS, type Browser, type DashServer } from './helpers.js';

const HOSTILE =
  '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> failed to locate a name (\'<svg/onload=window.__pwned=3>\') ' +
  '"><iframe src="javascript:window.__pwned=4"></iframe> {{ $eval("1") }} ${alert(1)}';

let srv: DashServer;
let browser: Browser;
let runId: string;

before(async () => {
  srv = await startDashboard();
  browser = await launchBrowser();
  const res = await postAlert(srv.url, {
    text: HOSTILE,
    severity: '<b>critical</b>',
    fingerprint: '<img src=x onerror=window.__pwned=5>',
    labels: { service: 'content-worker', note: '"><img src=x onerror=window.__pwned=6>' },
    inputs: { stepMs: 20, afterMs: 20 },
  });
  runId = res[0]!.runId!;
  await srv.engine.waitFor(runId, (r) => r.status === 'waiting_approval', 20_000);
});

after(async () => {
  await browser?.close();
  await srv?.close();
});

async function assertInert(page: Page): Promise<void> {
  assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined, 'no injected code ran');
  assert.equal(await page.locator('img, iframe, main script, main svg:not(.graph) foreignObject').count(), 0, 'no injected elements');
  assert.equal(await page.locator('svg[onload], [onerror], [onmouseover]').count(), 0);
}

describe('attacker-controlled alert text', () => {
  test('is shown as text on the list and on the run page, and nothing in it runs', async () => {
    const page = await browser.newPage();
    await signIn(page, srv.url, TOKENS.alice);
    await page.waitForSelector(`tr[data-run-id="${runId}"]`);
    const fired = (await page.textContent(`tr[data-run-id="${runId}"] .alert-line`)) ?? '';
    assert.ok(fired.startsWith('<img src=x onerror="window.__pwned=1"><script>'), fired);
    await assertInert(page);

    await page.goto(`${srv.url}/dashboard/runs/${runId}`);
    await page.waitForSelector('#alert-text');
    assert.equal(await page.textContent('#alert-text'), HOSTILE);
    assert.match((await page.textContent('.alert-card')) ?? '', /note="><img src=x onerror=window.__pwned=6>/);
    assert.match((await page.textContent('.alert-card')) ?? '', /<img src=x onerror=window.__pwned=5>/);
    await assertInert(page);
    assert.deepEqual(browser.problems, []);
    await page.close();
  });
});

describe('content security policy', () => {
  test('every dashboard page and asset carries the strict policy; the HTML has no inline script or style', async () => {
    for (const path of ['/dashboard/', `/dashboard/runs/${runId}`, '/dashboard/assets/app.js', '/dashboard/assets/app.css']) {
      const res = await fetch(`${srv.url}${path}`);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('content-security-policy'), DASHBOARD_CSP, path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(res.headers.get('x-frame-options'), 'DENY', path);
      if (path.endsWith('/') || path.includes('/runs/')) {
        const html = await res.text();
        assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'no inline script');
        assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i, 'no inline style or handler');
        assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
      }
    }
    assert.match(DASHBOARD_CSP, /script-src 'self'(;|$)/);
    assert.doesNotMatch(DASHBOARD_CSP, /unsafe-inline|unsafe-eval|https?:/);
    // Nothing is loaded from anywhere but the service itself.
    const js = await (await fetch(`${srv.url}/dashboard/assets/app.js`)).text();
    assert.doesNotMatch(js, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });

  test('the browser enforces it: no injected script runs, no HTML parsing through innerHTML, no requests to other origins', async () => {
    const page = await browser.context.newPage();
    browser.ignoreProblems(page); // the refusals provoked below are logged as console errors
    await signIn(page, srv.url, TOKENS.viewer);
    const outside: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(srv.url) && !r.url().startsWith('data:')) outside.push(r.url());
    });
    await page.goto(`${srv.url}/dashboard/runs/${runId}`);
    await page.waitForSelector('body[data-loaded="true"]');
    const results = await page.evaluate(() => {
      const tryIt = (f: () => unknown) => {
        try {
          f();
          return 'allowed';
        } catch (e) {
          return (e as Error).name;
        }
      };
      const inline = () => {
        const el = document.createElement('script');
        el.text = 'window.__inline = 1';
        document.head.appendChild(el);
      };
      const handler = () => {
        const b = document.createElement('button');
        b.setAttribute('onclick', 'window.__handler = 1');
        document.body.appendChild(b);
        b.click();
      };
      return {
        innerHTML: tryIt(() => {
          document.createElement('div').innerHTML = '<b>x</b>';
        }),
        inlineScript: tryIt(inline),
        handler: tryIt(handler),
        ran: [(window as unknown as { __inline?: number }).__inline, (window as unknown as { __handler?: number }).__handler],
      };
    });
    assert.equal(results.innerHTML, 'TypeError', 'Trusted Types refuse a plain string in innerHTML');
    assert.equal(results.inlineScript, 'TypeError', 'Trusted Types refuse a plain string as script text');
    assert.deepEqual(results.ran, [undefined, undefined], 'neither an inline script nor an inline handler ran');
    assert.deepEqual(outside, []);
    await page.close();
  });

  test('links are http(s) or same-origin paths only', () => {
    assert.equal(safeHref('javascript:alert(1)'), undefined);
    assert.equal(safeHref('JaVaScRiPt:alert(1)'), undefined);
    assert.equal(safeHref('data:text/html,<script>1</script>'), undefined);
    assert.equal(safeHref('//evil.example/x'), undefined);
    assert.equal(safeHref('/dashboard/runs/r1'), '/dashboard/runs/r1');
    assert.equal(safeHref('https://console.cloud.google.com/x'), 'https://console.cloud.google.com/x');
  });
});

/** Contrast ratio (WCAG 2) of an element's text against the first opaque background up its ancestors. */
async function contrasts(page: Page, selector: string): Promise<{ text: string; ratio: number }[]> {
  return page.$$eval(selector, (els) => {
    const parse = (c: string): [number, number, number, number] => {
      const m = /rgba?\(([^)]+)\)/.exec(c);
      if (!m) return [0, 0, 0, 0];
      const p = m[1]!.split(/[\s,/]+/).filter(Boolean).map(Number);
      return [p[0]!, p[1]!, p[2]!, p[3] ?? 1];
    };
    const lum = ([r, g, b]: number[]) => {
      const f = (v: number) => {
        const s = v / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * f(r!) + 0.7152 * f(g!) + 0.0722 * f(b!);
    };
    const bg = (el: Element | null): number[] => {
      for (let e = el; e; e = e.parentElement) {
        const c = parse(getComputedStyle(e).backgroundColor);
        if (c[3] >= 0.99) return c;
      }
      return [255, 255, 255, 1];
    };
    return els
      .filter((e) => (e as HTMLElement).offsetParent !== null && (e.textContent ?? '').trim())
      .map((e) => {
        const fg = parse(getComputedStyle(e).color);
        const a = lum(fg);
        const b = lum(bg(e));
        return { text: `${e.tagName.toLowerCase()}.${(e as HTMLElement).className}: ${(e.textContent ?? '').trim().slice(0, 30)}`, ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) };
      });
  });
}

async function checkPage(page: Page, what: string): Promise<void> {
  // Every form control has a label; every button a name; every table header a scope.
  const unlabelled = await page.$$eval('input:not([type=hidden]), select, textarea', (els) =>
    els.filter((e) => !((e as HTMLInputElement).labels?.length || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby'))).map((e) => e.outerHTML.slice(0, 80)),
  );
  assert.deepEqual(unlabelled, [], `${what}: unlabelled controls`);
  const nameless = await page.$$eval('button, a[href]', (els) => els.filter((e) => !(e.textContent ?? '').trim() && !e.getAttribute('aria-label')).map((e) => e.outerHTML.slice(0, 80)));
  assert.deepEqual(nameless, [], `${what}: buttons/links without a name`);
  const noScope = await page.$$eval('thead th', (els) => els.filter((e) => !e.getAttribute('scope')).length);
  assert.equal(noScope, 0, `${what}: column headers have scope`);
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.ok(await page.locator('h1').count(), `${what}: has a heading`);
  // Contrast of the text people read (badges, muted text, table cells, graph legend, buttons).
  const all = await contrasts(page, 'main td, main th, main .muted, main .badge, main .pill, main .sev, main .btn, main label, main dt, main dd, main .legend li, main p, main h1, main h2, .topbar .role, .topbar .user-name');
  assert.ok(all.length > 20, `${what}: ${all.length} text elements measured`);
  assert.deepEqual(all.filter((c) => c.ratio < 4.5), [], `${what}: text below 4.5:1 contrast`);
}

describe('accessibility', () => {
  test('labelled controls, named buttons, headers, skip link, keyboard, and AA contrast on both pages (laptop and phone)', async () => {
    const page = await browser.newPage({ width: 1440, height: 900 });
    await signIn(page, srv.url, TOKENS.alice);
    await page.waitForSelector(`tr[data-run-id="${runId}"]`);
    await checkPage(page, 'list');
    // The first Tab lands on the skip link, which moves focus to the main content.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.className), 'skip');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => location.hash === '#main');
    // Filters are real form controls: a keyboard change filters the list.
    await page.focus('#f-status');
    await page.selectOption('#f-status', 'succeeded');
    await page.waitForSelector('#runs-body tr.empty');
    await page.waitForFunction(() => location.search === '?status=succeeded');
    await page.selectOption('#f-status', '');
    await page.waitForSelector(`tr[data-run-id="${runId}"]`);

    await page.goto(`${srv.url}/dashboard/runs/${runId}`);
    await page.waitForSelector('#approve');
    await checkPage(page, 'run');
    const nodes = await page.$$eval('svg.graph .node', (els) => els.map((e) => [e.getAttribute('tabindex'), e.getAttribute('role'), e.getAttribute('aria-label') ?? '']));
    assert.ok(nodes.every(([t, r, l]) => t === '0' && r === 'button' && /: /.test(l!)), 'graph nodes are focusable buttons with a state in their name');
    // The approval radio group is reachable and operable by keyboard.
    await page.focus('#choice-C');
    await page.keyboard.press('ArrowLeft');
    assert.equal(await page.$eval('input[name=choice]:checked', (e) => (e as HTMLInputElement).value), 'B');

    await page.setViewportSize({ width: 390, height: 844 });
    await checkPage(page, 'run (phone)');
    await page.goto(`${srv.url}/dashboard/`);
    await page.waitForSelector(`tr[data-run-id="${runId}"]`);
    await checkPage(page, 'list (phone)');
    assert.deepEqual(browser.problems, []);
    await page.close();
  });
});
