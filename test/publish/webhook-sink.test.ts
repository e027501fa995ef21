import { createHmac, timingSafeEqual } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeClock, systemClock } from '../../src/clock.js';
import type { WebhookSinkConfig } from '../../src/config/config.js';
import { fingerprint, runWebhookSink, toPublished, type SinkContext } from '../../src/publish/index.js';
import { answer, freePort, startReceiver, type Receiver } from '../helpers/http.js';
import { captureLog, JWT, storedToken } from '../helpers/publish.js';

const published = toPublished(storedToken(), 'Asia/Kolkata');
const SECRET = 'shared-hmac-secret-0123';

const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
}

function context(overrides: Partial<SinkContext> = {}): SinkContext {
  return {
    clock: systemClock,
    log: captureLog().log,
    signal: undefined,
    retryDelaysMs: [50, 200],
    killGraceMs: 2_000,
    redact: (text) => text,
    ...overrides,
  };
}

function webhook(url: string, overrides: Partial<WebhookSinkConfig> = {}): WebhookSinkConfig {
  return { type: 'webhook', url, secret: SECRET, includeToken: true, timeoutMs: 5_000, ...overrides };
}

function signatureValid(body: Buffer, header: string | string[] | undefined, secret: string): boolean {
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  const given = Buffer.from(header.slice('sha256='.length), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

describe('publish: webhook', () => {
  it('POSTs the token, signed with HMAC-SHA256 over the raw body', async () => {
    const r = await receiver(answer(204));
    const outcome = await runWebhookSink(webhook(`${r.url}/hook`), published, context());
    expect(outcome).toEqual({ ok: true, attempts: 1, httpStatus: 204 });
    expect(r.requests).toHaveLength(1);
    const [req] = r.requests;
    expect(req?.method).toBe('POST');
    expect(req?.url).toBe('/hook');
    expect(req?.headers['content-type']).toBe('application/json');
    expect(req?.headers['user-agent']).toMatch(/^dhan-token-keeper\//);
    expect(req?.headers['x-dhan-token-timestamp']).toMatch(/^\d+$/);
    expect(signatureValid(req?.body ?? Buffer.alloc(0), req?.headers['x-dhan-token-signature'], SECRET)).toBe(true);
    expect(signatureValid(req?.body ?? Buffer.alloc(0), req?.headers['x-dhan-token-signature'], 'wrong-secret')).toBe(
      false,
    );
    const body = JSON.parse(req?.body.toString('utf8') ?? '{}') as Record<string, unknown>;
    expect(body).toMatchObject({ ...published, event: 'token-changed', fingerprint: fingerprint(JWT) });
  });

  it('sends a notice without the token when includeToken is false, and no signature without a secret', async () => {
    const r = await receiver(answer(200));
    const outcome = await runWebhookSink(
      webhook(r.url, { includeToken: false, secret: undefined }),
      published,
      context(),
    );
    expect(outcome).toEqual({ ok: true, attempts: 1, httpStatus: 200 });
    const [req] = r.requests;
    const raw = req?.body.toString('utf8') ?? '';
    expect(raw).not.toContain(JWT);
    expect(JSON.parse(raw)).toEqual({
      clientId: '1100000001',
      event: 'token-changed',
      expiresAt: '2026-07-08T07:41:12.284+05:30',
      expiryTime: '2026-07-08T07:41:12.284',
      source: 'totp',
      obtainedAt: '2026-07-07T07:41:12.284+05:30',
      fingerprint: fingerprint(JWT),
    });
    expect(req?.headers['x-dhan-token-signature']).toBeUndefined();
  });

  it('retries 500, 500 and succeeds on the third try', async () => {
    const r = await receiver((req, n, res) => answer(n < 2 ? 500 : 200)(req, n, res));
    const outcome = await runWebhookSink(webhook(r.url), published, context());
    expect(outcome).toEqual({ ok: true, attempts: 3, httpStatus: 200 });
    expect(r.requests).toHaveLength(3);
  });

  it('gives up after three tries', async () => {
    const r = await receiver(answer(503));
    const outcome = await runWebhookSink(webhook(r.url), published, context());
    expect(outcome).toEqual({ ok: false, attempts: 3, httpStatus: 503, error: 'HTTP 503' });
  });

  it('treats a 302 as a failure and does not follow it', async () => {
    const r = await receiver((_req, _n, res) => {
      res.writeHead(302, { location: '/elsewhere' });
      res.end();
    });
    const outcome = await runWebhookSink(webhook(`${r.url}/hook`), published, context());
    expect(outcome).toMatchObject({ ok: false, attempts: 1, httpStatus: 302 });
    expect(outcome.error).toMatch(/^HTTP 302: redirects are not followed/);
    expect(r.requests.map((q) => q.url)).toEqual(['/hook']);
  });

  it('does not retry a 4xx that another try cannot fix', async () => {
    const r = await receiver(answer(401));
    expect(await runWebhookSink(webhook(r.url), published, context())).toEqual({
      ok: false,
      attempts: 1,
      httpStatus: 401,
      error: 'HTTP 401',
    });
  });

  it('times out each try', async () => {
    const r = await receiver(() => undefined);
    const startedAt = Date.now();
    const outcome = await runWebhookSink(webhook(r.url, { timeoutMs: 200 }), published, context());
    expect(outcome).toEqual({ ok: false, attempts: 3, error: 'no answer within 200 ms' });
    expect(Date.now() - startedAt).toBeLessThan(3 * 200 + 250 + 1_000);
    expect(r.requests).toHaveLength(3);
  });

  it('reports a refused connection by its code', async () => {
    const port = await freePort();
    const outcome = await runWebhookSink(webhook(`http://127.0.0.1:${port}/hook`), published, context());
    expect(outcome).toEqual({ ok: false, attempts: 3, error: 'network error (ECONNREFUSED)' });
  });

  it('turns user info into Basic auth and logs the URL without credentials', async () => {
    const r = await receiver(answer(500));
    const { log, lines } = captureLog();
    const url =
      r.url.replace('http://', 'http://bot:p%40ssw0rd-userinfo@') + '/hooks/path-secret-123?key=query-secret-456';
    const outcome = await runWebhookSink(webhook(url), published, context({ log, retryDelaysMs: [] }));
    expect(outcome).toEqual({ ok: false, attempts: 1, httpStatus: 500, error: 'HTTP 500' });
    const [req] = r.requests;
    expect(req?.headers['authorization']).toBe(`Basic ${Buffer.from('bot:p@ssw0rd-userinfo').toString('base64')}`);
    expect(req?.url).toBe('/hooks/path-secret-123?key=query-secret-456');
    const logged = lines.join('');
    expect(logged).toContain(r.url);
    for (const secret of ['p@ssw0rd', 'p%40ssw0rd', 'query-secret-456', 'path-secret-123', SECRET, JWT])
      expect(logged).not.toContain(secret);
  });

  it('waits on the injected clock between tries', async () => {
    const clock = new FakeClock();
    const r = await receiver(answer(500));
    const running = runWebhookSink(webhook(r.url), published, context({ clock, retryDelaysMs: [1_000, 4_000] }));
    await vi.waitFor(() => expect(r.requests).toHaveLength(1));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(r.requests).toHaveLength(1);
    await clock.advance(999);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(r.requests).toHaveLength(1);
    await clock.advance(1);
    await vi.waitFor(() => expect(r.requests).toHaveLength(2));
    await clock.advance(3_999);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(r.requests).toHaveLength(2);
    await clock.advance(1);
    expect(await running).toEqual({ ok: false, attempts: 3, httpStatus: 500, error: 'HTTP 500' });
  });
});
