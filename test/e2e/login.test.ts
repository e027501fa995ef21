import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { startSimulator } from '../../src/sim/index.js';
import type { Simulator } from '../../src/sim/simulator-api.js';
import {
  Children,
  configYaml,
  fileSinkYaml,
  readJsonSink,
  startKeeper,
  statusJson,
  tempDir,
  waitUntil,
  writeSecretFile,
  type RunningKeeper,
} from '../helpers/cli.js';

/*
 * The API-key login's "Done when", through spawned processes against the simulator: `login`
 * prints a link; a simulated browser approves it and follows Dhan's 302 to the keeper's
 * callback; the token lands in the sink. `--paste` does the same with the redirected address;
 * a forged or replayed tokenId changes nothing.
 */

const CLIENT = '1000000701';
const APP = { apiKey: 'e2e-app-key-0701', apiSecret: 'e2e-app-secret-0701-xyz' };
const LOGIN_LINE = /\/login\/consentApp-login\?consentAppId=/;

const children = new Children();
let sim: Simulator;

beforeAll(async () => {
  sim = await startSimulator({
    accounts: [{ clientId: CLIENT, pin: '111111', totpSecret: 'JBSWY3DPEHPK3PXP', name: 'CONSENT USER', ...APP }],
    clock: systemClock,
  });
});

afterAll(async () => {
  await children.killAll();
  await sim.close();
});

function world(): { dir: string; config: string; sink: string } {
  const dir = tempDir('dtk-login-');
  const sink = join(dir, 'token.json');
  const config = writeSecretFile(
    join(dir, 'config.yaml'),
    configYaml({
      simUrl: sim.baseUrl,
      accounts: [
        { clientId: CLIENT, name: 'consent', mode: 'consent', ...APP, sinksYaml: fileSinkYaml('./token.json') },
      ],
    }),
  );
  return { dir, config, sink };
}

/** What a browser does after the person approves: Dhan's 302 → the keeper's callback. */
async function approveInBrowser(loginUrl: string): Promise<{ location: string; page: Response }> {
  const login = await fetch(loginUrl);
  expect(login.status).toBe(200);
  const consentAppId = new URL(loginUrl).searchParams.get('consentAppId') ?? '';
  const approve = await fetch(`${sim.baseUrl}/login/consentApp-login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ consentAppId }).toString(),
    redirect: 'manual',
  });
  expect(approve.status).toBe(302);
  const location = approve.headers.get('location') ?? '';
  return { location, page: await fetch(location) };
}

describe('login through a running keeper', () => {
  let keeper: RunningKeeper;
  let w: ReturnType<typeof world>;

  beforeAll(async () => {
    w = world();
    keeper = await startKeeper(children, w.config);
    sim.registerApp(CLIENT, { ...APP, redirectUrl: `${keeper.url}/v1/consent/callback` });
  });

  it('prints a link; approving it stores a live consent token that the sink receives; a replay changes nothing', async () => {
    const login = children.spawn(['login', CLIENT, '--config', w.config]);
    const loginUrl = (await login.waitForLine(LOGIN_LINE, 30_000)).trim();
    expect(loginUrl.startsWith(`${sim.baseUrl}/login/consentApp-login?consentAppId=`)).toBe(true);
    // The QR code comes right after the link, in half-block characters.
    await login.waitFor(() => /[▀▄█]/.test(login.stdout), 10_000, 'the QR code');

    const { location, page } = await approveInBrowser(loginUrl);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Logged in');
    const exit = await login.waitForExit(30_000);
    expect(exit.code, login.dump()).toBe(0);
    expect(login.stdout).toMatch(/logged in: token [0-9a-f]+ valid until/);

    const published = await waitUntil(() => readJsonSink(w.sink), { timeoutMs: 10_000, what: 'the sink file' });
    expect(published.source).toBe('consent');
    expect(sim.isLive(published.accessToken)).toBe(true);
    expect(html).not.toContain(published.accessToken);
    const [row] = await statusJson(children, w.config);
    expect(row).toMatchObject({ state: 'valid', source: 'consent' });

    // The same redirect again (a reload, or someone who saw the address): refused, nothing changes.
    const replay = await fetch(location);
    expect(replay.status).toBe(409);
    expect(await replay.text()).toContain('Nothing was changed');
    expect(readJsonSink(w.sink)?.accessToken).toBe(published.accessToken);
    expect(sim.isLive(published.accessToken)).toBe(true);
  });

  it('a forged tokenId changes nothing, with or without a login waiting', async () => {
    const before = readJsonSink(w.sink)?.accessToken;
    const forged = await fetch(`${keeper.url}/v1/consent/callback?tokenId=00000000-0000-4000-8000-000000000000`);
    expect(forged.status).toBe(404);
    expect(await forged.text()).toMatch(/no login started by this keeper/);
    const missing = await fetch(`${keeper.url}/v1/consent/callback`);
    expect(missing.status).toBe(400);

    // With a login waiting, a forged tokenId is refused by Dhan and the login stays open for the real one.
    const started = await children.run(['login', CLIENT, '--no-wait', '--no-qr', '--config', w.config]);
    expect(started.code, started.proc.dump()).toBe(0);
    const loginUrl =
      started.stdout
        .split('\n')
        .find((l) => LOGIN_LINE.test(l))
        ?.trim() ?? '';
    const forgedWhileOpen = await fetch(
      `${keeper.url}/v1/consent/callback?tokenid=11111111-2222-4333-8444-555555555555`,
    );
    expect(forgedWhileOpen.status).toBe(502);
    expect(await forgedWhileOpen.text()).toContain('Nothing was changed');
    expect(readJsonSink(w.sink)?.accessToken).toBe(before);
    expect(sim.isLive(before ?? '')).toBe(true);

    // --paste with the redirected address finishes the waiting login.
    const { location } = await approveInBrowserNoFollow(loginUrl);
    const pasted = await children.run(['login', CLIENT, '--paste', location, '--config', w.config]);
    expect(pasted.code, pasted.proc.dump()).toBe(0);
    const after = await waitUntil(
      () => (readJsonSink(w.sink)?.accessToken !== before ? readJsonSink(w.sink) : undefined),
      {
        timeoutMs: 10_000,
        what: 'the new token in the sink',
      },
    );
    expect(after.source).toBe('consent');
    expect(sim.isLive(after.accessToken)).toBe(true);
    expect(sim.isLive(before ?? '')).toBe(false);
  });
});

describe('login --paste at the prompt', () => {
  it('takes the address the browser ended on, typed after the link was shown', async () => {
    const w = world();
    const keeper = await startKeeper(children, w.config);
    sim.registerApp(CLIENT, { ...APP, redirectUrl: `${keeper.url}/v1/consent/callback` });
    const login = children.spawn(['login', CLIENT, '--paste', '--no-qr', '--config', w.config], {
      keepStdinOpen: true,
    });
    const loginUrl = (await login.waitForLine(LOGIN_LINE, 30_000)).trim();
    // The person's browser could not reach the keeper: the address is copied, not followed.
    const { location } = await approveInBrowserNoFollow(loginUrl);
    login.child.stdin?.end(`${location}\n`);
    const exit = await login.waitForExit(30_000);
    expect(exit.code, login.dump()).toBe(0);
    const token = await waitUntil(() => readJsonSink(w.sink), { timeoutMs: 10_000, what: 'the sink file' });
    expect(token.source).toBe('consent');
    expect(sim.isLive(token.accessToken)).toBe(true);
    keeper.proc.kill();
    await keeper.proc.waitForExit(15_000);
  });
});

/** The approval without following the redirect: what a person on a VPS without a tunnel copies. */
async function approveInBrowserNoFollow(loginUrl: string): Promise<{ location: string }> {
  const consentAppId = new URL(loginUrl).searchParams.get('consentAppId') ?? '';
  return { location: sim.approveConsent(consentAppId).location };
}

describe('login with no keeper running', () => {
  it('--no-wait then --paste ADDRESS stores the token directly; the same address again is refused', async () => {
    const w = world();
    sim.registerApp(CLIENT, { ...APP, redirectUrl: 'http://127.0.0.1:9/v1/consent/callback' });
    const started = await children.run(['login', CLIENT, '--no-wait', '--config', w.config]);
    expect(started.code, started.proc.dump()).toBe(0);
    expect(started.stdout).toMatch(/--paste/);
    const loginUrl =
      started.stdout
        .split('\n')
        .find((l) => LOGIN_LINE.test(l))
        ?.trim() ?? '';
    const { location } = await approveInBrowserNoFollow(loginUrl);
    expect(location.startsWith('http://127.0.0.1:9/v1/consent/callback?tokenId=')).toBe(true);

    const pasted = await children.run(['login', CLIENT, '--paste', location, '--config', w.config]);
    expect(pasted.code, pasted.proc.dump()).toBe(0);
    const token = readJsonSink(w.sink);
    expect(token?.source).toBe('consent');
    expect(sim.isLive(token?.accessToken ?? '')).toBe(true);

    const again = await children.run(['login', CLIENT, '--paste', location, '--config', w.config]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already used/);
    expect(readJsonSink(w.sink)?.accessToken).toBe(token?.accessToken);
  });

  it('refuses an account without an API key, naming the keys to set', async () => {
    const dir = tempDir('dtk-login-');
    const config = writeSecretFile(
      join(dir, 'config.yaml'),
      configYaml({ simUrl: sim.baseUrl, accounts: [{ clientId: CLIENT, name: 'web', mode: 'renew-only' }] }),
    );
    const res = await children.run(['login', CLIENT, '--config', config]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/accounts\[0\]\.apiKey and apiSecret/);
  });
});
