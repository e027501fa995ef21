import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { startSimulator } from '../../src/sim/index.js';
import type { Simulator } from '../../src/sim/simulator-api.js';
import { FakeNotifyServer } from '../helpers/fake-notify.js';
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
} from '../helpers/cli.js';

/*
 * Notifications' "Done when", through a spawned keeper against the simulator and a fake
 * Telegram/ntfy server on loopback: a consent account whose renewal Dhan refuses is asked to
 * log in once, with the link; after the login a "recovered" message follows. A TOTP account
 * with a wrong PIN produces one message per channel, not one per retry.
 */

const BOT = '777000:fake-bot-token-for-tests';
const CONSENT = '1000000801';
const TOTP = '1000000802';
const APP = { apiKey: 'notify-app-key-0801', apiSecret: 'notify-app-secret-0801' };
const PIN = '493817';
const TOTP_SECRET = 'KRSXG5CTMVRXEZLUKN2XAZLDNFQWY4ZA';

const children = new Children();
let sim: Simulator;
let fake: FakeNotifyServer;

beforeAll(async () => {
  // One-minute tokens: the consent account's whole day passes in a minute.
  sim = await startSimulator({
    accounts: [
      {
        clientId: CONSENT,
        pin: '111111',
        totpSecret: 'JBSWY3DPEHPK3PXP',
        ...APP,
        redirectUrl: 'http://127.0.0.1:9/v1/consent/callback',
      },
      { clientId: TOTP, pin: PIN, totpSecret: TOTP_SECRET },
    ],
    clock: systemClock,
    tokenLifetimeMs: 60_000,
    generateIntervalMs: 5_000,
  });
  fake = await FakeNotifyServer.start();
});

afterAll(async () => {
  await children.killAll();
  await fake.close();
  await sim.close();
});

function notifyYaml(channels: string): string {
  return `notify:\n  repeatEvery: 1h\n  channels:\n${channels}`;
}
const telegramYaml = (accounts: string): string =>
  `    - type: telegram\n      name: phone\n      botToken: "${BOT}"\n      chatId: 42\n      apiBaseUrl: ${fake.url}\n      accounts: [${accounts}]\n`;
const ntfyYaml = (accounts: string): string =>
  `    - type: ntfy\n      url: ${fake.url}\n      topic: dhan-${accounts}\n      accounts: [${accounts}]\n`;

describe('a consent account Dhan will not renew', () => {
  it('goes to login-needed at askBefore, one Telegram message carries the link, and after the login "recovered" follows', async () => {
    const dir = tempDir('dtk-notify-');
    const config = writeSecretFile(
      join(dir, 'config.yaml'),
      configYaml({
        simUrl: sim.baseUrl,
        accounts: [
          { clientId: CONSENT, name: 'apikey', mode: 'consent', ...APP, sinksYaml: fileSinkYaml('./token.json') },
        ],
        renewalYaml: '  renewBefore: 70%\n  jitter: 0s\n',
        extraYaml: `consent:\n  askBefore: 25s\n${notifyYaml(telegramYaml(CONSENT))}`,
      }),
    );
    // The first token, by a login before the keeper runs (--no-wait, then --paste).
    const started = await children.run(['login', CONSENT, '--no-wait', '--no-qr', '--config', config]);
    expect(started.code, started.proc.dump()).toBe(0);
    const firstUrl = started.stdout.split('\n').find((l) => l.includes('consentApp-login')) ?? '';
    const { location } = sim.approveConsent(new URL(firstUrl).searchParams.get('consentAppId') ?? '');
    const pasted = await children.run(['login', CONSENT, '--paste', location, '--config', config]);
    expect(pasted.code, pasted.proc.dump()).toBe(0);
    const first = readJsonSink(join(dir, 'token.json'));

    const keeper = await startKeeper(children, config);
    sim.registerApp(CONSENT, { ...APP, redirectUrl: `${keeper.url}/v1/consent/callback` });

    const messages = (): Array<{ text: string }> => fake.telegram(BOT).filter((m) => m.text.includes('apikey'));
    const ask = await waitUntil(() => messages()[0], { timeoutMs: 60_000, what: 'the login-needed message' });
    expect(ask.text).toMatch(/Dhan login needed: apikey/);
    const [row] = await statusJson(children, config);
    expect(row?.state).toBe('login-needed');
    const link = ask.text.split('\n').find((l) => l.startsWith(`${sim.baseUrl}/login/consentApp-login?consentAppId=`));
    expect(link, ask.text).toBeDefined();

    // The person taps the link: Dhan's page, approval, the 302 to the keeper's callback.
    const consentAppId = new URL(link ?? '').searchParams.get('consentAppId') ?? '';
    const approve = await fetch(`${sim.baseUrl}/login/consentApp-login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ consentAppId }).toString(),
      redirect: 'manual',
    });
    const page = await fetch(approve.headers.get('location') ?? '');
    expect(page.status).toBe(200);

    const recovered = await waitUntil(() => messages().find((m) => /live again/.test(m.text)), {
      timeoutMs: 20_000,
      what: 'the recovered message',
    });
    expect(recovered.text).toMatch(/Dhan token live again: apikey/);
    expect(messages().filter((m) => m.text.includes('consentApp-login'))).toHaveLength(1);
    const now = readJsonSink(join(dir, 'token.json'));
    expect(now?.accessToken).not.toBe(first?.accessToken);
    expect(sim.isLive(now?.accessToken ?? '')).toBe(true);
    const [after] = await statusJson(children, config);
    expect(after?.state).toBe('valid');
    const metrics = await (await fetch(`${keeper.url}/metrics`)).text();
    expect(metrics).toMatch(/dhan_token_notify_total\{channel="phone",result="success"\} 2/);
    expect(metrics).toMatch(/dhan_token_login_needed\{client_id="1000000801",name="apikey"\} 0/);
    keeper.proc.kill();
    await keeper.proc.waitForExit(15_000);
    // A minute of virtual Dhan in real time, on a machine shared by other suites.
  }, 150_000);
});

describe('a TOTP account with a wrong PIN', () => {
  it('produces one Telegram and one ntfy message when it enters attention, not one per retry', async () => {
    const dir = tempDir('dtk-notify-');
    const config = writeSecretFile(
      join(dir, 'config.yaml'),
      configYaml({
        simUrl: sim.baseUrl,
        accounts: [{ clientId: TOTP, name: 'totp', pin: '275064', totpSecret: TOTP_SECRET }],
        minGenerateInterval: '5s',
        extraYaml: notifyYaml(telegramYaml(TOTP) + ntfyYaml(TOTP)),
      }),
    );
    const keeper = await startKeeper(children, config);
    await waitUntil(async () => (await statusJson(children, config))[0]?.state === 'attention', {
      timeoutMs: 60_000,
      what: 'attention',
    });
    const telegram = (): Array<{ text: string }> => fake.telegram(BOT).filter((m) => m.text.includes('totp'));
    await waitUntil(() => telegram().length > 0 && fake.ntfy(`dhan-${TOTP}`).length > 0, {
      timeoutMs: 15_000,
      what: 'both messages',
    });
    // Sweeps run every minute here, the watcher every second: give repeats a chance to show.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(telegram()).toHaveLength(1);
    expect(telegram()[0]?.text).toMatch(/Dhan token keeper stopped: totp/);
    expect(telegram()[0]?.text).toMatch(/PIN or TOTP secret/);
    expect(fake.ntfy(`dhan-${TOTP}`)).toHaveLength(1);
    expect(sim.stats().generationsRefused[TOTP]).toBe(2);

    const test = await children.run(['notify-test', '--config', config]);
    expect(test.code, test.proc.dump()).toBe(0);
    expect(test.stdout).toMatch(/^phone: sent$/m);
    expect(test.stdout).toMatch(/^ntfy: sent$/m);
    keeper.proc.kill();
    await keeper.proc.waitForExit(15_000);
    // A minute of virtual Dhan in real time, on a machine shared by other suites.
  }, 150_000);
});
