// Who may do what on the dashboard: sign-in with an API token into an HttpOnly SameSite=Strict cookie (Secure behind
// https), a viewer sees no approve button and the API refuses the call anyway (bearer, dashboard route, and a
// hand-made fetch from the viewer's own page), actions need the CSRF header and a same-origin request, an approver
// rejects with a comment (who and when shown), an admin cancels a running run and retries a failed one, sign-out.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, postAlert, signIn, startDashboard, TOKENS, type Browser, type DashServer } from './helpers.js';

let srv: DashServer;
let browser: Browser;
let waitingRun: string;

before(async () => {
  srv = await startDashboard({ config: { api: { trustProxy: true } } });
  browser = await launchBrowser();
  const res = await postAlert(srv.url, { text: "Mapper 'Mapper[Invoice(invoices)]' failed to locate a name ('Customr')", severity: 'critical', labels: { service: 'content-worker' }, inputs: { stepMs: 30, afterMs: 30 } });
  waitingRun = res[0]!.runId!;
  await srv.engine.waitFor(waitingRun, (r) => r.status === 'waiting_approval', 20_000);
});

after(async () => {
  await browser?.close();
  await srv?.close();
});

async function cookieFor(token: string, headers: Record<string, string> = {}): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const res = await fetch(`${srv.url}/dashboard/session`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ token }) });
  assert.equal(res.status, 200);
  const setCookie = res.headers.get('set-cookie') ?? '';
  const body = (await res.json()) as { csrf: string };
  return { cookie: setCookie.split(';')[0]!, csrf: body.csrf, setCookie };
}

const act = (runId: string, action: string, headers: Record<string, string>, body: unknown = {}) =>
  fetch(`${srv.url}/dashboard/api/runs/${runId}/${action}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('sign-in', () => {
  test('the session cookie is HttpOnly and SameSite=Strict, and Secure when the request came over https', async () => {
    const plain = await cookieFor(TOKENS.viewer);
    assert.match(plain.setCookie, /^runwright_session=/);
    assert.match(plain.setCookie, /HttpOnly/i);
    assert.match(plain.setCookie, /SameSite=Strict/i);
    assert.doesNotMatch(plain.setCookie, /Secure/i);
    const tls = await cookieFor(TOKENS.viewer, { 'x-forwarded-proto': 'https' });
    assert.match(tls.setCookie, /; Secure/i);
    assert.match(tls.setCookie, /HttpOnly/i);
  });

  test('an unknown token is refused, in the page and over HTTP', async () => {
    const res = await fetch(`${srv.url}/dashboard/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'not-a-real-token-0123456789' }) });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('set-cookie'), null);
    const page = await browser.newPage();
    await page.goto(`${srv.url}/dashboard/`);
    await page.fill('#token', 'not-a-real-token-0123456789');
    await page.click('form.signin button[type=submit]');
    await page.waitForSelector('#sign-in-error:not(:empty)');
    assert.match((await page.textContent('#sign-in-error')) ?? '', /not known/);
    assert.deepEqual(await browser.context.cookies(), []);
  });

  test('a cross-site sign-in is refused', async () => {
    const res = await fetch(`${srv.url}/dashboard/session`, { method: 'POST', headers: { 'content-type': 'application/json', origin: 'https://evil.example' }, body: JSON.stringify({ token: TOKENS.alice }) });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('set-cookie'), null);
  });
});

describe('a viewer', () => {
  test('sees the run waiting but no approve, reject or cancel button, and the API refuses the call anyway', async () => {
    await browser.context.clearCookies();
    const page = await browser.newPage();
    await signIn(page, srv.url, TOKENS.viewer, `/dashboard/runs/${waitingRun}`);
    const cookies = await browser.context.cookies();
    const c = cookies.find((x) => x.name === 'runwright_session')!;
    assert.equal(c.httpOnly, true);
    assert.equal(c.sameSite, 'Strict');
    assert.equal(await page.getAttribute('.role', 'data-role'), 'viewer');
    await page.waitForSelector('.approval-card');
    assert.match((await page.textContent('#no-approve')) ?? '', /viewer/);
    for (const sel of ['#approve', '#reject', '#cancel', '#retry', 'input[name=choice]', '#decision-comment']) assert.equal(await page.locator(sel).count(), 0, `${sel} is not shown to a viewer`);
    // The token is not readable by page scripts.
    assert.equal(await page.evaluate(() => document.cookie), '');

    // The API itself: bearer token of a viewer.
    const bearer = await fetch(`${srv.url}/api/runs/${waitingRun}/approve`, { method: 'POST', headers: { authorization: `Bearer ${TOKENS.viewer}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(bearer.status, 403);
    // The dashboard's action route with the viewer's own session and a valid CSRF token, from the viewer's page.
    const fromPage = await page.evaluate(async (id) => {
      const s = (await (await fetch('/dashboard/session')).json()) as { csrf: string };
      const r = await fetch(`/dashboard/api/runs/${id}/approve`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-runwright-csrf': s.csrf }, body: JSON.stringify({ choice: 'A' }) });
      return { status: r.status, body: (await r.json()) as { error: string; message: string } };
    }, waitingRun);
    assert.equal(fromPage.status, 403);
    assert.equal(fromPage.body.error, 'forbidden');
    assert.match(fromPage.body.message, /approver role/);
    // And the cancel an admin could do.
    const v = await cookieFor(TOKENS.viewer);
    assert.equal((await act(waitingRun, 'cancel', { cookie: v.cookie, 'x-runwright-csrf': v.csrf })).status, 403);
    const run = (await srv.engine.store.get(waitingRun))!;
    assert.equal(run.status, 'waiting_approval');
    assert.equal(run.approvals, undefined);
    await page.close();
  });
});

describe('actions are CSRF-safe', () => {
  test('without the CSRF header, with a wrong one, or from another site, an approver session changes nothing', async () => {
    const a = await cookieFor(TOKENS.alice);
    const cases: [string, Record<string, string>, number, string][] = [
      ['no CSRF header', { cookie: a.cookie }, 403, 'csrf'],
      ['a wrong CSRF header', { cookie: a.cookie, 'x-runwright-csrf': 'forged' }, 403, 'csrf'],
      ["another user's CSRF token", { cookie: a.cookie, 'x-runwright-csrf': (await cookieFor(TOKENS.viewer)).csrf }, 403, 'csrf'],
      ['a cross-site Origin', { cookie: a.cookie, 'x-runwright-csrf': a.csrf, origin: 'https://evil.example' }, 403, 'cross_site'],
      ['Sec-Fetch-Site: cross-site', { cookie: a.cookie, 'x-runwright-csrf': a.csrf, 'sec-fetch-site': 'cross-site' }, 403, 'cross_site'],
      ['no session at all', { 'x-runwright-csrf': a.csrf }, 401, 'unauthorized'],
    ];
    for (const [what, headers, status, code] of cases) {
      const res = await act(waitingRun, 'approve', headers, { choice: 'A' });
      assert.equal(res.status, status, what);
      assert.equal(((await res.json()) as { error: string }).error, code, what);
    }
    // A plain form post (what a hostile page could send cross-site) is not even accepted as a body type.
    const form = await fetch(`${srv.url}/dashboard/api/runs/${waitingRun}/approve`, { method: 'POST', headers: { cookie: a.cookie, 'content-type': 'text/plain' }, body: 'x' });
    assert.ok(form.status >= 400 && form.status < 500);
    assert.equal((await srv.engine.store.get(waitingRun))!.status, 'waiting_approval');
  });
});

describe('an approver', () => {
  test('rejects with a comment; the decision shows who and when', async () => {
    await browser.context.clearCookies();
    const page = await browser.newPage();
    await signIn(page, srv.url, TOKENS.alice, `/dashboard/runs/${waitingRun}`);
    await page.waitForSelector('#reject');
    assert.equal(await page.locator('#cancel').count(), 0, 'cancel is for admins');
    // Keyboard: the graph's nodes are focusable and open their step's output.
    await page.focus('.node[data-step="inspect"]');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#step-inspect[open]');
    await page.fill('#decision-comment', 'wrong service: this is billing-api, not content-worker');
    await page.click('#reject');
    await page.waitForSelector('body[data-status="escalated"]');
    await page.waitForSelector('.decisions li.rejected');
    const text = (await page.textContent('.decisions li.rejected')) ?? '';
    assert.match(text, /Rejected by alice at \d\d:\d\d:\d\d/);
    assert.match(text, /wrong service: this is billing-api/);
    assert.match((await page.textContent('#run-outcome')) ?? '', /Rejected by alice/);
    assert.equal(await page.getAttribute('.node[data-step="approve"]', 'data-state'), 'failed');
    // the rejected gate led to `end: escalated`: drawn as an escalation, never as a green success
    assert.equal(await page.getAttribute('.node[data-step="rejected"]', 'data-state'), 'escalated');
    const run = (await srv.engine.store.get(waitingRun))!;
    assert.equal(run.approval?.decision, 'rejected');
    assert.equal(run.approval?.actor, 'alice');
    // A second decision on a finished run is refused by the engine (409), not silently accepted.
    const a = await cookieFor(TOKENS.alice);
    assert.equal((await act(waitingRun, 'approve', { cookie: a.cookie, 'x-runwright-csrf': a.csrf })).status, 409);
    await page.close();
  });
});

describe('an admin', () => {
  test('cancels a running run (with a confirmation) and retries a failed one from its failed step', async () => {
    const slow = (await postAlert(srv.url, { text: 'disk usage 91% on /srv (billing-worker-3)', labels: { service: 'billing' }, inputs: { stepMs: 60_000 } }))[0]!.runId!;
    const failing = (await postAlert(srv.url, { text: 'disk usage 99% on /data (search-indexer-1)', labels: { service: 'search-indexer' }, inputs: { stepMs: 20, fail: true } }))[0]!.runId!;
    await srv.engine.waitFor(slow, (r) => r.status === 'running' && r.steps.measure?.status === 'running', 20_000);
    await srv.engine.waitFor(failing, (r) => r.status === 'failed', 20_000);

    await browser.context.clearCookies();
    const page = await browser.newPage();
    await signIn(page, srv.url, TOKENS.admin, `/dashboard/runs/${slow}`);
    await page.waitForSelector('.node[data-step="measure"][data-state="running"]');
    await page.click('#cancel');
    await page.click('#cancel-confirm');
    await page.waitForSelector('body[data-status="cancelled"]');
    assert.match((await page.textContent('#run-outcome')) ?? '', /cancelled by root/);
    assert.equal(await page.locator('#cancel').count(), 0);
    assert.equal((await srv.engine.store.get(slow))!.status, 'cancelled');

    await page.goto(`${srv.url}/dashboard/runs/${failing}`);
    await page.waitForSelector('#retry');
    assert.equal(await page.getAttribute('.node[data-step="clear_cache"]', 'data-state'), 'failed');
    const attemptsBefore = await page.locator('#timeline tr[data-step="clear_cache"]').count();
    await page.click('#retry');
    // The retry runs the failed step again (it fails again: the fixture's `fail` input is still set).
    await page.waitForFunction((n) => document.querySelectorAll('#timeline tr[data-step="clear_cache"]').length > n + 1, attemptsBefore);
    await page.waitForSelector('body[data-status="failed"]');
    assert.match((await page.textContent('#timeline')) ?? '', /retry from step 'clear_cache' by root/);
    await page.close();
  });
});

describe('sign-out', () => {
  test('clears the session: the page asks for a token again and the cookie no longer reads the API', async () => {
    await browser.context.clearCookies();
    const page = await browser.newPage();
    await signIn(page, srv.url, TOKENS.alice);
    await page.click('#sign-out');
    await page.waitForSelector('#token');
    assert.equal((await browser.context.cookies()).find((c) => c.name === 'runwright_session'), undefined);
    const status = await page.evaluate(async () => (await fetch('/api/runs')).status);
    assert.equal(status, 401);
    await page.close();
  });
});
