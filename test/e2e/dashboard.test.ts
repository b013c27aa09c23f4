import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { eventually, startPlatform, processorConfig, type Platform } from '../support/stack.js';
import { createActivitySystem, type ActivitySystem } from '../../lib/activity/system.js';
import { ExecutionCache } from '../../lib/api/execution-cache.js';
import { startApiServer, type ApiServer } from '../../lib/api/server.js';
import { createRuntime, type Runtime } from '../../lib/runtime/runtime.js';
import { defineProcessor } from '../../lib/index.js';
import { createLogger } from '../../lib/log/logger.js';
import { PACKAGE_ROOT } from '../../lib/cli/dev-state.js';
import type { Config } from '../../lib/config/schema.js';
import type { Log } from '../../lib/log/log.js';
import incidentOps from '../../processors/incident-ops.js';
import { transportLabel } from '../support/test-broker.js';

const TOKEN = 'dashboard-e2e-token-0123456789abcdef';
const SCREENSHOT = path.join(PACKAGE_ROOT, 'test', 'artifacts', 'dashboard.png');
const XSS = '<img src=x onerror="globalThis.pwned=1">';
const FEED_BUFFER = 60;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Waits (Playwright's auto-waiting, with its deadline) until the element shows exactly `text` (or matches the pattern). */
async function shows(locator: Locator, text: string | RegExp): Promise<void> {
  const pattern = typeof text === 'string' ? new RegExp(`^\\s*${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`) : text;
  await locator.filter({ hasText: pattern }).first().waitFor();
}

/** Waits until the elements matching `selector` have exactly these texts, in order; on the deadline, fails showing what they had. */
async function showsAll(page: Page, selector: string, expected: string[]): Promise<void> {
  try {
    await page.waitForFunction(
      ({ selector, expected }: { selector: string; expected: string[] }) => {
        const got = [...document.querySelectorAll(selector)].map((e) => (e.textContent ?? '').trim());
        return got.length === expected.length && got.every((t, i) => t === expected[i]);
      },
      { selector, expected },
      { timeout: 20_000 },
    );
  } catch (error) {
    assert.deepEqual((await page.locator(selector).allTextContents()).map((t) => t.trim()), expected, `texts of ${selector}`);
    throw error;
  }
}

/**
 * An action that waits for the test between its two steps, so the page can
 * be seen showing it as running (no sleeping: the test opens the gate).
 */
function gatedProcessor() {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const processor = defineProcessor({
    name: 'dashboard-e2e',
    destination: 'incident_ops',
    steps: { 'Gated Note': ['wait for the test', 'add note'] },
    actions: {
      'Gated Note': async (message, ctx) => {
        await ctx.progress(`waiting for the test to add ${String(message.properties['note_text'])}`);
        await ctx.step('wait for the test', () => gate);
        const note = await ctx.step('add note', async () => {
          const created = await ctx.rest.post<{ id: number }>(`/incidents/${message.incident!.id}/comments`, { text: String(message.properties['note_text']) });
          return { note_id: created.id };
        });
        return { message: `gated note ${note.note_id} added`, results: note };
      },
    },
  });
  return { processor, open: () => open() };
}

describe(`dashboard: a real Chromium shows executions live from the operator API [${transportLabel()}]`, () => {
  let platform: Platform | undefined;
  let runtime: Runtime | undefined;
  let activity: ActivitySystem | undefined;
  let api: ApiServer | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext;
  let page: Page;
  const home = mkdtempSync(path.join(tmpdir(), 'cafkit-dashboard-'));
  const gated = gatedProcessor();
  /** Every URL the browser asked for (pages, scripts, fetches, WebSockets). */
  const requested: string[] = [];
  /** Uncaught errors of the page's script. */
  const pageErrors: string[] = [];
  let config: Config;
  let log: Log;
  let cache: ExecutionCache;

  /** The table row of the newest execution of `action`. */
  const row = (action: string): Locator => page.locator('#rows tr', { has: page.locator('td.action', { hasText: new RegExp(`^${action}$`) }) }).first();

  async function trigger(action: string, properties: Record<string, unknown>, incident = 2095) {
    return platform!.emulator.trigger({ destination: 'incident_ops', action, incident, properties });
  }

  before(async () => {
    platform = await startPlatform();
    platform.emulator.store.createAction({ name: 'Gated Note', type: 1, object_type: 'incident', message_destinations: ['incident_ops'], view_items: [{ content: 'note_text' }] } as never);
    config = processorConfig(platform, (c) => {
      c.activity.stores = [`sqlite:${path.join(home, 'activities.db')}`];
      c.activity.keys_dir = path.join(home, 'keys');
      // A Set Severity that keeps meeting 409s gives up after two tries rather than ten: the failure shows sooner.
      c.rest.conflict_tries = 2;
      c.api = { ...c.api, port: 0, auth: true, tokens: [{ name: 'e2e', token: TOKEN, scopes: ['read'] }] };
    });
    log = createLogger({ level: process.env['CAFKIT_TEST_LOG'] ? 'debug' : 'error' });
    // A small feed buffer, so that a page away for twenty executions meets a gap.
    cache = new ExecutionCache({ maxExecutions: config.api.cache_executions, bufferSize: FEED_BUFFER });
    activity = await createActivitySystem(config, log, { ...process.env, CAFKIT_HOME: home }, [cache]);
    runtime = createRuntime(config, [incidentOps, gated.processor], { log, activity });
    await runtime.start(AbortSignal.timeout(30_000));
    api = await startApiServer({ config: config.api, home, log, runtime, activity, cache });
    // Debian's chromium runs as root in CI containers, where its sandbox cannot start: --no-sandbox.
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
    // As a person signing in through the browser's dialog: any user name, the token as the password.
    context = await browser.newContext({ viewport: { width: 1400, height: 900 }, httpCredentials: { username: 'analyst', password: TOKEN } });
    context.on('request', (r) => requested.push(r.url()));
    context.setDefaultTimeout(20_000);
    context.on('weberror', (e) => pageErrors.push(e.error().message));
    if (process.env['CAFKIT_TEST_LOG']) context.on('console', (m) => console.log(`[browser] ${m.type()}: ${m.text()}`));
    page = await context.newPage();
    page.on('websocket', (ws) => requested.push(ws.url()));
  });

  after(async () => {
    gated.open();
    await browser?.close().catch(() => undefined);
    await api?.close().catch(() => undefined);
    // The runtime closes the activity system it was given; without one, close it here.
    if (runtime) await runtime.stop(10_000).catch(() => undefined);
    else await activity?.close(5_000).catch(() => undefined);
    await platform?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  test('takes the token from the URL fragment, removes it from the address bar and goes live', async () => {
    await page.goto(`${api!.url}/#token=${TOKEN}`);
    await shows(page.locator('#feed-state'), 'Feed: live');
    assert.equal(new URL(page.url()).hash, '', 'the token is gone from the address bar');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('cafkit.api.token')), TOKEN);
    await shows(page.locator('#health-broker'), 'connected');
    await shows(page.locator('#health-ready'), 'ready');
    await shows(page.locator('#health-sinks'), /sqlite: 0 queued/);
    await shows(page.locator('#empty'), 'No executions yet.');
  });

  test('a slow action shows as running, then as succeeded, updated in place over the stream', async () => {
    // Text from the platform is shown as text: inserted as HTML, this would become an <img> (whose handler the CSP blocks).
    const inv = await trigger('Gated Note', { note_text: XSS });
    await shows(row('Gated Note').locator('.badge'), /running$/);
    await shows(page.locator('#count-running'), '1');
    await shows(row('Gated Note').locator('td.duration'), /so far$/);
    const before = await row('Gated Note').elementHandle();
    gated.open();
    await shows(row('Gated Note').locator('.badge'), /succeeded$/);
    await shows(page.locator('#count-running'), '0');
    assert.ok(await before!.evaluate((tr) => tr.isConnected), 'the row was updated in place, not replaced');
    await platform!.emulator.waitFor(inv.id, { status: 'completed' });
    assert.equal(await page.locator('#rows tr').count(), 1);
  });

  test('Echo and Add Note appear newest first and succeed', async () => {
    await trigger('Echo', { note_text: 'echo from the dashboard test' });
    await shows(row('Echo').locator('.badge'), /succeeded$/);
    await trigger('Add Note', { note_text: 'a note from the dashboard test' });
    await shows(row('Add Note').locator('.badge'), /succeeded$/);
    await showsAll(page, '#rows td.action', ['Add Note', 'Echo', 'Gated Note']);
    await shows(row('Echo').locator('td').nth(2), 'incident-ops');
    await shows(row('Echo').locator('td').nth(3), 'incident_ops');
    await shows(row('Echo').locator('td').nth(4), '2095');
    await shows(row('Echo').locator('td.duration'), /^\d+(\.\d)? m?s$/);
  });

  test('a Set Severity that keeps conflicting shows as failed', async () => {
    platform!.emulator.setFaults({ conflicts: 1000 });
    try {
      const inv = await trigger('Set Severity', { severity: 'High' }, 2096);
      await shows(row('Set Severity').locator('.badge'), /failed$/);
      await platform!.emulator.waitFor(inv.id, { status: 'error' });
    } finally {
      platform!.emulator.setFaults({});
    }
    await shows(row('Set Severity').locator('td').nth(4), '2096');
  });

  test('the counters add up to the rows in view', async () => {
    await shows(page.locator('#count-total'), '4');
    await shows(page.locator('#count-succeeded'), '3');
    await shows(page.locator('#count-failed'), '1');
    await shows(page.locator('#count-running'), '0');
    await shows(page.locator('#count-dead_lettered'), '0');
    const statuses = await page.locator('#rows tr').evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset['status']));
    assert.deepEqual(statuses.sort(), ['failed', 'succeeded', 'succeeded', 'succeeded']);
  });

  test('the detail view shows the step timeline, every reply and the signed record', async () => {
    await row('Gated Note').click();
    const detail = page.locator('#detail');
    await detail.waitFor({ state: 'visible' });
    await shows(detail.locator('#detail-title'), 'Gated Note · succeeded');
    await showsAll(page, '#detail-steps .step-name', ['wait for the test', 'add note']);
    await showsAll(page, '#detail-steps .step-status', ['succeeded', 'succeeded']);
    const widths = await page.locator('#detail-steps .bar').evaluateAll((bars) => bars.map((b) => b.getBoundingClientRect().width));
    assert.ok(widths[0]! > 0, `the waiting step has a bar (${widths})`);
    await shows(page.locator('#detail-replies tbody td.reply-text').nth(1), /^gated note \d+ added$/);
    await shows(page.locator('#detail-replies tbody td.reply-text').nth(0), `waiting for the test to add ${XSS}`);
    assert.equal(await page.locator('#detail img').count(), 0, 'the note text was not parsed as HTML');
    assert.equal(await page.evaluate(() => (globalThis as { pwned?: number }).pwned), undefined);
    await showsAll(page, '#detail-replies tbody td:nth-child(4)', ['progress', 'final']);
    await shows(detail.locator('#detail-error'), 'none');
    await shows(detail.locator('#detail-record'), /Chain/);
    await shows(detail.locator('#detail-record code'), /^[A-Za-z0-9+/]{40,}={0,2}$/);

    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    await row('Set Severity').click();
    await shows(detail.locator('#detail-title'), 'Set Severity · failed');
    await shows(detail.locator('#detail-error'), /\S/);
    assert.notEqual((await detail.locator('#detail-error').textContent())?.trim(), 'none');
    await page.keyboard.press('Escape');
    await detail.waitFor({ state: 'hidden' });
  });

  test('filters hide the other executions, in the list and in the live stream', async () => {
    await page.getByLabel('Status').selectOption({ label: 'failed' });
    await showsAll(page, '#rows td.action', ['Set Severity']);
    await shows(page.locator('#count-total'), '1');

    await page.getByLabel('Status').selectOption({ label: 'any' });
    await page.getByLabel('Incident').fill('2095');
    await page.getByLabel('Action').fill('Echo');
    await page.getByLabel('Action').press('Enter');
    await showsAll(page, '#rows td.action', ['Echo']);
    await shows(page.locator('#feed-state'), 'Feed: live');

    // The stream is in order: once the second Echo shows, the Add Note before it would have shown had it passed the filter.
    await trigger('Add Note', { note_text: 'filtered out' });
    await trigger('Echo', { note_text: 'filtered in' });
    await showsAll(page, '#rows td.action', ['Echo', 'Echo']);
    await showsAll(page, '#rows .badge', ['✓ succeeded', '✓ succeeded']);

    await page.getByRole('button', { name: 'Clear' }).click();
    await showsAll(page, '#rows td.action', ['Echo', 'Add Note', 'Set Severity', 'Add Note', 'Echo', 'Gated Note']);
  });

  test('after the API restarts, the page resumes from its cursor and shows what happened while it was away', async () => {
    const port = api!.port;
    const before = requested.length;
    await api!.close();
    api = undefined;
    await shows(page.locator('#feed-state'), /^Feed: disconnected/);

    const inv = await trigger('Echo', { note_text: 'while the API was down' });
    await platform!.emulator.waitFor(inv.id, { status: 'completed' });
    await eventually(() => cache.newestFirst().some((e) => e.correlation_id === inv.correlation_id && e.status === 'succeeded'), 'the Echo in the cache');

    api = await startApiServer({ config: { ...config.api, port }, home, log, runtime: runtime!, activity, cache });
    await shows(page.locator('#feed-state'), 'Feed: live');
    await showsAll(page, '#rows td.action', ['Echo', 'Echo', 'Add Note', 'Set Severity', 'Add Note', 'Echo', 'Gated Note']);
    await shows(row('Echo').locator('.badge'), /succeeded$/);
    const since = requested.slice(before);
    assert.ok(since.some((u) => u.includes('/executions/stream?cursor=')), `the page reconnected with its cursor: ${since.join(' ')}`);
    assert.ok(!since.some((u) => u.includes('limit=100')), 'no re-list: the backlog after the cursor was enough');
  });

  test('after missing more than the feed buffer holds, the page re-lists on the gap and shows everything', async () => {
    const port = api!.port;
    // The page has seen every event so far (the previous test waited for it): its cursor is at most this one.
    const cursorOfPage = cache.cursor;
    await api!.close();
    api = undefined;
    await shows(page.locator('#feed-state'), /^Feed: disconnected/);
    const invocations = [];
    for (let i = 0; i < 20; i++) invocations.push(await trigger('Echo', { note_text: `gap ${i}` }));
    await Promise.all(invocations.map((inv) => platform!.emulator.waitFor(inv.id, { status: 'completed' })));
    const last = invocations.at(-1)!.correlation_id;
    await eventually(() => cache.newestFirst().some((e) => e.correlation_id === last && e.status === 'succeeded'), 'the last Echo in the cache');
    assert.equal(cache.since(cursorOfPage).gap, true, 'the page\'s cursor is older than the buffer');

    const before = requested.length;
    api = await startApiServer({ config: { ...config.api, port }, home, log, runtime: runtime!, activity, cache });
    await shows(page.locator('#count-total'), '27');
    await shows(page.locator('#count-succeeded'), '26');
    await shows(page.locator('#feed-state'), 'Feed: live');
    assert.ok(requested.slice(before).some((u) => u.includes('/executions?limit=100')), 'the page re-listed');
  });

  test('a refused token brings the sign-in form back with a message, and a good one opens the dashboard', async () => {
    const other = await context.newPage();
    other.on('websocket', (ws) => requested.push(ws.url()));
    try {
      await other.goto(`${api!.url}/#token=not-the-token`);
      await other.locator('#login').waitFor({ state: 'visible' });
      await shows(other.locator('#login-message'), /401/);
      assert.equal(await other.locator('#app').isHidden(), true);
      await other.getByLabel('API token').fill(TOKEN);
      await other.getByRole('button', { name: 'Open dashboard' }).click();
      await shows(other.locator('#feed-state'), 'Feed: live');
      await shows(other.locator('#count-total'), (await page.locator('#count-total').textContent())!);
      await shows(other.locator('#count-failed'), '1');
    } finally {
      await other.close();
    }
  });

  test('without credentials the page itself is refused (401); signed in through the browser alone, the page gets its token and goes live', async () => {
    const stranger = await browser!.newContext();
    try {
      // Headless Chromium cannot show the sign-in dialog (its navigation fails), so ask through the context's own HTTP client.
      const refused = await stranger.request.get(`${api!.url}/`);
      assert.equal(refused.status(), 401);
      assert.match(refused.headers()['www-authenticate'] ?? '', /^Basic realm="cafkit dashboard"/);
      assert.doesNotMatch(await refused.text(), /<html/i, 'nothing of the page');
    } finally {
      await stranger.close();
    }
    const signedIn = await context.newPage();
    signedIn.on('websocket', (ws) => requested.push(ws.url()));
    try {
      await signedIn.goto(`${api!.url}/`);
      await shows(signedIn.locator('#feed-state'), 'Feed: live');
      await shows(signedIn.locator('#count-failed'), '1');
    } finally {
      await signedIn.close();
    }
  });

  test('the page threw no uncaught error', () => {
    assert.deepEqual(pageErrors, []);
  });

  test('no request left the loopback interface', () => {
    assert.ok(requested.length > 0);
    const away = requested.filter((u) => !u.startsWith('data:') && !LOOPBACK.has(new URL(u).hostname));
    assert.deepEqual(away, []);
    assert.ok(requested.some((u) => u.startsWith('ws://127.0.0.1:') && u.includes('/executions/stream')), 'the page used the stream');
  });
});
