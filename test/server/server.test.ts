import { request } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Registry } from 'prom-client';
import type { ServerConfig } from '../../src/config/config.js';
import { KeeperError } from '../../src/errors.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { fingerprint, isLoopbackHost, startServer, type RunningServer } from '../../src/server/index.js';
import { FakeProvider } from '../helpers/fake-provider.js';
import { captureLog } from '../helpers/log-capture.js';

const MAIN = '1000000001';
const ALT = '1000000002';
const BOT_KEY = 'bot-key-0123456789abcdef';
const OPS_KEY = 'ops-key-0123456789abcdef';
const TOKEN = 'eyJ.main-token-1.sig';

const config = (overrides: Partial<ServerConfig> = {}): ServerConfig => ({
  listen: { host: '127.0.0.1', port: 0 },
  apiKeys: [
    { name: 'bot', key: BOT_KEY, clients: [MAIN] },
    { name: 'ops', key: OPS_KEY, clients: '*' },
  ],
  ...overrides,
});

const running: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function start(
  provider: FakeProvider,
  extra: { config?: ServerConfig; log?: Logger; registry?: Registry; maxLongPolls?: number } = {},
): Promise<RunningServer> {
  const server = await startServer({
    config: extra.config ?? config(),
    timezone: 'Asia/Kolkata',
    provider,
    log: extra.log ?? silentLogger(),
    ...(extra.registry ? { metricsRegistry: extra.registry } : {}),
    ...(extra.maxLongPolls !== undefined ? { maxLongPolls: extra.maxLongPolls } : {}),
  });
  running.push(server);
  return server;
}

const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

/** Raw node:http, for what fetch will not send (a GET with a body). */
function rawRequest(
  url: string,
  options: { method: string; headers: Record<string, string>; body?: string },
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method, headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('token API: authentication and authorisation', () => {
  it('walks the auth matrix in the order auth → permission → existence', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main', [ALT]: 'alt' });
    provider.swap(MAIN, TOKEN);
    const { url } = await start(provider);
    const get = (path: string, headers: Record<string, string> = {}) => fetch(`${url}${path}`, { headers });

    const cases: [string, string, Record<string, string>, number][] = [
      ['no header', `/v1/tokens/${MAIN}`, {}, 401],
      ['wrong scheme', `/v1/tokens/${MAIN}`, { authorization: `Basic ${BOT_KEY}` }, 401],
      ['unknown key', `/v1/tokens/${MAIN}`, bearer('not-a-configured-key-000'), 401],
      ['key limited to another client', `/v1/tokens/${ALT}`, bearer(BOT_KEY), 403],
      ['limited key, unknown client', '/v1/tokens/1999999999', bearer(BOT_KEY), 403],
      ['valid key, unknown client', '/v1/tokens/1999999999', bearer(OPS_KEY), 404],
      ['no key, unknown client', '/v1/tokens/1999999999', {}, 401],
      ['valid key, no live token', `/v1/tokens/${ALT}`, bearer(OPS_KEY), 503],
      ['limited key, its client', `/v1/tokens/${MAIN}`, bearer(BOT_KEY), 200],
      ['scheme is case-insensitive', `/v1/tokens/${MAIN}`, { authorization: `bearer ${OPS_KEY}` }, 200],
    ];
    for (const [label, path, headers, status] of cases) {
      const res = await get(path, headers);
      expect({ label, status: res.status }).toEqual({ label, status });
      if (status === 401) expect(res.headers.get('www-authenticate')).toBe('Bearer realm="dhan-token-keeper"');
      if (status !== 200) {
        const body = (await res.json()) as { error: string; message: string };
        expect(typeof body.error).toBe('string');
        expect(typeof body.message).toBe('string');
        expect(JSON.stringify(body)).not.toContain(TOKEN);
      } else {
        await res.arrayBuffer();
      }
      if (status === 503) expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }
  });

  it('answers 200 with the published token, its fingerprint and no-store', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main' });
    const stored = provider.swap(MAIN, TOKEN);
    const { url } = await start(provider);
    const res = await fetch(`${url}/v1/tokens/${MAIN}`, { headers: bearer(BOT_KEY) });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual([
      'accessToken',
      'clientId',
      'expiresAt',
      'expiryTime',
      'fingerprint',
      'obtainedAt',
      'source',
    ]);
    expect(body).toMatchObject({
      clientId: MAIN,
      accessToken: TOKEN,
      expiryTime: stored.expiryTime,
      source: 'renew',
      fingerprint: fingerprint(TOKEN),
    });
    expect(body['fingerprint']).toMatch(/^[0-9a-f]{12}$/);
    expect(body['expiresAt']).toMatch(/\+05:30$/);
    expect(Date.parse(body['expiresAt'] as string)).toBe(stored.expiresAt);
    expect(Date.parse(body['obtainedAt'] as string)).toBe(stored.obtainedAt);
  });

  it('answers 401 to everyone when no key is configured, saying why', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main' });
    provider.swap(MAIN, TOKEN);
    const { url } = await start(provider, { config: config({ apiKeys: [] }) });
    const res = await fetch(`${url}/v1/tokens/${MAIN}`, { headers: bearer(BOT_KEY) });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { message: string }).message).toMatch(/no API keys are configured/);
  });

  it('logs a wrong key by name or "unknown" and the remote address, never the key', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main', [ALT]: 'alt' });
    provider.swap(MAIN, TOKEN);
    const logs = captureLog();
    const { url } = await start(provider, { log: logs.log });
    const wrong = 'wrong-key-that-must-not-leak-42';
    await (await fetch(`${url}/v1/tokens/${MAIN}`, { headers: bearer(wrong) })).arrayBuffer();
    await (await fetch(`${url}/v1/tokens/${ALT}`, { headers: bearer(BOT_KEY) })).arrayBuffer();
    await (
      await fetch(`${url}/v1/tokens/${MAIN}?after=abcdef012345&wait=0&apikey=query-secret-99`, {
        headers: bearer(BOT_KEY),
      })
    ).arrayBuffer();
    await new Promise((r) => setTimeout(r, 20));

    const warns = logs.lines().filter((l) => l['level'] === 'warn');
    expect(warns).toHaveLength(2);
    expect(warns[0]).toMatchObject({ keyName: 'unknown', remote: expect.stringMatching(/127\.0\.0\.1/) });
    expect(warns[1]).toMatchObject({ keyName: 'bot', clientId: ALT });
    const access = logs.lines().filter((l) => l['msg'] === 'http request');
    expect(access).toHaveLength(3);
    expect(access[2]).toMatchObject({
      path: `/v1/tokens/${MAIN}`,
      status: 200,
      after: 'abcdef012345',
      wait: '0',
      keyName: 'bot',
    });
    const text = logs.text();
    for (const secret of [wrong, BOT_KEY, OPS_KEY, TOKEN, 'query-secret-99', 'Bearer'])
      expect(text).not.toContain(secret);
  });

  it('logs an answer written at once as complete, and a long-poll its consumer left as aborted', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main' });
    provider.swap(MAIN, TOKEN);
    const logs = captureLog();
    const { url } = await start(provider, { log: logs.log });
    await (await fetch(`${url}/v1/tokens/${MAIN}`, { headers: bearer(BOT_KEY) })).arrayBuffer();
    const leaving = new AbortController();
    const parked = fetch(`${url}/v1/tokens/${MAIN}?after=${fingerprint(TOKEN)}&wait=30`, {
      headers: bearer(BOT_KEY),
      signal: leaving.signal,
    });
    await new Promise((r) => setTimeout(r, 100));
    leaving.abort();
    await expect(parked).rejects.toThrow();
    await vi.waitFor(() => expect(logs.lines().filter((l) => l['msg'] === 'http request')).toHaveLength(2));

    const [atOnce, left] = logs.lines().filter((l) => l['msg'] === 'http request');
    expect(atOnce).toMatchObject({ status: 200, keyName: 'bot', clientId: MAIN });
    expect(atOnce).not.toHaveProperty('aborted');
    expect(left).toMatchObject({ aborted: true, wait: '30', clientId: MAIN });
  });
});

describe('token API: long-poll', () => {
  it('answers within milliseconds of a swap', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main' });
    provider.swap(MAIN, TOKEN);
    const { url } = await start(provider);
    const pending = fetch(`${url}/v1/tokens/${MAIN}?after=${fingerprint(TOKEN)}&wait=30`, { headers: bearer(BOT_KEY) });
    await new Promise((r) => setTimeout(r, 150)); // let the request park
    const swappedAt = performance.now();
    provider.swap(MAIN, 'eyJ.main-token-2.sig');
    const res = await pending;
    const latency = performance.now() - swappedAt;
    console.log(`long-poll answered ${latency.toFixed(1)} ms after the swap`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { accessToken: string }).accessToken).toBe('eyJ.main-token-2.sig');
    expect(latency).toBeLessThan(1000);
  });

  it('answers 304 without a body when the wait runs out', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main' });
    provider.swap(MAIN, TOKEN);
    const { url } = await start(provider);
    const t0 = performance.now();
    const res = await fetch(`${url}/v1/tokens/${MAIN}?after=${fingerprint(TOKEN)}&wait=1`, {
      headers: bearer(BOT_KEY),
    });
    const took = performance.now() - t0;
    expect(res.status).toBe(304);
    expect(await res.text()).toBe('');
    expect(took).toBeGreaterThanOrEqual(950);
    expect(took).toBeLessThan(3000);
  });

  it('answers at once when the fingerprint already differs, and 304 at once for wait=0', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main' });
    provider.swap(MAIN, TOKEN);
    const { url } = await start(provider);
    const stale = await fetch(`${url}/v1/tokens/${MAIN}?after=000000000000&wait=30`, { headers: bearer(BOT_KEY) });
    expect(stale.status).toBe(200);
    await stale.arrayBuffer();
    const same = await fetch(`${url}/v1/tokens/${MAIN}?after=${fingerprint(TOKEN)}`, { headers: bearer(BOT_KEY) });
    expect(same.status).toBe(304);
  });

  it('waits for a first token when none is live, and ignores swaps of other accounts', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main', [ALT]: 'alt' });
    const { url } = await start(provider);
    const pending = fetch(`${url}/v1/tokens/${MAIN}?wait=30`, { headers: bearer(OPS_KEY) });
    await new Promise((r) => setTimeout(r, 100));
    provider.swap(ALT, 'eyJ.alt.sig');
    await new Promise((r) => setTimeout(r, 100));
    provider.swap(MAIN, TOKEN);
    const res = await pending;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { clientId: string }).clientId).toBe(MAIN);
  });

  it('answers 503 when the wait runs out without a live token', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main' });
    const { url } = await start(provider);
    const res = await fetch(`${url}/v1/tokens/${MAIN}?wait=0.2`, { headers: bearer(BOT_KEY) });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).not.toBeNull();
  });

  it('answers the same 503 each time an account has no live token, and the token once one is live', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main', [ALT]: 'alt' });
    const { url } = await start(provider);
    const expected = {
      error: 'no-live-token',
      message: `client ${MAIN} has no live token right now; the keeper is working on it`,
    };
    // The answer is made once per account and reused: the second ask must be the same, and
    // another account's must name that account, not the first one asked about.
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${url}/v1/tokens/${MAIN}`, { headers: bearer(OPS_KEY) });
      const text = await res.text();
      expect(res.status).toBe(503);
      expect(JSON.parse(text)).toEqual(expected);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(text));
    }
    const other = await fetch(`${url}/v1/tokens/${ALT}`, { headers: bearer(OPS_KEY) });
    expect(((await other.json()) as { message: string }).message).toContain(`client ${ALT} `);

    provider.swap(MAIN, TOKEN);
    const live = await fetch(`${url}/v1/tokens/${MAIN}`, { headers: bearer(OPS_KEY) });
    expect(live.status).toBe(200);
    expect(((await live.json()) as { accessToken: string }).accessToken).toBe(TOKEN);
  });

  it('refuses nonsense wait and after with 400', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main' });
    provider.swap(MAIN, TOKEN);
    const { url } = await start(provider);
    for (const query of ['wait=abc', 'wait=301', 'wait=-1', 'wait=', 'wait=1e2', 'wait=1&wait=2', 'after=XYZ']) {
      const res = await fetch(`${url}/v1/tokens/${MAIN}?${query}`, { headers: bearer(BOT_KEY) });
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      await res.arrayBuffer();
    }
    const max = await fetch(`${url}/v1/tokens/${MAIN}?after=000000000000&wait=300`, { headers: bearer(BOT_KEY) });
    expect(max.status).toBe(200);
    await max.arrayBuffer();
  });

  it('caps concurrent long-polls and frees a slot when a consumer disconnects', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main' });
    provider.swap(MAIN, TOKEN);
    const { url } = await start(provider, { maxLongPolls: 2 });
    const poll = (signal?: AbortSignal) =>
      fetch(`${url}/v1/tokens/${MAIN}?after=${fingerprint(TOKEN)}&wait=30`, {
        headers: bearer(BOT_KEY),
        ...(signal ? { signal } : {}),
      });
    const gone = new AbortController();
    const first = poll(gone.signal).catch((err: unknown) => err);
    const second = poll();
    await new Promise((r) => setTimeout(r, 150));
    const third = await poll();
    expect(third.status).toBe(503);
    expect(((await third.json()) as { error: string }).error).toBe('busy');
    // A plain read is not a long-poll and is never capped.
    const plain = await fetch(`${url}/v1/tokens/${MAIN}`, { headers: bearer(BOT_KEY) });
    expect(plain.status).toBe(200);
    await plain.arrayBuffer();

    gone.abort();
    expect(await first).toBeInstanceOf(Error);
    await new Promise((r) => setTimeout(r, 100));
    const fourth = poll();
    await new Promise((r) => setTimeout(r, 100));
    provider.swap(MAIN, 'eyJ.main-token-2.sig');
    expect((await second).status).toBe(200);
    expect((await fourth).status).toBe(200);
  });

  it('close() answers parked long-polls with 503 and stops listening for swaps', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main' });
    provider.swap(MAIN, TOKEN);
    const server = await start(provider);
    expect(provider.listenerCount()).toBe(1);
    const pending = fetch(`${server.url}/v1/tokens/${MAIN}?after=${fingerprint(TOKEN)}&wait=60`, {
      headers: bearer(BOT_KEY),
    });
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    await server.close();
    expect(performance.now() - t0).toBeLessThan(1500);
    const res = await pending;
    expect(res.status).toBe(503);
    expect(provider.listenerCount()).toBe(0);
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });
});

describe('status, health, readiness and metrics', () => {
  it('/v1/status needs a key, never carries a token, and shows only what the key may read', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main', [ALT]: 'alt' });
    provider.swap(MAIN, TOKEN);
    const { url } = await start(provider);
    expect((await fetch(`${url}/v1/status`)).status).toBe(401);
    const ops = await fetch(`${url}/v1/status`, { headers: bearer(OPS_KEY) });
    expect(ops.status).toBe(200);
    expect(ops.headers.get('cache-control')).toBe('no-store');
    const text = await ops.text();
    expect(text).not.toContain(TOKEN);
    expect((JSON.parse(text) as { clientId: string }[]).map((s) => s.clientId)).toEqual([MAIN, ALT]);
    const bot = (await (await fetch(`${url}/v1/status`, { headers: bearer(BOT_KEY) })).json()) as {
      clientId: string;
      state: string;
    }[];
    expect(bot).toEqual([expect.objectContaining({ clientId: MAIN, state: 'valid' })]);
  });

  it('/healthz is 200 without a key; /readyz follows the provider', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main' });
    const { url } = await start(provider);
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    provider.ready = { ready: false, notReady: [`${MAIN} (main): expired`] };
    const notReady = await fetch(`${url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ status: 'not-ready', notReady: [`${MAIN} (main): expired`] });
  });

  it('/metrics serves the registry with its content type, and is 404 without one', async () => {
    const registry = new Registry();
    registry.registerMetric(new (await import('prom-client')).Gauge({ name: 'test_gauge', help: 'h', registers: [] }));
    const provider = new FakeProvider({ [MAIN]: 'main' });
    const { url } = await start(provider, { registry });
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(registry.contentType);
    expect(await res.text()).toContain('test_gauge');
    const bare = await start(provider);
    expect((await fetch(`${bare.url}/metrics`)).status).toBe(404);
  });

  it('404 for unknown paths, 405 with Allow for other methods, 413 for a body', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main' });
    provider.swap(MAIN, TOKEN);
    const { url } = await start(provider);
    for (const path of ['/', '/v1/tokens/', `/v1/tokens/${MAIN}/x`, '/v2/tokens', '/metricsx']) {
      const res = await fetch(`${url}${path}`, { headers: bearer(OPS_KEY) });
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      await res.arrayBuffer();
    }
    const post = await fetch(`${url}/v1/tokens/${MAIN}`, { method: 'POST', headers: bearer(OPS_KEY) });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
    const withBody = await rawRequest(`${url}/v1/tokens/${MAIN}`, {
      method: 'GET',
      headers: { ...bearer(OPS_KEY), 'content-length': '5' },
      body: 'hello',
    });
    expect(withBody.status).toBe(413);
    expect(withBody.body).not.toContain(TOKEN);
    const chunked = await rawRequest(`${url}/v1/tokens/${MAIN}`, {
      method: 'GET',
      headers: { ...bearer(OPS_KEY), 'transfer-encoding': 'chunked' },
      body: 'hello',
    });
    expect(chunked.status).toBe(413);
    const tooBig = await rawRequest(`${url}/healthz`, { method: 'GET', headers: { 'x-junk': 'x'.repeat(10_000) } });
    expect(tooBig.status).toBe(431);
  });
});

describe('binding', () => {
  it('refuses a non-loopback address without API keys, before listening', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main' });
    const attempt = startServer({
      config: config({ listen: { host: '0.0.0.0', port: 0 }, apiKeys: [] }),
      timezone: 'Asia/Kolkata',
      provider,
      log: silentLogger(),
    });
    await expect(attempt).rejects.toBeInstanceOf(KeeperError);
    await expect(attempt).rejects.toMatchObject({
      code: 'server-unsafe-bind',
      message: expect.stringContaining('0.0.0.0:0'),
    });
    expect(provider.listenerCount()).toBe(0);
  });

  it('knows loopback addresses', () => {
    for (const host of [
      '127.0.0.1',
      '127.1.2.3',
      '::1',
      '[::1]',
      'localhost',
      'LOCALHOST',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
    ]) {
      expect({ host, loopback: isLoopbackHost(host) }).toEqual({ host, loopback: true });
    }
    for (const host of ['0.0.0.0', '::', '192.168.1.5', '10.0.0.1', 'example.com', '128.0.0.1', '::ffff:10.0.0.1']) {
      expect({ host, loopback: isLoopbackHost(host) }).toEqual({ host, loopback: false });
    }
  });

  it('names host:port when the address is in use, and releases its subscription', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main' });
    const first = await start(provider);
    const port = Number(new URL(first.url).port);
    const attempt = startServer({
      config: config({ listen: { host: '127.0.0.1', port } }),
      timezone: 'Asia/Kolkata',
      provider,
      log: silentLogger(),
    });
    await expect(attempt).rejects.toMatchObject({
      code: 'server-address-in-use',
      message: expect.stringContaining(`127.0.0.1:${port}`),
    });
    expect(provider.listenerCount()).toBe(1);
  });
});
