import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.js';
import type { ServerConfig } from '../../src/config/config.js';
import type { Logger } from '../../src/log.js';
import { fingerprint, startServer, type RunningServer } from '../../src/server/index.js';
import { loggablePath, loggableQuery } from '../../src/server/access-log.js';
import type { RejectionReason } from '../../src/server/rejections.js';
import { FakeProvider } from '../helpers/fake-provider.js';
import { captureLog } from '../helpers/log-capture.js';

/* What an attacker on the same machine tried against the token API (issue 14, items 1, 2, 7, 12). */

const MAIN = '1000000001';
const BOT_KEY = 'bot-key-0123456789abcdef';
const TOKEN = 'eyJ.main-token-1.sig';

const config: ServerConfig = {
  listen: { host: '127.0.0.1', port: 0 },
  apiKeys: [{ name: 'bot', key: BOT_KEY, clients: [MAIN] }],
};

const running: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function start(
  options: { log?: Logger; clock?: FakeClock; onRejected?: (r: RejectionReason) => void; maxConnections?: number } = {},
): Promise<{ url: string; port: number; provider: FakeProvider }> {
  const provider = new FakeProvider({ [MAIN]: 'main' });
  provider.swap(MAIN, TOKEN);
  const server = await startServer({
    config,
    timezone: 'Asia/Kolkata',
    provider,
    log: options.log ?? captureLog().log,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.onRejected ? { onRejected: options.onRejected } : {}),
    ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {}),
  });
  running.push(server);
  return { url: server.url, port: Number(new URL(server.url).port), provider };
}

/** Sends raw request text on one socket; resolves with everything received until the server closes it (or `waitMs`). */
function rawExchange(
  port: number,
  text: string,
  waitMs = 2_000,
): Promise<{ received: string; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ received, closedByServer: false });
    }, waitMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', () => undefined);
    socket.on('end', () => {
      clearTimeout(timer);
      resolve({ received, closedByServer: true });
    });
  });
}

describe('connections of clients without a valid key', () => {
  it('are closed after a refusal, so a keyless client cannot keep a socket', async () => {
    const { port } = await start();
    for (const headers of ['', `Authorization: Bearer wrong-key-000000000\r\n`, `Authorization: Basic abc\r\n`]) {
      const { received, closedByServer } = await rawExchange(
        port,
        `GET /v1/tokens/${MAIN} HTTP/1.1\r\nHost: x\r\n${headers}Connection: keep-alive\r\n\r\n`,
      );
      expect(received).toMatch(/^HTTP\/1\.1 401/);
      expect(received.toLowerCase()).toContain('connection: close');
      expect(closedByServer).toBe(true);
    }
    const bad = await rawExchange(
      port,
      `GET /v1/tokens/${MAIN}?wait=abc HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${BOT_KEY}\r\n\r\n`,
    );
    expect(bad.received).toMatch(/^HTTP\/1\.1 400/);
    expect(bad.closedByServer).toBe(true);
    const forbidden = await rawExchange(
      port,
      `GET /v1/tokens/1000000002 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${BOT_KEY}\r\n\r\n`,
    );
    expect(forbidden.received).toMatch(/^HTTP\/1\.1 403/);
    expect(forbidden.closedByServer).toBe(true);
  });

  it('keeps a bot’s connection open after a good answer', async () => {
    const { port } = await start();
    const ok = await rawExchange(
      port,
      `GET /v1/tokens/${MAIN} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${BOT_KEY}\r\n\r\n`,
      500,
    );
    expect(ok.received).toMatch(/^HTTP\/1\.1 200/);
    expect(ok.closedByServer).toBe(false);
  });

  it('drops an idle stranger after a few seconds, and the oldest idle stranger when full, never a bot', async () => {
    const { port, url } = await start({ maxConnections: 4 });
    // Idle: connected, never asked.
    const idle = await rawExchange(port, '', 6_000);
    expect(idle.closedByServer).toBe(true);

    // Full of strangers: a bot still gets in, and its kept-alive socket survives more strangers.
    const strangers = Array.from({ length: 4 }, () => connect(port, '127.0.0.1'));
    for (const s of strangers) s.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 100));
    const res = await fetch(`${url}/v1/tokens/${MAIN}`, { headers: { authorization: `Bearer ${BOT_KEY}` } });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const more = Array.from({ length: 6 }, () => connect(port, '127.0.0.1'));
    for (const s of more) s.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 100));
    const again = await fetch(`${url}/v1/tokens/${MAIN}`, { headers: { authorization: `Bearer ${BOT_KEY}` } });
    expect(again.status).toBe(200);
    await again.arrayBuffer();
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    for (const s of [...strangers, ...more]) s.destroy();
  }, 15_000);
});

describe('refused requests in the log', () => {
  it('make one line per source and reason per interval with a count, and count every one', async () => {
    const logs = captureLog();
    const clock = new FakeClock();
    const counted: RejectionReason[] = [];
    const { url } = await start({ log: logs.log, clock, onRejected: (r) => counted.push(r) });
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${url}/v1/tokens/${MAIN}`, {
        headers: { authorization: `Bearer wrong-key-${i}-must-not-leak` },
      });
      await res.arrayBuffer();
    }
    for (let i = 0; i < 5; i++) await (await fetch(`${url}/v1/tokens/${MAIN}`)).arrayBuffer();
    const warnsBefore = logs.lines().filter((l) => l['level'] === 'warn');
    expect(warnsBefore).toHaveLength(2); // the first of each reason, at once
    await clock.advance(60_000);
    const warns = logs.lines().filter((l) => l['level'] === 'warn');
    expect(warns).toHaveLength(4);
    expect(warns.find((l) => l['reason'] === 'unknown-key' && l['count'] === 49)).toBeDefined();
    expect(warns.find((l) => l['reason'] === 'missing-key' && l['count'] === 4)).toBeDefined();
    expect(counted.filter((r) => r === 'unknown-key')).toHaveLength(50);
    expect(counted.filter((r) => r === 'missing-key')).toHaveLength(5);
    expect(logs.text()).not.toContain('must-not-leak');
  });
});

describe('the debug access log', () => {
  it('logs only what the route grammar allows of a path and a well-formed after', async () => {
    const logs = captureLog();
    const { url } = await start({ log: logs.log });
    const secret = 'sk-live-secret-in-path-123';
    for (const path of [
      `/v1/tokens/${secret}`,
      `/${secret}`,
      `/v1/tokens/${MAIN}?after=${secret}`,
      `/v1/tokens/${MAIN}?after=${fingerprint(TOKEN)}&wait=${secret}`,
    ]) {
      await (await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${BOT_KEY}` } })).arrayBuffer();
    }
    await (
      await fetch(`${url}/v1/tokens/${MAIN}?after=${fingerprint(TOKEN)}`, {
        headers: { authorization: `Bearer ${BOT_KEY}` },
      })
    ).arrayBuffer();
    const access = logs.lines().filter((l) => l['msg'] === 'http request');
    expect(access).toHaveLength(5);
    expect(logs.text()).not.toContain(secret);
    expect(access[4]).toMatchObject({ path: `/v1/tokens/${MAIN}`, after: fingerprint(TOKEN) });
  });

  it('reads paths and queries by the grammar (table)', () => {
    const cases: Array<[string, string]> = [
      ['/healthz', '/healthz'],
      ['/v1/status', '/v1/status'],
      [`/v1/tokens/${MAIN}`, `/v1/tokens/${MAIN}`],
      ['/v1/tokens/abc', '/v1/tokens/(invalid)'],
      ['/v1/tokens/1/2', '/v1/tokens/(invalid)'],
      ['/anything/else', '(unknown)'],
    ];
    for (const [path, logged] of cases) expect(loggablePath(path)).toBe(logged);
    expect(loggableQuery(new URLSearchParams('after=abcdef012345&wait=60'))).toEqual({
      after: 'abcdef012345',
      wait: '60',
    });
    expect(loggableQuery(new URLSearchParams('after=KEY&wait=KEY'))).toEqual({ after: '(invalid)', wait: '(invalid)' });
    expect(loggableQuery(new URLSearchParams('other=1'))).toEqual({});
  });
});

describe('an empty after', () => {
  it('means "I hold no token": the live token at once, even with a wait', async () => {
    const { url } = await start();
    const started = performance.now();
    const res = await fetch(`${url}/v1/tokens/${MAIN}?after=&wait=60`, {
      headers: { authorization: `Bearer ${BOT_KEY}` },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { accessToken: string }).accessToken).toBe(TOKEN);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
