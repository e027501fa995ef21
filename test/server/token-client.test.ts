import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { TokenClient, TokenClientError, type TokenInfo } from '../../src/client/index.js';
import type { ServerConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/log.js';
import { fingerprint, startServer, type RunningServer, type TokenResponseBody } from '../../src/server/index.js';
import { FakeProvider } from '../helpers/fake-provider.js';

const MAIN = '1000000001';
const ALT = '1000000002';
const KEY = 'client-test-key-0123456789';
const MAIN_ONLY_KEY = 'client-main-only-key-0123456789';

const config = (port = 0): ServerConfig => ({
  listen: { host: '127.0.0.1', port },
  apiKeys: [
    { name: 'bot', key: KEY, clients: '*' },
    { name: 'main-bot', key: MAIN_ONLY_KEY, clients: [MAIN] },
  ],
});

const running = new Set<RunningServer>();
afterEach(async () => {
  await Promise.all([...running].map((s) => s.close()));
  running.clear();
});

async function start(provider: FakeProvider, port = 0): Promise<RunningServer> {
  const server = await startServer({ config: config(port), timezone: 'Asia/Kolkata', provider, log: silentLogger() });
  running.add(server);
  return server;
}

/** Resolves with the next `count` tokens the watcher reports. */
function collector(): { onToken: (t: TokenInfo) => void; next: () => Promise<TokenInfo>; seen: TokenInfo[] } {
  const seen: TokenInfo[] = [];
  const waiting: ((t: TokenInfo) => void)[] = [];
  let delivered = 0;
  return {
    seen,
    onToken: (t) => {
      seen.push(t);
      const w = waiting.shift();
      if (w) {
        delivered++;
        w(t);
      }
    },
    next: () =>
      new Promise<TokenInfo>((resolve) => {
        const ready = seen[delivered];
        if (ready) {
          delivered++;
          resolve(ready);
        } else waiting.push(resolve);
      }),
  };
}

describe('TokenClient.get', () => {
  it('reads the same shape the server writes', () => {
    expectTypeOf<TokenInfo>().toEqualTypeOf<TokenResponseBody>();
  });

  it('returns the live token', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main' });
    provider.swap(MAIN, 'eyJ.one.sig');
    const { url } = await start(provider);
    const token = await new TokenClient({ baseUrl: url, apiKey: KEY, clientId: MAIN }).get();
    expect(token).toMatchObject({
      clientId: MAIN,
      accessToken: 'eyJ.one.sig',
      source: 'renew',
      fingerprint: fingerprint('eyJ.one.sig'),
    });
    expect(token.expiresAt).toMatch(/\+05:30$/);
  });

  it('throws a TokenClientError with the status, never quoting the key', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main', [ALT]: 'alt' });
    const { url } = await start(provider);
    const cases: [string, string, number, string][] = [
      ['wrong-key-0123456789abcdef', MAIN, 401, 'unauthorized'],
      [MAIN_ONLY_KEY, ALT, 403, 'forbidden'],
      [KEY, '1999999999', 404, 'unknown-client'],
      [KEY, MAIN, 503, 'unavailable'],
    ];
    for (const [apiKey, clientId, status, code] of cases) {
      const err = await new TokenClient({ baseUrl: url, apiKey, clientId }).get().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TokenClientError);
      expect(err).toMatchObject({ status, code });
      expect((err as Error).message).not.toContain(apiKey);
    }
  });

  it('reports an unreachable keeper as a network error', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main' });
    const server = await start(provider);
    await server.close();
    const err = await new TokenClient({ baseUrl: server.url, apiKey: KEY, clientId: MAIN })
      .get()
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'network', status: undefined, retryable: true });
  });
});

/*
 * Real time, in steps of about a second: TokenClient is the library bots import and takes no
 * clock, and its long-poll (waitSeconds: 1, the shortest whole wait) runs against a real server.
 */
describe('TokenClient.watch', () => {
  it('reports the first token and each swap within milliseconds, and stops on abort', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main' });
    provider.swap(MAIN, 'eyJ.one.sig');
    const { url } = await start(provider);
    const client = new TokenClient({ baseUrl: url, apiKey: KEY, clientId: MAIN });
    const stop = new AbortController();
    const tokens = collector();
    const watching = client.watch(tokens.onToken, { signal: stop.signal, waitSeconds: 30 });

    expect((await tokens.next()).accessToken).toBe('eyJ.one.sig');
    await new Promise((r) => setTimeout(r, 100)); // the watcher parks its long-poll
    const swappedAt = performance.now();
    provider.swap(MAIN, 'eyJ.two.sig');
    expect((await tokens.next()).accessToken).toBe('eyJ.two.sig');
    const latency = performance.now() - swappedAt;
    console.log(`watch callback ran ${latency.toFixed(1)} ms after the swap`);
    expect(latency).toBeLessThan(1000);

    stop.abort();
    await expect(watching).resolves.toBeUndefined();
    expect(tokens.seen.map((t) => t.accessToken)).toEqual(['eyJ.one.sig', 'eyJ.two.sig']);
  });

  it('waits for a first token when none is live yet, and keeps polling through quiet periods', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main' });
    const { url } = await start(provider);
    const stop = new AbortController();
    const tokens = collector();
    const watching = new TokenClient({ baseUrl: url, apiKey: KEY, clientId: MAIN }).watch(tokens.onToken, {
      signal: stop.signal,
      waitSeconds: 1,
    });
    await new Promise((r) => setTimeout(r, 1300)); // one long-poll ran out empty (503) and was retried
    const swappedAt = performance.now();
    provider.swap(MAIN, 'eyJ.first.sig');
    expect((await tokens.next()).accessToken).toBe('eyJ.first.sig');
    // Re-polled at once after the empty wait, not after a 5 s Retry-After.
    expect(performance.now() - swappedAt).toBeLessThan(1000);
    await new Promise((r) => setTimeout(r, 1200)); // a 304 round
    provider.swap(MAIN, 'eyJ.second.sig');
    expect((await tokens.next()).accessToken).toBe('eyJ.second.sig');
    stop.abort();
    await watching;
  });

  it('reconnects after the keeper restarts', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main' });
    provider.swap(MAIN, 'eyJ.before.sig');
    const first = await start(provider);
    const port = Number(new URL(first.url).port);
    const stop = new AbortController();
    const tokens = collector();
    const watching = new TokenClient({ baseUrl: first.url, apiKey: KEY, clientId: MAIN }).watch(tokens.onToken, {
      signal: stop.signal,
      waitSeconds: 30,
    });
    expect((await tokens.next()).accessToken).toBe('eyJ.before.sig');

    await first.close();
    running.delete(first);
    provider.swap(MAIN, 'eyJ.during-restart.sig');
    await new Promise((r) => setTimeout(r, 300)); // the watcher meets a refused connection or two
    const restartedAt = performance.now();
    await start(provider, port);
    expect((await tokens.next()).accessToken).toBe('eyJ.during-restart.sig');
    console.log(`watch reconnected ${(performance.now() - restartedAt).toFixed(0)} ms after the restart`);

    await new Promise((r) => setTimeout(r, 100));
    provider.swap(MAIN, 'eyJ.after.sig');
    expect((await tokens.next()).accessToken).toBe('eyJ.after.sig');
    stop.abort();
    await watching;
  });

  it('gives up on errors no retry can fix', async () => {
    const provider = new FakeProvider({ [MAIN]: 'main' });
    const { url } = await start(provider);
    const watching = new TokenClient({ baseUrl: url, apiKey: 'wrong-key-0123456789abcdef', clientId: MAIN }).watch(
      () => undefined,
    );
    await expect(watching).rejects.toMatchObject({ code: 'unauthorized', status: 401 });
  });

  it('backs off on a failing fetch instead of spinning', async () => {
    const calls: number[] = [];
    const failing: typeof fetch = () => {
      calls.push(performance.now());
      return Promise.reject(new TypeError('fetch failed'));
    };
    const stop = new AbortController();
    const watching = new TokenClient({
      baseUrl: 'http://127.0.0.1:9',
      apiKey: KEY,
      clientId: MAIN,
      fetch: failing,
    }).watch(() => undefined, { signal: stop.signal });
    await new Promise((r) => setTimeout(r, 1000));
    stop.abort();
    await watching;
    // 250 ms doubling, halved at worst by jitter: 0, ≥125, ≥250(+…) → at most 5 tries in a second.
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(calls.length).toBeLessThanOrEqual(5);
  });

  it('rejects a nonsense waitSeconds', async () => {
    const client = new TokenClient({ baseUrl: 'http://127.0.0.1:9', apiKey: KEY, clientId: MAIN });
    await expect(client.watch(() => undefined, { waitSeconds: 0 })).rejects.toBeInstanceOf(RangeError);
    await expect(client.watch(() => undefined, { waitSeconds: 301 })).rejects.toBeInstanceOf(RangeError);
  });
});
