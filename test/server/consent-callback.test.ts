import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import type { ConsentCallback } from '../../src/server/consent-callback.js';
import { tokenIdFromInput } from '../../src/consent/token-id-input.js';
import { FakeProvider } from '../helpers/fake-provider.js';

/* The keeper's /v1/consent/callback as a browser meets it: open, rate-limited, HTML, no token. */

const running: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function serve(
  callback: ConsentCallback | undefined,
  clock = new FakeClock(Date.UTC(2026, 0, 5)),
): Promise<RunningServer> {
  const server = await startServer({
    config: {
      listen: { host: '127.0.0.1', port: 0 },
      apiKeys: [{ name: 'bot', key: 'bot-key-0123456789abcdef', clients: '*' }],
    },
    timezone: 'Asia/Kolkata',
    provider: new FakeProvider({ '1000000001': 'main' }),
    log: silentLogger(),
    clock,
    ...(callback ? { consentCallback: callback } : {}),
  });
  running.push(server);
  return server;
}

describe('GET /v1/consent/callback', () => {
  it('needs no API key, reads tokenId or tokenid, and answers an escaped HTML page', async () => {
    const seen: Array<string | undefined> = [];
    const server = await serve(async (tokenId) => {
      seen.push(tokenId);
      return tokenId === 'good-token-id'
        ? { status: 200, stored: true, message: 'logged in: token abc123 valid until 2026-01-06T00:00:00.000Z' }
        : { status: 404, stored: false, message: 'no login <script> started' };
    });
    const ok = await fetch(`${server.url}/v1/consent/callback?tokenId=good-token-id`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(ok.headers.get('cache-control')).toBe('no-store');
    expect(await ok.text()).toContain('Logged in');
    const bad = await fetch(`${server.url}/v1/consent/callback?tokenid=other-token-id`);
    expect(bad.status).toBe(404);
    const html = await bad.text();
    expect(html).toContain('no login &#60;script&#62; started. Nothing was changed.');
    expect(html).not.toContain('<script>');
    expect(seen).toEqual(['good-token-id', 'other-token-id']);
    expect((await fetch(`${server.url}/v1/consent/callback?tokenId=x`, { method: 'POST' })).status).toBe(405);
  });

  it('allows 10 attempts a minute, then 429 until the minute is over', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 5));
    let calls = 0;
    const server = await serve(async () => {
      calls++;
      return { status: 404, stored: false, message: 'no login' };
    }, clock);
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++)
      statuses.push((await fetch(`${server.url}/v1/consent/callback?tokenId=guess-${i}-0000`)).status);
    expect(statuses).toEqual([...Array<number>(10).fill(404), 429, 429]);
    expect(calls).toBe(10);
    await clock.advance(60_000);
    expect((await fetch(`${server.url}/v1/consent/callback?tokenId=later-0000`)).status).toBe(404);
  });

  it('is a clear 404 page when no account logs in with an API key', async () => {
    const server = await serve(undefined);
    const res = await fetch(`${server.url}/v1/consent/callback?tokenId=abc-12345`);
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('no account that logs in with an API key');
  });
});

describe('tokenIdFromInput: what a person pastes', () => {
  it('takes the redirected address (tokenId or tokenid) or a bare tokenId', () => {
    expect(
      tokenIdFromInput('http://127.0.0.1:9470/v1/consent/callback?tokenId=2f1c1e4e-aaaa-4bbb-8ccc-123456789abc\n'),
    ).toBe('2f1c1e4e-aaaa-4bbb-8ccc-123456789abc');
    expect(tokenIdFromInput(' https://example.com/cb?x=1&tokenid=abcdef12-3456 ')).toBe('abcdef12-3456');
    expect(tokenIdFromInput('abcdef12-3456')).toBe('abcdef12-3456');
  });

  it('refuses an address without a tokenId, or text that is not one, saying what to paste', () => {
    expect(() => tokenIdFromInput('http://127.0.0.1:9470/v1/consent/callback')).toThrow(/has no tokenId/);
    expect(() => tokenIdFromInput('not a token id')).toThrow(/paste the address the browser ended on/);
    expect(() => tokenIdFromInput('http://[::1')).toThrow(/not a valid URL/);
  });
});
