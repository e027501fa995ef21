import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { startSimulator } from '../../src/sim/index.js';
import type { Simulator } from '../../src/sim/simulator-api.js';
import {
  Children,
  REPO_ROOT,
  configYaml,
  fileSinkYaml,
  startKeeper,
  tempDir,
  waitUntil,
  writeSecretFile,
  type RunningKeeper,
} from '../helpers/cli.js';

/*
 * The status page as a person uses it: Debian's Chromium (never a downloaded browser) against
 * a spawned keeper and the simulator. `DTK_SCREENSHOTS=1 npx vitest run test/e2e/ui.test.ts`
 * refreshes docs/status-page.md's screenshots in docs/screenshots/; otherwise they go to a temp folder.
 */

const CHROMIUM = '/usr/bin/chromium';
const PIN = '582913';
const WRONG_PIN = '111111';
const TOTP_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const MAIN = '1000001201';
const SIDE = '1000001202'; // a wrong PIN, refused twice: a stop with its lift command
const WEBONLY = '1000001203'; // renew-only, no token yet: waits for an import
const TRADER_KEY = randomBytes(24).toString('hex'); // ui, every account
const LOOKER_KEY = randomBytes(24).toString('hex'); // ui, SIDE only
const BOT_KEY = randomBytes(24).toString('hex'); // token API only

const children = new Children();
let sim: Simulator;
let keeper: RunningKeeper;
let configPath: string;
let browser: Browser;
const tokensSeen = new Set<string>();
const shotsDir =
  process.env['DTK_SCREENSHOTS'] === '1' ? join(REPO_ROOT, 'docs', 'screenshots') : tempDir('dtk-shots-');

async function liveToken(): Promise<{ accessToken: string; fingerprint: string; obtainedAt: string }> {
  const res = await fetch(`${keeper.url}/v1/tokens/${MAIN}`, { headers: { authorization: `Bearer ${BOT_KEY}` } });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { accessToken: string; fingerprint: string; obtainedAt: string };
  tokensSeen.add(body.accessToken);
  return body;
}

/** Everything that must never reach a page: the keys, the credentials, every token handed out. */
function secrets(): string[] {
  return [PIN, TOTP_SECRET, TRADER_KEY, LOOKER_KEY, BOT_KEY, ...tokensSeen];
}

function expectNoSecret(text: string, where: string): void {
  for (const secret of secrets()) {
    if (text.includes(secret)) throw new Error(`a secret (${secret.slice(0, 4)}…) reached ${where}`);
  }
}

interface NetworkLog {
  readonly texts: string[];
}

/** Records every response the page receives (headers and bodies, the event stream excepted: it is read below). */
function recordNetwork(page: Page): NetworkLog {
  const log: NetworkLog = { texts: [] };
  page.on('response', (response) => {
    log.texts.push(`${response.url()} ${JSON.stringify(response.headers())}`);
    if ((response.headers()['content-type'] ?? '').startsWith('text/event-stream')) return;
    void response.text().then(
      (text) => log.texts.push(text),
      () => undefined,
    );
  });
  return log;
}

async function logIn(context: BrowserContext, key: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(keeper.url);
  await page.locator('#login').waitFor({ state: 'visible' });
  await page.fill('#key', key);
  await Promise.all([page.waitForURL(`${keeper.url}/`), page.click('#login button[type=submit]')]);
  await page.locator(`article[data-client="${SIDE}"]`).waitFor();
  return page;
}

/** The page's document, typed just enough: the test compiles without the DOM's types. */
interface PageDocument {
  querySelector(selector: string): { getAttribute(name: string): string | null } | null;
}

/** Runs in the page (a function, not a string: the page's CSP forbids eval, as it should). */
function obtainedChanged({ id, before }: { id: string; before: string | null }): boolean {
  const doc = (globalThis as unknown as { document: PageDocument }).document;
  return doc.querySelector(`article[data-client="${id}"]`)?.getAttribute('data-obtained') !== before;
}

async function cardObtained(page: Page, clientId: string): Promise<string | null> {
  return page.locator(`article[data-client="${clientId}"]`).getAttribute('data-obtained');
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does this)`);
  sim = await startSimulator({
    accounts: [MAIN, SIDE, WEBONLY].map((clientId) => ({ clientId, pin: PIN, totpSecret: TOTP_SECRET })),
    clock: systemClock,
    tokenLifetimeMs: 24 * 3_600_000,
    generateIntervalMs: 1_000,
  });
  // A failure before the first success, and a permanent refusal: both must show on the timeline.
  sim.addFault({ endpoint: 'generate', clientId: MAIN, action: { type: 'status', status: 503 } });
  const dir = tempDir('dtk-ui-');
  configPath = writeSecretFile(
    join(dir, 'config.yaml'),
    configYaml({
      simUrl: sim.baseUrl,
      minGenerateInterval: '1s',
      serverYaml: `  listen: 127.0.0.1:0
  apiKeys:
    - name: trader
      key: ${TRADER_KEY}
      clients: ["*"]
      ui: true
    - name: looker
      key: ${LOOKER_KEY}
      clients: ["${SIDE}"]
      ui: true
    - name: bot
      key: ${BOT_KEY}
      clients: ["*"]`,
      renewalYaml: `  avoid:\n    - { days: mon-fri, from: "09:15", to: "15:30" }`,
      accounts: [
        {
          clientId: MAIN,
          name: 'main',
          pin: PIN,
          totpSecret: TOTP_SECRET,
          sinksYaml: fileSinkYaml('./tokens/main.env', 'env'),
        },
        { clientId: SIDE, name: 'side', pin: WRONG_PIN, totpSecret: TOTP_SECRET },
        { clientId: WEBONLY, name: 'web', mode: 'renew-only' },
      ],
    }).replace('renewal:\n  avoid: []\n', 'renewal:\n'),
  );
  keeper = await startKeeper(children, configPath);
  await waitUntil(
    async () => {
      const res = await fetch(`${keeper.url}/v1/status`, { headers: { authorization: `Bearer ${BOT_KEY}` } });
      const rows = (await res.json()) as Array<{ clientId: string; state: string }>;
      return (
        rows.find((r) => r.clientId === MAIN)?.state === 'valid' &&
        rows.find((r) => r.clientId === SIDE)?.state === 'attention'
      );
    },
    { timeoutMs: 30_000, what: 'main valid and side in attention' },
  );
  await liveToken();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-gpu',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
  mkdirSync(shotsDir, { recursive: true });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await children.killAll();
  await sim?.close();
});

describe('the status page in a browser', () => {
  it('asks for a key, then shows every state, a stop with its command, and the keeper itself', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const network = recordNetwork(page);
    const requested: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    const cspErrors: string[] = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !/favicon|401/.test(msg.text())) cspErrors.push(msg.text());
    });
    await page.goto(keeper.url);
    await expect(page.locator('#login')).toBeVisibleSoon();
    await page.fill('#key', LOOKER_KEY.slice(0, 10) + 'wrong-wrong-wrong');
    await Promise.all([page.waitForURL(/login=refused/), page.click('#login button[type=submit]')]);
    await page.locator('#login-refused').waitFor({ state: 'visible' });
    await page.fill('#key', TRADER_KEY);
    await Promise.all([page.waitForURL(`${keeper.url}/`), page.click('#login button[type=submit]')]);

    const card = (id: string) => page.locator(`article[data-client="${id}"]`);
    await card(WEBONLY).waitFor();
    expect(await card(MAIN).getAttribute('data-state')).toBe('valid');
    expect(await card(SIDE).getAttribute('data-state')).toBe('attention');
    // renew-only without a token waits for a person: the command says what to do.
    expect(await card(WEBONLY).getAttribute('data-state')).toBe('attention');
    // The state is a word, not only a colour.
    expect(await card(MAIN).locator('.badge').textContent()).toBe('valid');
    expect(await card(SIDE).locator('.lift-command').textContent()).toBe(`dhan-token-keeper reset ${SIDE}`);
    expect(await card(WEBONLY).locator('.lift-command').textContent()).toBe(
      `dhan-token-keeper import ${WEBONLY} < token.txt`,
    );
    expect(await card(SIDE).locator('.stop').textContent()).toMatch(/refused|PIN|TOTP|credential/i);
    // Timeline: MAIN's first generation failed (503) then succeeded; SIDE stopped.
    expect(await card(MAIN).locator('rect.failure').count()).toBeGreaterThanOrEqual(1);
    expect(await card(MAIN).locator('rect.swap').count()).toBeGreaterThanOrEqual(1);
    expect(await card(SIDE).locator('rect.stopmark').count()).toBeGreaterThanOrEqual(1);
    await card(MAIN).locator('rect.hit').last().hover();
    await expect(page.locator('#tip')).toBeVisibleSoon();
    const keeperText = (await page.locator('#keeper').textContent()) ?? '';
    expect(keeperText).toMatch(/version\s+\d+\.\d+\.\d+/);
    expect(keeperText).toMatch(/role\s+single/);
    expect(keeperText).toMatch(/clock vs Dhan\s+-?\d+\.\d s/);
    expect(await page.locator('#conn').textContent()).toBe('live');
    expect(cspErrors).toEqual([]);
    // Everything comes from the keeper: the VPS may have no internet.
    expect(requested.filter((url) => !url.startsWith(`${keeper.url}/`))).toEqual([]);

    const html = await page.content();
    expectNoSecret(html, 'the DOM');
    expectNoSecret(network.texts.join('\n'), 'the network log');
    await context.close();
  }, 60_000);

  it('shows a swap without a reload, within a second of the long-poll hearing of it', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await logIn(context, TRADER_KEY);
    const before = await liveToken();
    const obtainedBefore = await cardObtained(page, MAIN);
    const poll = fetch(`${keeper.url}/v1/tokens/${MAIN}?after=${before.fingerprint}&wait=60`, {
      headers: { authorization: `Bearer ${BOT_KEY}` },
    }).then(async (res) => ({ at: Date.now(), body: (await res.json()) as { accessToken: string } }));
    const seen = page
      .waitForFunction(obtainedChanged, { id: MAIN, before: obtainedBefore }, { timeout: 30_000 })
      .then(() => Date.now());
    const renew = await children.run(['renew', MAIN, '--config', configPath]);
    expect(renew.code, renew.proc.dump()).toBe(0);
    const [swap, pageAt] = await Promise.all([poll, seen]);
    tokensSeen.add(swap.body.accessToken);
    const lagMs = pageAt - swap.at;
    console.log(`status page: swap shown ${lagMs} ms after the long-poll answered`);
    expect(lagMs).toBeLessThan(1000);
    expectNoSecret(await page.content(), 'the DOM after a swap');
    await context.close();
  }, 60_000);

  it('renews from the button after a confirmation, and refuses actions without the right key', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await logIn(context, TRADER_KEY);
    const network = recordNetwork(page);
    const obtainedBefore = await cardObtained(page, MAIN);
    const card = page.locator(`article[data-client="${MAIN}"]`);
    await card.locator('button[data-action=renew]').click();
    await page.locator('#confirm').waitFor({ state: 'visible' });
    // Cancel first: nothing may happen.
    await page.click('#confirm button[value=cancel]');
    await page.waitForTimeout(500);
    expect(await cardObtained(page, MAIN)).toBe(obtainedBefore);
    await card.locator('button[data-action=renew]').click();
    await page.click('#confirm-ok');
    await page.waitForFunction(obtainedChanged, { id: MAIN, before: obtainedBefore }, { timeout: 30_000 });
    await expect(page.locator(`article[data-client="${MAIN}"] .outcome`)).toHaveTextSoon(/renew: .*(renew|ok)/i);
    await liveToken();
    // The history shows the action came through the same queue as the CLI's.
    const history = await children.run(['history', '--client', MAIN, '--limit', '5', '--config', configPath]);
    expect(history.stdout).toMatch(/renew/);

    const action = `${keeper.url}/v1/ui/actions/${MAIN}/renew`;
    expect((await fetch(action, { method: 'POST' })).status).toBe(401);
    expect((await fetch(action, { method: 'POST', headers: { authorization: `Bearer ${BOT_KEY}` } })).status).toBe(403);
    expect((await fetch(action, { method: 'POST', headers: { authorization: `Bearer ${LOOKER_KEY}` } })).status).toBe(
      403,
    );
    // A cookie session needs its CSRF token, and a POST from another origin is refused.
    const login = await fetch(`${keeper.url}/ui/login`, {
      method: 'POST',
      body: new URLSearchParams({ key: TRADER_KEY }),
      redirect: 'manual',
    });
    expect(login.status).toBe(303);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    expect(login.headers.get('set-cookie')).toMatch(/HttpOnly; SameSite=Strict/);
    expect(login.headers.get('set-cookie')).not.toContain(TRADER_KEY);
    expect((await fetch(action, { method: 'POST', headers: { cookie } })).status).toBe(403);
    const state = (await (await fetch(`${keeper.url}/v1/ui/state`, { headers: { cookie } })).json()) as {
      viewer: { csrf: string };
    };
    expect(
      (
        await fetch(action, {
          method: 'POST',
          headers: { cookie, 'x-csrf-token': state.viewer.csrf, origin: 'http://evil.example' },
        })
      ).status,
    ).toBe(403);
    // The looker sees only its account, and no button for an account it may not act on.
    const lookerContext = await browser.newContext();
    const lookerPage = await logIn(lookerContext, LOOKER_KEY);
    expect(await lookerPage.locator(`article[data-client="${MAIN}"]`).count()).toBe(0);
    await lookerContext.close();

    expectNoSecret(await page.content(), 'the DOM after an action');
    expectNoSecret(network.texts.join('\n'), 'the network log after an action');
    await context.close();
  }, 90_000);

  it('sends no secret over the event stream', async () => {
    const res = await fetch(`${keeper.url}/v1/ui/events`, { headers: { authorization: `Bearer ${TRADER_KEY}` } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const { value } = await reader.read();
    await reader.cancel();
    const text = new TextDecoder().decode(value);
    expect(text).toMatch(/^event: state\ndata: \{/);
    expectNoSecret(text, 'the event stream');
  });

  it('fits a phone without horizontal scroll, in light and dark, and writes the screenshots', async () => {
    const shots: Array<[string, { width: number; height: number }, 'light' | 'dark']> = [
      ['desktop-light.png', { width: 1280, height: 900 }, 'light'],
      ['desktop-dark.png', { width: 1280, height: 900 }, 'dark'],
      ['phone-light.png', { width: 375, height: 812 }, 'light'],
      ['phone-dark.png', { width: 375, height: 812 }, 'dark'],
    ];
    for (const [file, viewport, colorScheme] of shots) {
      const context = await browser.newContext({
        viewport,
        colorScheme,
        deviceScaleFactor: 1,
        timezoneId: 'Europe/London',
        locale: 'en-GB',
      });
      const page = await logIn(context, TRADER_KEY);
      const overflow = await page.evaluate<number>(
        'document.documentElement.scrollWidth - document.documentElement.clientWidth',
      );
      expect(overflow, `${file}: horizontal scroll`).toBeLessThanOrEqual(0);
      // Everything the page loaded (HTML, CSS, script, the first state), as it travelled.
      const weight = await page.evaluate<number>(
        "performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation')).reduce((sum, e) => sum + e.encodedBodySize, 0)",
      );
      expect(weight).toBeLessThan(100 * 1024);
      await page.screenshot({ path: join(shotsDir, file), fullPage: true });
      await context.close();
    }
  }, 90_000);
});

// Small polling matchers, so the assertions above read like what a person checks.
expect.extend({
  async toBeVisibleSoon(locator: { waitFor(o: { state: 'visible'; timeout: number }): Promise<void> }) {
    try {
      await locator.waitFor({ state: 'visible', timeout: 10_000 });
      return { pass: true, message: () => 'visible' };
    } catch (err) {
      return { pass: false, message: () => `not visible within 10 s: ${(err as Error).message}` };
    }
  },
  async toHaveTextSoon(locator: { textContent(): Promise<string | null> }, pattern: RegExp) {
    const deadline = Date.now() + 30_000;
    let last: string | null = null;
    while (Date.now() < deadline) {
      last = await locator.textContent();
      if (last !== null && pattern.test(last)) return { pass: true, message: () => `matched ${pattern}` };
      await new Promise((r) => setTimeout(r, 100));
    }
    return { pass: false, message: () => `text ${JSON.stringify(last)} never matched ${pattern}` };
  },
});

declare module 'vitest' {
  interface Assertion<T> {
    toBeVisibleSoon(): Promise<T>;
    toHaveTextSoon(pattern: RegExp): Promise<T>;
  }
}
