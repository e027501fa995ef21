import { execFileSync } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { startSimulator } from '../../src/sim/index.js';
import type { Simulator } from '../../src/sim/simulator-api.js';
import {
  Children,
  configYaml,
  fileSinkYaml,
  readJsonSink,
  sleep,
  startKeeper,
  tempDir,
  waitUntil,
  writeSecretFile,
  type RunningKeeper,
} from '../helpers/cli.js';
import { answer, startReceiver, type Receiver } from '../helpers/http.js';

/*
 * Issue 4 "Done when", from outside: a running `dhan-token-keeper run` serves tokens to a plain
 * HTTP client, pushes swaps to a long-poll, and feeds env files, exec hooks and signed webhooks.
 * Tokens live 30 s, so a real renewal at the simulator happens about every 20 s.
 * Real time, not a fake clock: the keeper is a spawned process whose clock a test cannot drive.
 */

const PIN = '493817';
const TOTP_SECRET = 'KRSXG5CTMVRXEZLUKN2XAZLDNFQWY4ZA';
const MAIN = '1000000401'; // every sink
const SIDE = '1000000402'; // the only account the "other" key may read
const WEBONLY = '1000000403'; // renew-only and never given a token: 503
const UNKNOWN = '1999999999';
const BOT_KEY = randomBytes(24).toString('hex');
const OTHER_KEY = randomBytes(24).toString('hex');
const HOOK_SECRET = randomBytes(16).toString('hex');

interface TokenBody {
  clientId: string;
  accessToken: string;
  expiresAt: string;
  expiryTime: string;
  source: string;
  obtainedAt: string;
  fingerprint: string;
}

interface Delivery {
  readonly raw: Buffer;
  readonly signature: string | undefined;
}

const children = new Children();
let sim: Simulator;
let dir: string;
let configPath: string;
let keeper: RunningKeeper;
let receiver: Receiver | undefined;

function deliveries(): Delivery[] {
  return (receiver?.requests ?? []).map((r) => {
    const sig = r.headers['x-dhan-token-signature'];
    return { raw: r.body, signature: typeof sig === 'string' ? sig : undefined };
  });
}

const sinkJson = (): string => join(dir, 'tokens', 'main.json');
const sinkEnv = (): string => join(dir, 'tokens', 'main.env');

function fingerprint(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 12);
}

function get(path: string, key?: string, signal?: AbortSignal): Promise<Response> {
  return fetch(`${keeper.url}${path}`, {
    headers: key === undefined ? {} : { authorization: `Bearer ${key}` },
    ...(signal ? { signal } : {}),
  });
}

/** The exec hook: records what it was given, keyed by the token's fingerprint, never printing it. */
const HOOK_SCRIPT = `
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
let input = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) input += chunk;
const token = JSON.parse(input);
const fp = createHash('sha256').update(token.accessToken).digest('hex').slice(0, 12);
let cmdline = '';
try { cmdline = readFileSync('/proc/self/cmdline', 'utf8'); } catch {}
writeFileSync(join(process.env.HOOK_OUT_DIR ?? process.argv[2], 'exec-' + fp + '.json'), JSON.stringify({ stdin: input, argv: process.argv, cmdline, env: process.env }));
`;

beforeAll(async () => {
  sim = await startSimulator({
    accounts: [MAIN, SIDE, WEBONLY].map((clientId) => ({ clientId, pin: PIN, totpSecret: TOTP_SECRET })),
    clock: systemClock,
    tokenLifetimeMs: 30_000,
    generateIntervalMs: 10_000,
  });
  receiver = await startReceiver(answer(204));
  const hookUrl = `${receiver.url}/dhan-token`;

  dir = tempDir();
  const hook = join(dir, 'hook.mjs');
  writeFileSync(hook, HOOK_SCRIPT);
  configPath = writeSecretFile(
    join(dir, 'config.yaml'),
    configYaml({
      simUrl: sim.baseUrl,
      serverYaml: `  listen: 127.0.0.1:0
  apiKeys:
    - name: bot
      key: ${BOT_KEY}
      clients: ["*"]
    - name: other
      key: ${OTHER_KEY}
      clients: ["${SIDE}"]`,
      accounts: [
        {
          clientId: MAIN,
          name: 'main',
          pin: PIN,
          totpSecret: TOTP_SECRET,
          sinksYaml:
            fileSinkYaml('./tokens/main.json') +
            fileSinkYaml('./tokens/main.env', 'env') +
            `      - type: exec\n        command: ["${process.execPath}", "${hook}", "${dir}"]\n        timeout: 10s\n` +
            `      - type: webhook\n        url: ${hookUrl}\n        secret: ${HOOK_SECRET}\n        includeToken: true\n        timeout: 5s\n`,
        },
        { clientId: SIDE, name: 'side', pin: PIN, totpSecret: TOTP_SECRET },
        { clientId: WEBONLY, name: 'webonly', mode: 'renew-only' },
      ],
    }),
  );
  keeper = await startKeeper(children, configPath);
  await waitUntil(() => readJsonSink(sinkJson()), { timeoutMs: 30_000, what: 'the first token in the json sink' });
}, 60_000);

afterAll(async () => {
  await children.killAll();
  await sim?.close();
  await receiver?.close();
});

// Per-test children (the daemon lives in `children` until afterAll).
const oneShots = new Children();
afterEach(() => oneShots.killAll());

describe('token API against a running keeper', () => {
  it('answers 401/403/404/200/503 as documented, to a plain HTTP client', async () => {
    const none = await get(`/v1/tokens/${MAIN}`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await none.text()).not.toMatch(/eyJ/);

    const wrong = await get(`/v1/tokens/${MAIN}`, 'not-a-key-0123456789abcdef');
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer/);

    const basic = await fetch(`${keeper.url}/v1/tokens/${MAIN}`, {
      headers: { authorization: `Basic ${Buffer.from(`x:${BOT_KEY}`).toString('base64')}` },
    });
    expect(basic.status).toBe(401);

    const forbidden = await get(`/v1/tokens/${MAIN}`, OTHER_KEY);
    expect(forbidden.status).toBe(403);
    expect(await forbidden.text()).not.toMatch(/eyJ/);

    const unknown = await get(`/v1/tokens/${UNKNOWN}`, BOT_KEY);
    expect(unknown.status).toBe(404);

    const ok = await get(`/v1/tokens/${MAIN}`, BOT_KEY);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('cache-control')).toMatch(/no-store/);
    const body = (await ok.json()) as TokenBody;
    expect(Object.keys(body).sort()).toEqual(
      ['accessToken', 'clientId', 'expiresAt', 'expiryTime', 'fingerprint', 'obtainedAt', 'source'].sort(),
    );
    expect(body.clientId).toBe(MAIN);
    expect(sim.isLive(body.accessToken)).toBe(true);
    expect(body.fingerprint).toBe(fingerprint(body.accessToken));
    expect(body.fingerprint).not.toContain(body.accessToken.slice(0, 16));
    expect(Date.parse(body.expiresAt)).toBeGreaterThan(Date.now());
    expect(['totp', 'renew']).toContain(body.source);

    await waitUntil(async () => (await get(`/v1/tokens/${SIDE}`, OTHER_KEY)).status === 200, {
      timeoutMs: 20_000,
      what: 'the side account token',
    });

    const noToken = await get(`/v1/tokens/${WEBONLY}`, BOT_KEY);
    expect(noToken.status).toBe(503);
    expect(await noToken.text()).toMatch(new RegExp(WEBONLY));

    // /v1/status is authenticated and, for a key limited to one account, shows only that one.
    expect((await get('/v1/status')).status).toBe(401);
    const statusAll = await get('/v1/status', BOT_KEY);
    expect(statusAll.status).toBe(200);
    const statusText = await statusAll.text();
    expect((JSON.parse(statusText) as Array<{ clientId: string }>).map((r) => r.clientId).sort()).toEqual([
      MAIN,
      SIDE,
      WEBONLY,
    ]);
    expect(statusText).not.toContain(body.accessToken);
    const statusOther = (await (await get('/v1/status', OTHER_KEY)).json()) as Array<{ clientId: string }>;
    expect(statusOther.map((r) => r.clientId)).toEqual([SIDE]);

    expect((await get('/healthz')).status).toBe(200);
    // Ready means every account has a live token: the renew-only account without one holds it back.
    const ready = await get('/readyz');
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain(WEBONLY);
  });

  it('wakes a long-poll within 100 ms of a real renewal at the simulator', async () => {
    // ?wait runs out with 304 when nothing changes.
    const current = (await (await get(`/v1/tokens/${MAIN}`, BOT_KEY)).json()) as TokenBody;
    const short = await get(`/v1/tokens/${MAIN}?after=${current.fingerprint}&wait=1`, BOT_KEY);
    expect([200, 304]).toContain(short.status);

    let latencyMs: number | undefined;
    for (let attempt = 0; attempt < 3 && latencyMs === undefined; attempt += 1) {
      const before = (await (await get(`/v1/tokens/${MAIN}`, BOT_KEY)).json()) as TokenBody;
      // The sink file is the other witness of the swap: watch it as closely as a poll allows.
      let sinkChangedAt: number | undefined;
      const check = (): void => {
        if (sinkChangedAt !== undefined) return;
        const t = readJsonSink(sinkJson())?.accessToken;
        if (t !== undefined && t !== before.accessToken) sinkChangedAt = Date.now();
      };
      const watcher = watch(join(dir, 'tokens'), check);
      const poller = setInterval(check, 5);
      const startedAt = Date.now();
      const res = await get(`/v1/tokens/${MAIN}?after=${before.fingerprint}&wait=30`, BOT_KEY);
      const answeredAt = Date.now();
      const text = await res.text();
      try {
        await waitUntil(
          () => {
            check();
            return sinkChangedAt !== undefined || res.status !== 200;
          },
          { timeoutMs: 5_000, intervalMs: 5, what: 'the sink to show the swap too' },
        );
      } finally {
        watcher.close();
        clearInterval(poller);
      }
      if (res.status !== 200 || answeredAt - startedAt < 1_000) continue; // not parked: the swap came before the poll
      const after = JSON.parse(text) as TokenBody;
      expect(after.fingerprint).not.toBe(before.fingerprint);
      expect(after.accessToken).not.toBe(before.accessToken);
      expect(sim.isLive(after.accessToken)).toBe(true);
      latencyMs = answeredAt - (sinkChangedAt ?? answeredAt);
      console.log(
        `e2e-serve: long-poll answered ${latencyMs} ms after the sink file changed (parked ${answeredAt - startedAt} ms)`,
      );
    }
    expect(latencyMs, 'a long-poll that was parked when the renewal happened').toBeDefined();
    expect(Math.abs(latencyMs ?? Infinity)).toBeLessThan(1_000);
  }, 120_000);
});

describe('sinks of a running keeper', () => {
  it('an env file sourced by bash yields the live token', async () => {
    let envToken = '';
    for (let attempt = 0; attempt < 3; attempt += 1) {
      envToken = execFileSync('bash', ['-c', 'set -a; . "$1"; printf %s "$DHAN_ACCESS_TOKEN"', 'bash', sinkEnv()], {
        encoding: 'utf8',
      });
      // A renewal between reading and asking Dhan would make a live token look dead: ask again.
      if (sim.isLive(envToken)) break;
      await sleep(300);
    }
    expect(envToken.length).toBeGreaterThan(20);
    expect(sim.isLive(envToken)).toBe(true);
    const vars = execFileSync(
      'bash',
      ['-c', 'set -a; . "$1"; printf "%s\\n%s" "$DHAN_CLIENT_ID" "$DHAN_TOKEN_EXPIRES_AT"', 'bash', sinkEnv()],
      { encoding: 'utf8' },
    ).split('\n');
    expect(vars[0]).toBe(MAIN);
    expect(Date.parse(vars[1] ?? '')).toBeGreaterThan(Date.now() - 1_000);
  });

  it('an exec hook gets the token as JSON on stdin, never in its argv or environment', async () => {
    const token = await waitUntil(
      () => {
        const t = readJsonSink(sinkJson())?.accessToken;
        return t !== undefined && existsSync(join(dir, `exec-${fingerprint(t)}.json`)) ? t : undefined;
      },
      { timeoutMs: 30_000, what: 'the exec hook to run for the token in the json sink' },
    );
    const seen = JSON.parse(readFileSync(join(dir, `exec-${fingerprint(token)}.json`), 'utf8')) as {
      stdin: string;
      argv: string[];
      cmdline: string;
      env: Record<string, string>;
    };
    const payload = JSON.parse(seen.stdin) as { clientId: string; accessToken: string; expiresAt: string };
    expect(payload.clientId).toBe(MAIN);
    expect(payload.accessToken).toBe(token);
    expect(seen.argv.join(' ')).not.toContain(token);
    expect(seen.cmdline).not.toContain(token);
    expect(JSON.stringify(seen.env)).not.toContain(token);
    expect(seen.env['DHAN_CLIENT_ID']).toBe(MAIN);
    expect(seen.env['DHAN_TOKEN_EXPIRES_AT']).toBe(payload.expiresAt);
    // The keeper's own environment (where ${PIN}-style secrets live) is not passed on.
    expect(seen.env['VITEST']).toBeUndefined();
  });

  it('a webhook receiver verifies the HMAC-SHA256 signature with the shared secret', async () => {
    await waitUntil(() => deliveries().length > 0, { timeoutMs: 30_000, what: 'a webhook delivery' });
    for (const d of deliveries()) {
      const expected = `sha256=${createHmac('sha256', HOOK_SECRET).update(d.raw).digest('hex')}`;
      expect(d.signature).toBe(expected);
      const body = JSON.parse(d.raw.toString('utf8')) as { clientId: string; accessToken: string; fingerprint: string };
      expect(body.clientId).toBe(MAIN);
      expect(body.fingerprint).toBe(fingerprint(body.accessToken));
      // The signature covers exactly these bytes: any other body fails.
      const forged = `sha256=${createHmac('sha256', HOOK_SECRET)
        .update(`${d.raw.toString('utf8')} `)
        .digest('hex')}`;
      expect(forged).not.toBe(d.signature);
    }
    const latest = JSON.parse(deliveries().at(-1)?.raw.toString('utf8') ?? '{}') as { accessToken: string };
    const sinkNow = readJsonSink(sinkJson())?.accessToken;
    // The latest delivery carries the token the file sink holds (or its successor is on its way).
    if (latest.accessToken !== sinkNow)
      await waitUntil(() => deliveries().some((d) => d.raw.toString('utf8').includes(sinkNow ?? '-')), {
        timeoutMs: 10_000,
        what: 'the webhook for the current token',
      });
  });
});

describe('serving safely', () => {
  it('refuses to listen on a non-loopback address without API keys', async () => {
    const other = tempDir();
    const path = writeSecretFile(
      join(other, 'open.yaml'),
      configYaml({
        simUrl: sim.baseUrl,
        serverYaml: '  listen: 0.0.0.0:0',
        accounts: [{ clientId: WEBONLY, name: 'webonly', mode: 'renew-only' }],
      }),
    );
    const res = await oneShots.run(['run', '--config', path], { timeoutMs: 30_000 });
    expect([1, 2]).toContain(res.code);
    expect(res.stderr).toMatch(/0\.0\.0\.0/);
    expect(res.stderr).toMatch(/API key|apiKeys/);
    expect(res.stderr).not.toMatch(/^\s+at .+:\d+/m);
  });

  it('healthcheck exits 0 against the running keeper and 1 once it is down', async () => {
    // healthcheck reads server.listen: give it the port the daemon actually bound.
    const port = new URL(keeper.url).port;
    const hcPath = writeSecretFile(
      join(dir, 'healthcheck.yaml'),
      readFileSync(configPath, 'utf8').replace('listen: 127.0.0.1:0', `listen: 127.0.0.1:${port}`),
    );
    const up = await oneShots.run(['healthcheck', '--config', hcPath]);
    expect(up.code, up.proc.dump()).toBe(0);
    // Not ready: the renew-only account has no token.
    const ready = await oneShots.run(['healthcheck', '--ready', '--config', hcPath]);
    expect(ready.code).toBe(1);

    // Stopping while a consumer is parked on a long-poll: still a prompt, clean exit.
    const currentRes = await get(`/v1/tokens/${MAIN}`, BOT_KEY);
    expect(currentRes.status).toBe(200);
    const current = (await currentRes.json()) as TokenBody;
    const parked = get(`/v1/tokens/${MAIN}?after=${current.fingerprint}&wait=60`, BOT_KEY).then(
      (res) => res.status,
      () => 'connection closed',
    );
    await sleep(300);
    const stopAt = Date.now();
    keeper.proc.kill('SIGTERM');
    const exit = await keeper.proc.waitForExit(15_000);
    const stopMs = Date.now() - stopAt;
    console.log(`e2e-serve: SIGTERM to exit ${stopMs} ms with a parked long-poll`);
    expect(exit.code, keeper.proc.dump()).toBe(0);
    expect(stopMs).toBeLessThan(10_000);
    // The parked consumer is told to come back (503) or sees the connection close: never left hanging.
    const parkedAnswer = await parked;
    console.log(`e2e-serve: the parked long-poll got ${parkedAnswer}`);
    expect([503, 200, 'connection closed']).toContain(parkedAnswer);
    const down = await oneShots.run(['healthcheck', '--config', hcPath]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}`));
  });
});
