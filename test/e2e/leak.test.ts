import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterEach, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { startSimulator } from '../../src/sim/index.js';
import { Store } from '../../src/store/index.js';
import { isSealed } from '../../src/store/token-seal.js';
import {
  Children,
  callsOf,
  configYaml,
  fileSinkYaml,
  readJsonSink,
  startKeeper,
  statusJson,
  tempDir,
  waitUntil,
  writeSecretFile,
} from '../helpers/cli.js';
import { FakeNotifyServer } from '../helpers/fake-notify.js';
import { answer, startReceiver } from '../helpers/http.js';

/*
 * docs/promises.md promise 6 (no secret leaks), checked from outside: a whole session at log level debug — generation,
 * renewal, a renewal refused with 503 and retried, a renewal refused with 500 DH-905 (checked,
 * learned, an import asked for), an account stuck on a wrong PIN that Dhan quotes back in its
 * refusal (a bare 401 whose words the credential budget records and the stop quotes), an import,
 * a signed webhook, an API key in use — and then every byte any process printed and every
 * non-token HTTP answer is searched for every secret the keeper ever held.
 * Real time, not a fake clock: the keeper is a spawned process whose clock a test cannot drive.
 *
 * Excluded on purpose, because handing out the token is their job: the sinks (file, webhook),
 * the output of `token`, and the 200 body of the token API.
 */

const children = new Children();
afterEach(() => children.killAll());

// PINs with digits that do not turn up by chance in timestamps or ports.
const PIN_MAIN = '493817';
const PIN_WRONG_IN_CONFIG = '738261';
const PIN_AT_DHAN_FOR_WRONG = '615294';
const base32 = (bytes: Buffer): string => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const b of bytes) bits += b.toString(2).padStart(8, '0');
  let out = '';
  for (let i = 0; i + 5 <= bits.length; i += 5) out += alphabet.charAt(parseInt(bits.slice(i, i + 5), 2));
  return out;
};
// Fresh per run: a secret that happens to sit in some fixture cannot make the test pass or fail.
const SECRET_MAIN = base32(randomBytes(20));
const SECRET_WRONG = base32(randomBytes(20));
const API_KEY = randomBytes(24).toString('hex');
const HOOK_SECRET = randomBytes(20).toString('hex');
// Tokens sealed at rest for the whole session: the database file must show none of them.
const STORAGE_KEY = randomBytes(32);
const MAIN = '1000000501';
const WRONG = '1000000502';
const WEB = '1000000503';
const CONSENT = '1000000504';
const APP_KEY = randomBytes(16).toString('hex');
const APP_SECRET = randomBytes(20).toString('hex');
const BOT_TOKEN = `${Date.now() % 1_000_000}:${randomBytes(18).toString('base64url')}`;
const NTFY_TOKEN = `tk_${randomBytes(16).toString('hex')}`;
const NOTIFY_HOOK_SECRET = randomBytes(20).toString('hex');

it('no PIN, TOTP secret, token, API key or webhook secret in anything printed or served', async () => {
  const sim = await startSimulator({
    accounts: [
      { clientId: MAIN, pin: PIN_MAIN, totpSecret: SECRET_MAIN },
      { clientId: WRONG, pin: PIN_AT_DHAN_FOR_WRONG, totpSecret: SECRET_WRONG },
      { clientId: WEB, pin: PIN_MAIN, totpSecret: SECRET_MAIN },
      {
        clientId: CONSENT,
        pin: PIN_MAIN,
        totpSecret: SECRET_MAIN,
        apiKey: APP_KEY,
        apiSecret: APP_SECRET,
        redirectUrl: 'http://127.0.0.1:9/v1/consent/callback',
      },
    ],
    clock: systemClock,
    tokenLifetimeMs: 30_000,
    generateIntervalMs: 10_000,
  });
  const receiver = await startReceiver(answer(204));
  // Telegram, ntfy and a notify webhook, all on one fake: every message is searched too.
  const notified = await FakeNotifyServer.start();
  try {
    // The first renewal of the main account fails with 503 and must be retried.
    sim.addFault({ endpoint: 'renew', clientId: MAIN, action: { type: 'status', status: 503 } });
    // The imported token's first renewal is refused as Dhan refuses TOTP tokens (HTTP 500 DH-905):
    // the profile check, the lesson learned and the request for an import are printed too.
    sim.addFault({ endpoint: 'renew', clientId: WEB, action: { type: 'dhan-error', code: 'DH-905', status: 500 } });
    // The wrong PIN refused in a bare shape that echoes it: the stop and the budget quote Dhan's words.
    sim.addFault({
      endpoint: 'generate',
      clientId: WRONG,
      times: 2,
      action: { type: 'status', status: 401, body: { message: `Invalid Pin ${PIN_WRONG_IN_CONFIG}` } },
    });

    const dir = tempDir();
    // Secrets arrive every way the config allows: ${ENV}, *File and inline.
    writeSecretFile(join(dir, 'totp-main'), `${SECRET_MAIN}\n`);
    writeSecretFile(join(dir, 'api.key'), `${API_KEY}\n`);
    writeSecretFile(join(dir, 'storage.key'), `${STORAGE_KEY.toString('base64')}\n`);
    const configPath = writeSecretFile(
      join(dir, 'config.yaml'),
      configYaml({
        simUrl: sim.baseUrl,
        logLevel: 'debug',
        serverYaml: `  listen: 127.0.0.1:0
  apiKeys:
    - name: bot
      keyFile: ./api.key
      clients: ["*"]
      ui: true`,
        accounts: [
          {
            clientId: MAIN,
            name: 'main',
            sinksYaml:
              fileSinkYaml('./tokens/main.json') +
              `      - type: webhook\n        url: ${receiver.url}/hook\n        secret: ${HOOK_SECRET}\n        includeToken: true\n`,
          },
          { clientId: WRONG, name: 'wrong', pin: PIN_WRONG_IN_CONFIG, totpSecret: SECRET_WRONG },
          { clientId: WEB, name: 'web', mode: 'renew-only', sinksYaml: fileSinkYaml('./tokens/web.json') },
          // No token yet: it asks for a login at once, and the message carries a fresh login link.
          { clientId: CONSENT, name: 'apikey', mode: 'consent', apiKey: APP_KEY, apiSecret: APP_SECRET },
        ],
        extraYaml: `notify:
  channels:
    - type: telegram
      botToken: "${BOT_TOKEN}"
      chatId: 42
      apiBaseUrl: ${notified.url}
    - type: ntfy
      url: ${notified.url}
      topic: leak
      token: ${NTFY_TOKEN}
    - type: webhook
      url: ${notified.url}/notify-hook
      secret: ${NOTIFY_HOOK_SECRET}`,
      })
        .replace(
          `    name: main\n    mode: auto\n`,
          `    name: main\n    mode: auto\n    pin: \${LEAK_TEST_PIN}\n    totpSecretFile: ./totp-main\n`,
        )
        .replace(
          'storage:\n  path: ./keeper.db\n',
          'storage:\n  path: ./keeper.db\n  encryptionKeyFile: ./storage.key\n',
        ),
    );
    const env = { LEAK_TEST_PIN: PIN_MAIN };

    const check = await children.run(['check-config', '--config', configPath], { env });
    expect(check.code, check.proc.dump()).toBe(0);

    const keeper = await startKeeper(children, configPath, { env });
    const served: string[] = [];
    const serve = async (path: string, key?: string): Promise<number> => {
      const res = await fetch(`${keeper.url}${path}`, {
        headers: key === undefined ? {} : { authorization: `Bearer ${key}` },
      });
      served.push(`${path} ${res.status} ${JSON.stringify(Object.fromEntries(res.headers))}\n${await res.text()}`);
      return res.status;
    };

    // An import handed to the running daemon.
    const web = sim.issueWebToken(WEB);
    const imported = await children.run(['import', WEB, '--config', configPath], {
      env,
      input: `${web.accessToken}\n`,
    });
    expect(imported.code, imported.proc.dump()).toBe(0);

    // The 503 then a successful renewal of the main account, and the wrong PIN in attention.
    await waitUntil(() => readJsonSink(join(dir, 'tokens', 'main.json'))?.source === 'renew', {
      timeoutMs: 60_000,
      what: 'a successful renewal after the 503',
    });
    expect(callsOf(sim.stats(), MAIN).renew).toBeGreaterThanOrEqual(2);
    await waitUntil(
      async () =>
        (await statusJson(children, configPath, { env })).find((r) => r.clientId === WRONG)?.state === 'attention',
      {
        timeoutMs: 30_000,
        intervalMs: 1_000,
        what: 'the wrong-PIN account in attention',
      },
    );
    await waitUntil(
      async () =>
        (await statusJson(children, configPath, { env }))
          .find((r) => r.clientId === WEB)
          ?.attention?.includes('import') === true,
      {
        timeoutMs: 60_000,
        intervalMs: 1_000,
        what: 'the renew-only account asking for an import after a refused renewal',
      },
    );
    // attention (wrong PIN) and login-needed (apikey), each on three channels.
    await waitUntil(() => notified.received.length >= 6, { timeoutMs: 30_000, what: 'six notifications' });
    const test = await children.run(['notify-test', '--config', configPath], { env });
    expect(test.code, test.proc.dump()).toBe(0);
    const renew = await children.run(['renew', MAIN, '--config', configPath], { env, timeoutMs: 60_000 });
    expect(renew.code, renew.proc.dump()).toBe(0);

    // What operators and scrapers see.
    expect(await serve('/metrics')).toBe(200);
    expect(await serve('/v1/status', API_KEY)).toBe(200);
    await serve('/readyz');
    await serve('/healthz');
    // The status page: its files, its data, its event stream, its login and an action from it.
    for (const path of ['/', '/ui/app.js', '/ui/app.css', '/v1/ui/state']) expect(await serve(path, API_KEY)).toBe(200);
    const login = await fetch(`${keeper.url}/ui/login`, {
      method: 'POST',
      body: new URLSearchParams({ key: API_KEY }),
      redirect: 'manual',
    });
    expect(login.status).toBe(303);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    served.push(
      `/ui/login ${login.status} ${JSON.stringify(Object.fromEntries(login.headers))}\n${await login.text()}`,
    );
    const uiState = await fetch(`${keeper.url}/v1/ui/state`, { headers: { cookie } });
    const uiText = await uiState.text();
    served.push(uiText);
    const csrf = (JSON.parse(uiText) as { viewer: { csrf: string } }).viewer.csrf;
    const action = await fetch(`${keeper.url}/v1/ui/actions/${MAIN}/renew`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': csrf },
    });
    served.push(`action ${action.status}\n${await action.text()}`);
    expect(action.status).toBe(200);
    const stream = await fetch(`${keeper.url}/v1/ui/events`, { headers: { cookie } });
    const reader = stream.body!.getReader();
    served.push(new TextDecoder().decode((await reader.read()).value));
    await reader.cancel();
    expect(await serve(`/v1/tokens/${MAIN}`, `${API_KEY.slice(0, -4)}beef`)).toBe(401);
    expect(await serve(`/v1/tokens/${MAIN}`)).toBe(401);
    const tokenAnswer = await fetch(`${keeper.url}/v1/tokens/${MAIN}`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(tokenAnswer.status).toBe(200);
    const servedToken = ((await tokenAnswer.json()) as { accessToken: string }).accessToken;
    for (const args of [['status'], ['status', '--json'], ['history'], ['history', '--json', '--limit', '1000']]) {
      const res = await children.run([...args, '--config', configPath], { env });
      expect(res.code, res.proc.dump()).toBe(0);
    }

    keeper.proc.kill('SIGTERM');
    expect((await keeper.proc.waitForExit(15_000)).code).toBe(0);
    // After the daemon: the commands act directly, under their own lease.
    const history = await children.run(['history', '--json', '--limit', '1000', '--config', configPath], { env });
    expect(history.code).toBe(0);
    const events = JSON.parse(history.stdout) as Array<{ kind: string; result: string; errorKind: string | null }>;
    expect(events.some((e) => e.kind === 'renew' && e.result === 'failure')).toBe(true);
    expect(events.some((e) => e.kind === 'import' && e.result === 'success')).toBe(true);

    // Every token the keeper ever held, from its own database, plus those seen on the way.
    const db = new Database(join(dir, 'keeper.db'), { readonly: true });
    const sealed = (db.prepare('SELECT access_token FROM tokens').all() as Array<{ access_token: string }>).map(
      (r) => r.access_token,
    );
    // The credential budget keeps Dhan's answers, redacted as they were read.
    const budget = db.prepare('SELECT generation_attempts FROM accounts WHERE client_id = ?').pluck().get(WRONG);
    db.close();
    expect(JSON.parse(String(budget))).toMatchObject([
      { outcome: 'credentials-refused', answer: 'HTTP 401: Invalid Pin [redacted]' },
      { outcome: 'credentials-refused', answer: 'HTTP 401: Invalid Pin [redacted]' },
    ]);
    expect(sealed.filter((t) => t !== '').every(isSealed)).toBe(true);
    const store = Store.open(join(dir, 'keeper.db'), { readonly: true, key: STORAGE_KEY });
    const stored = [MAIN, WRONG, WEB]
      .flatMap((id) => store.listTokens(id, 1000).map((t) => t.accessToken))
      .filter((t) => t !== '');
    store.close();
    const tokens = new Set([...stored, web.accessToken, servedToken]);
    for (const { body } of receiver.requests)
      tokens.add((JSON.parse(body.toString('utf8')) as { accessToken: string }).accessToken);
    expect(stored.length).toBeGreaterThanOrEqual(4);

    // Each message as it arrived, minus what carries a channel's own credential by design: the
    // Telegram path holds the bot token, ntfy's authorization header its access token.
    const messages = notified.received.map((r) => {
      const headers = Object.fromEntries(Object.entries(r.headers).filter(([name]) => name !== 'authorization'));
      return `${r.path.startsWith('/bot') ? '/bot…/sendMessage' : r.path} ${JSON.stringify(headers)}\n${r.body}`;
    });
    expect(messages.some((m) => m.includes('consentApp-login?consentAppId='))).toBe(true);
    expect(messages.some((m) => m.includes('Dhan token keeper stopped: wrong'))).toBe(true);
    expect(messages.some((m) => m.includes('last answer: HTTP 401: Invalid Pin [redacted]'))).toBe(true);
    const printed = `${children.transcript()}\n${served.join('\n')}\n${messages.join('\n')}`;
    // Sanity: the corpus is the real thing (debug logs, metrics), not an empty string.
    expect(printed).toMatch(/"level":"debug"/);
    expect(printed).toMatch(/dhan_token_/);
    expect(printed.length).toBeGreaterThan(10_000);

    const secrets: Array<[string, string]> = [
      ['PIN of main', PIN_MAIN],
      ['wrong PIN in the config', PIN_WRONG_IN_CONFIG],
      ['PIN at Dhan', PIN_AT_DHAN_FOR_WRONG],
      ['TOTP secret of main', SECRET_MAIN],
      ['TOTP secret of main, lower case', SECRET_MAIN.toLowerCase()],
      ['TOTP secret of wrong', SECRET_WRONG],
      ['TOTP secret of wrong, lower case', SECRET_WRONG.toLowerCase()],
      ['API key', API_KEY],
      ['webhook secret', HOOK_SECRET],
      ['storage key (hex)', STORAGE_KEY.toString('hex')],
      ['storage key (base64)', STORAGE_KEY.toString('base64')],
      ['Dhan API key', APP_KEY],
      ['Dhan API secret', APP_SECRET],
      ['Telegram bot token', BOT_TOKEN],
      ['ntfy token', NTFY_TOKEN],
      ['notify webhook secret', NOTIFY_HOOK_SECRET],
    ];
    // A stolen database file (and its WAL) shows no token either.
    const fileBytes = Buffer.concat(
      ['keeper.db', 'keeper.db-wal']
        .map((f) => join(dir, f))
        .filter((f) => existsSync(f))
        .map((f) => readFileSync(f)),
    );
    const inFile = [...tokens].filter(
      (token) => fileBytes.includes(token) || fileBytes.includes(token.split('.')[2] ?? token),
    );
    expect(inFile, 'tokens found in the database file').toEqual([]);
    for (const token of tokens) {
      secrets.push([`token …${token.slice(-6)}`, token]);
      // A truncated or re-encoded token still leaks its signature part.
      const signature = token.split('.')[2];
      if (signature !== undefined) secrets.push([`signature of token …${token.slice(-6)}`, signature]);
    }
    const leaks = secrets.filter(([, secret]) => printed.includes(secret)).map(([what]) => what);
    expect(leaks, 'secrets found in printed output or HTTP answers').toEqual([]);
    expect(printed).not.toMatch(/[?&](pin|totp)=/i);
    console.log(
      `e2e-leak: searched ${printed.length} characters from ${children.all.length} processes, ${served.length} HTTP answers and ${messages.length} notifications for ${secrets.length} secrets (${tokens.size} tokens)`,
    );
  } finally {
    await sim.close();
    await receiver.close();
    await notified.close();
  }
}, 150_000);
