import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.js';
import { DhanClient, DhanError, decodeJwtPayload } from '../../src/dhan/index.js';
import type {
  DhanCallReport,
  DhanClientOptions,
  DhanEndpoint,
  DhanErrorKind,
  IssuedToken,
} from '../../src/dhan/index.js';
import { startSimulator, type SimAccount, type Simulator } from '../../src/sim/index.js';
import { IST_OFFSET_MS, expectNoSecrets, jwtExpiringAt, recorded, withToken } from '../helpers/dhan.js';
import { dhanReadings } from '../fixtures/dhan-readings.js';
import { freePort } from '../helpers/http.js';
import { totpAt } from '../helpers/totp.js';

const A: SimAccount = { clientId: '1000000401', pin: '123456', totpSecret: 'JBSWY3DPEHPK3PXP' };
const B: SimAccount = { clientId: '1000000402', pin: '654321', totpSecret: 'GEZDGNBVGY3TQOJQ' };
const DAY = 86_400_000;
/** 09:00:00 IST on 5 Jan 2026. */
const T0 = Date.UTC(2026, 0, 5, 3, 30, 0);

let clock: FakeClock;
let sim: Simulator;
let reports: DhanCallReport[];
/** Every PIN, TOTP code and token a test handled: none may appear in an error or report. */
let secrets: string[];

beforeEach(async () => {
  clock = new FakeClock(T0);
  sim = await startSimulator({ accounts: [A, B], clock });
  reports = [];
  secrets = [A.pin, B.pin, A.totpSecret, B.totpSecret];
});

afterEach(async () => {
  expectNoSecrets(reports, secrets);
  await sim.close();
});

function client(overrides: Partial<DhanClientOptions> = {}): DhanClient {
  return new DhanClient({
    authBaseUrl: sim.baseUrl,
    apiBaseUrl: sim.baseUrl,
    timezone: 'Asia/Kolkata',
    requestTimeoutMs: 5_000,
    clock,
    onCall: (r) => reports.push(r),
    ...overrides,
  });
}

function totp(account: SimAccount, at = clock.now()): string {
  const code = totpAt(account.totpSecret, at);
  secrets.push(code);
  return code;
}

async function generate(c: DhanClient, account: SimAccount = A): Promise<IssuedToken> {
  const token = await c.generateToken({ clientId: account.clientId, pin: account.pin, totp: totp(account) });
  secrets.push(token.accessToken);
  return token;
}

/** Awaits a failure, checks it is a DhanError of `kind` that leaks nothing, and returns it. */
async function failure(promise: Promise<unknown>, kind: DhanErrorKind): Promise<DhanError> {
  const err = await promise.then(
    (value) => {
      throw new Error(`expected a ${kind} failure, got ${JSON.stringify(value)}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DhanError);
  const dhan = err as DhanError;
  expect({ kind: dhan.kind, message: dhan.message }).toMatchObject({ kind });
  expect(dhan.code).toBe(`dhan-${kind}`);
  expectNoSecrets(dhan, secrets);
  // The URL (with its query) never reaches an error, even without the secrets in it.
  expect(dhan.message).not.toMatch(/dhanClientId=|pin=|totp=|127\.0\.0\.1:\d+\//);
  return dhan;
}

/** "yyyy-MM-ddTHH:mm:ss.SSS" of an instant in IST, computed without any zone library. */
function istWallClock(epochMs: number): string {
  return new Date(epochMs + IST_OFFSET_MS).toISOString().slice(0, 23);
}

describe('generate', () => {
  it('returns the token with its expiry from the JWT exp', async () => {
    const token = await generate(client());
    expect(decodeJwtPayload(token.accessToken)).toMatchObject({ iss: 'dhan', dhanClientId: A.clientId });
    expect(token.expiresAt).toBe(T0 + DAY);
    expect(token.issuedAt).toBe(T0);
    expect(token.expiryTime).toBe(istWallClock(T0 + DAY));
    expect(token.expiryTime).toBe('2026-01-06T09:00:00.000');
    expect(sim.isLive(token.accessToken)).toBe(true);
    expect(reports).toEqual([
      {
        endpoint: 'generate',
        outcome: 'success',
        durationMs: expect.any(Number),
        httpStatus: 200,
        clockSkewMs: expect.any(Number),
      },
    ]);
  });

  it("reads an opaque token's expiry from expiryTime as IST, whatever the process zone", async () => {
    sim.setAccountOptions(A.clientId, { tokenFormat: 'opaque' });
    await clock.advance(1_234);
    const now = clock.now();
    const token = await generate(client());
    expect(decodeJwtPayload(token.accessToken)).toBeUndefined();
    expect(token.expiresAt).toBe(now + DAY);
    expect(token.expiryTime).toBe(istWallClock(now + DAY));
    expect(token.issuedAt).toBeUndefined();
  });

  it('reads an expiryTime without milliseconds', async () => {
    sim.setAccountOptions(A.clientId, { tokenFormat: 'opaque', expiryTimeFormat: 'no-millis' });
    await clock.advance(1_234);
    const now = clock.now();
    const token = await generate(client());
    const whole = now + DAY - ((now + DAY) % 1000);
    expect(token.expiresAt).toBe(whole);
    expect(token.expiryTime).toBe(istWallClock(whole));
    expect(token.expiryTime.endsWith('.000')).toBe(true);
  });

  it('refuses a wrong PIN, a reused TOTP code and a TOTP-less account as credentials-rejected', async () => {
    const c = client();
    const wrongPin = await failure(
      c.generateToken({ clientId: A.clientId, pin: '999999', totp: totp(A) }),
      'credentials-rejected',
    );
    secrets.push('999999');
    expect(wrongPin.message).toMatch(/PIN and TOTP secret/);
    expect(wrongPin.message).toContain('Invalid Pin');
    expect(wrongPin.httpStatus).toBe(200);
    expect(wrongPin.answer).toBe('HTTP 200: Invalid Pin');
    // The refused attempt re-armed Dhan's window.
    await clock.advance(2 * 60_000);

    const code = totp(A);
    await c.generateToken({ clientId: A.clientId, pin: A.pin, totp: code }).then((t) => secrets.push(t.accessToken));
    await clock.advance(3 * 60_000);
    // The same code again (its step is still spent even though time moved on).
    await failure(c.generateToken({ clientId: A.clientId, pin: A.pin, totp: code }), 'credentials-rejected');

    sim.setAccountOptions(B.clientId, { totpEnabled: false });
    await failure(generate(c, B), 'credentials-rejected');
    expect(sim.stats().generationsRefused[A.clientId]).toBe(2);
  });

  it('is rate-limited for 2 minutes after a generation, under HTTP 200 by default', async () => {
    const c = client();
    await generate(c);
    await clock.advance(31_000);
    const err = await failure(generate(c), 'rate-limited');
    expect(err.retryAfterMs).toBe(120_000);
    expect(err.httpStatus).toBe(200);
    expect(err.message).toMatch(/once every 2 minutes/);
    sim.setAccountOptions(A.clientId, { rateLimitStatus: 400 });
    await clock.advance(31_000);
    expect((await failure(generate(c), 'rate-limited')).httpStatus).toBe(400);
  });

  it('reads every shape the simulator refuses a wrong PIN in as refused credentials, quoting Dhan', async () => {
    const c = client();
    secrets.push('999999');
    for (const [shape, status] of [
      ['status-error', 200],
      ['message-200', 200],
      ['message-401', 401],
      ['error-403', 403],
    ] as const) {
      sim.setAccountOptions(A.clientId, { generateRefusal: shape });
      const err = await failure(
        c.generateToken({ clientId: A.clientId, pin: '999999', totp: totp(A) }),
        'credentials-rejected',
      );
      expect({ shape, answer: err.answer }).toEqual({ shape, answer: `HTTP ${status}: Invalid Pin` });
      await clock.advance(2 * 60_000);
    }
  });

  it('reads the rate-limit body under HTTP 200 and 400', async () => {
    const c = client();
    for (const status of [200, 400]) {
      sim.addFault({ endpoint: 'generate', action: { type: 'rate-limit-body', status } });
      const err = await failure(generate(c), 'rate-limited');
      expect(err.httpStatus).toBe(status);
      expect(err.retryAfterMs).toBe(120_000);
      await clock.advance(30_000);
    }
  });

  it('sends the credentials only in the query of a POST, never in a report or error', async () => {
    sim.addFault({ endpoint: 'generate', action: { type: 'status', status: 503 } });
    const err = await failure(generate(client()), 'transient');
    expect(err.httpStatus).toBe(503);
    expect(err.maybeProcessed).toBe(false);
    expect(sim.stats().calls.generate[A.clientId]).toBe(1);
  });
});

describe('renew', () => {
  it('renews with GET: the old token dies, the new one lives', async () => {
    const c = client();
    const first = await generate(c);
    await clock.advance(60 * 60_000);
    const renewed = await c.renewToken({ clientId: A.clientId, accessToken: first.accessToken });
    secrets.push(renewed.accessToken);
    expect(renewed.accessToken).not.toBe(first.accessToken);
    expect(renewed.expiresAt).toBe(clock.now() + DAY);
    expect(renewed.issuedAt).toBe(clock.now());
    expect(sim.isLive(first.accessToken)).toBe(false);
    expect(sim.isLive(renewed.accessToken)).toBe(true);
    expect(sim.stats().wrongMethod).toBe(0);
    expect(sim.stats().calls.renew[A.clientId]).toBe(1);
    expect(reports.map((r) => [r.endpoint, r.outcome])).toEqual([
      ['generate', 'success'],
      ['renew', 'success'],
    ]);
  });

  it('accepts the `token` field variant', async () => {
    sim.setAccountOptions(A.clientId, { renewField: 'token' });
    const c = client();
    const first = await generate(c);
    const renewed = await c.renewToken({ clientId: A.clientId, accessToken: first.accessToken });
    secrets.push(renewed.accessToken);
    expect(sim.isLive(renewed.accessToken)).toBe(true);
    expect(renewed.expiresAt).toBe(clock.now() + DAY);
  });

  it('renews an imported Dhan Web token', async () => {
    const web = sim.issueWebToken(A.clientId);
    secrets.push(web.accessToken);
    const renewed = await client().renewToken({ clientId: A.clientId, accessToken: web.accessToken });
    secrets.push(renewed.accessToken);
    expect(sim.isLive(renewed.accessToken)).toBe(true);
  });

  it('a dead token is token-invalid (DH-901)', async () => {
    const c = client();
    const first = await generate(c);
    sim.killTokens(A.clientId);
    const err = await failure(c.renewToken({ clientId: A.clientId, accessToken: first.accessToken }), 'token-invalid');
    expect(err.dhanCode).toBe('DH-901');
    expect(err.message).toContain(
      'Dhan refused the token renewal (DH-901: Client ID or user generated access token is invalid or expired.)',
    );
  });

  it('a TOTP token Dhan will not renew is token-invalid (DH-906 "Invalid Token")', async () => {
    sim.setAccountOptions(A.clientId, { renewableTotpTokens: false });
    const c = client();
    const first = await generate(c);
    const err = await failure(c.renewToken({ clientId: A.clientId, accessToken: first.accessToken }), 'token-invalid');
    expect(err.dhanCode).toBe('DH-906');
    expect(sim.isLive(first.accessToken)).toBe(true);
  });

  it('a lapsed subscription is access-denied (DH-902), on renew and profile', async () => {
    const c = client();
    const first = await generate(c);
    sim.setAccountOptions(A.clientId, { dataAccess: false });
    const renew = await failure(
      c.renewToken({ clientId: A.clientId, accessToken: first.accessToken }),
      'access-denied',
    );
    expect(renew.dhanCode).toBe('DH-902');
    expect(renew.message).toMatch(/not a token problem/);
    await failure(c.getProfile(first.accessToken), 'access-denied');
  });

  it('DH-902 injected as a fault', async () => {
    const c = client();
    const first = await generate(c);
    sim.addFault({ endpoint: 'renew', action: { type: 'dhan-error', code: 'DH-902', status: 400 } });
    const err = await failure(c.renewToken({ clientId: A.clientId, accessToken: first.accessToken }), 'access-denied');
    expect(err.httpStatus).toBe(400);
  });

  it('HTTP 429 DH-904 is rate-limited for a minute', async () => {
    const c = client();
    const first = await generate(c);
    sim.addFault({ endpoint: 'renew', action: { type: 'dhan-error', code: 'DH-904' } });
    const err = await failure(c.renewToken({ clientId: A.clientId, accessToken: first.accessToken }), 'rate-limited');
    expect(err.httpStatus).toBe(429);
    expect(err.dhanCode).toBe('DH-904');
    expect(err.retryAfterMs).toBe(60_000);
  });

  it('a 200 without a token is token-invalid and says the old token may be dead', async () => {
    const c = client();
    const first = await generate(c);
    sim.addFault({ endpoint: 'renew', action: { type: 'no-token', commit: true } });
    const err = await failure(c.renewToken({ clientId: A.clientId, accessToken: first.accessToken }), 'token-invalid');
    expect(err.oldTokenMayBeDead).toBe(true);
    expect(err.httpStatus).toBe(200);
    expect(sim.isLive(first.accessToken)).toBe(false);
    await failure(c.getProfile(first.accessToken), 'token-invalid');
  });

  it('a lost response after the renewal committed is transient and maybe processed', async () => {
    const c = client();
    const first = await generate(c);
    sim.addFault({ endpoint: 'renew', action: { type: 'drop-after-commit' } });
    const err = await failure(c.renewToken({ clientId: A.clientId, accessToken: first.accessToken }), 'transient');
    expect(err.maybeProcessed).toBe(true);
    expect(err.oldTokenMayBeDead).toBe(true);
    expect(err.httpStatus).toBeUndefined();
    expect(sim.isLive(first.accessToken)).toBe(false);
    expect(reports.at(-1)).toMatchObject({
      endpoint: 'renew',
      outcome: 'transient',
      httpStatus: undefined,
      clockSkewMs: undefined,
    });
  });

  it('a dropped connection is transient and maybe processed (we cannot tell it from a lost answer)', async () => {
    const c = client();
    const first = await generate(c);
    sim.addFault({ endpoint: 'renew', action: { type: 'drop' } });
    const err = await failure(c.renewToken({ clientId: A.clientId, accessToken: first.accessToken }), 'transient');
    expect(err.maybeProcessed).toBe(true);
    expect(sim.isLive(first.accessToken)).toBe(true);
  });
});

describe('profile', () => {
  it('returns the client id and tokenValidity', async () => {
    const c = client();
    const token = await generate(c);
    const profile = await c.getProfile(token.accessToken);
    expect(profile.dhanClientId).toBe(A.clientId);
    expect(profile.tokenValidity).toBe('06/01/2026 09:00');
    expect(profile.tokenValidUntil).toBe(T0 + DAY);
  });

  it('an unknown token is token-invalid', async () => {
    secrets.push('never-issued-token-0123456789abcdef');
    await failure(client().getProfile('never-issued-token-0123456789abcdef'), 'token-invalid');
  });
});

describe('broken answers and networks', () => {
  it('a truncated or non-JSON body is transient; a 2xx one may have been processed', async () => {
    const c = client();
    const token = await generate(c);
    sim.addFault({ endpoint: 'profile', action: { type: 'raw', body: '{"dhanClientId":"10000' } });
    const truncated = await failure(c.getProfile(token.accessToken), 'transient');
    expect(truncated.maybeProcessed).toBe(true);
    sim.addFault({
      endpoint: 'profile',
      action: { type: 'raw', status: 502, body: '<html>Bad Gateway</html>', contentType: 'text/html' },
    });
    const html = await failure(c.getProfile(token.accessToken), 'transient');
    expect(html.httpStatus).toBe(502);
    expect(html.maybeProcessed).toBe(false);
  });

  it('a redirect is unknown and is not followed', async () => {
    sim.addFault({ endpoint: 'generate', action: { type: 'status', status: 302 } });
    const err = await failure(generate(client()), 'unknown');
    expect(err.httpStatus).toBe(302);
  });

  it('refuses a huge body without reading it all', async () => {
    const c = client({ fetch: countingFetch });
    const token = await generate(c);
    bytesRead = 0;
    sim.addFault({ endpoint: 'profile', action: { type: 'huge-body' } });
    const err = await failure(c.getProfile(token.accessToken), 'transient');
    expect(err.message).toMatch(/larger than/);
    expect(bytesRead).toBeLessThanOrEqual(1024 * 1024 + 256 * 1024);
    // The client still works afterwards.
    await expect(c.getProfile(token.accessToken)).resolves.toMatchObject({ dhanClientId: A.clientId });
  });

  it('a response slower than requestTimeoutMs is transient and maybe processed', async () => {
    const c = client({ requestTimeoutMs: 200 });
    const first = await generate(c);
    sim.addFault({ endpoint: 'renew', action: { type: 'delay', ms: 2_000 } });
    const started = performance.now();
    const err = await failure(c.renewToken({ clientId: A.clientId, accessToken: first.accessToken }), 'transient');
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(err.maybeProcessed).toBe(true);
    expect(err.oldTokenMayBeDead).toBe(true);
    expect(err.message).toMatch(/within 200 ms/);
    expect(reports.at(-1)).toMatchObject({ endpoint: 'renew', outcome: 'transient' });
  });

  it('a closed port is transient and certainly not processed', async () => {
    const port = await freePort();
    const c = client({ authBaseUrl: `http://127.0.0.1:${port}`, apiBaseUrl: `http://127.0.0.1:${port}` });
    const err = await failure(generate(c), 'transient');
    expect(err.maybeProcessed).toBe(false);
    expect(err.message).toMatch(/connection refused/);
    expect(reports).toEqual([
      {
        endpoint: 'generate',
        outcome: 'transient',
        durationMs: expect.any(Number),
        httpStatus: undefined,
        clockSkewMs: undefined,
      },
    ]);
  });

  it("a caller's abort rejects with an AbortError, not a DhanError", async () => {
    const c = client();
    const first = await generate(c);
    sim.addFault({ endpoint: 'renew', action: { type: 'delay', ms: 2_000 } });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const err: unknown = await c
      .renewToken({ clientId: A.clientId, accessToken: first.accessToken }, controller.signal)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(DhanError);
    expect((err as Error).name).toBe('AbortError');

    const before = sim.stats().calls.profile[A.clientId];
    const already = await c.getProfile(first.accessToken, AbortSignal.abort()).catch((e: unknown) => e);
    expect((already as Error).name).toBe('AbortError');
    expect(sim.stats().calls.profile[A.clientId]).toBe(before);
    // Aborts say nothing about Dhan: only the generation was reported.
    expect(reports.map((r) => r.endpoint)).toEqual(['generate']);
  });
});

describe('clock skew and reports', () => {
  it('reports ≈0 skew when both sides share a clock, and the offset when ours runs 40 s behind', async () => {
    const c = client();
    const token = await generate(c);
    const same = reports.at(-1)?.clockSkewMs ?? NaN;
    // The Date header has whole seconds: it reads up to 1 s early.
    expect(same).toBeGreaterThan(-1_000);
    expect(same).toBeLessThanOrEqual(0);

    const behind = new FakeClock(clock.now() - 40_000);
    await client({ clock: behind }).getProfile(token.accessToken);
    const skew = reports.at(-1)?.clockSkewMs ?? NaN;
    expect(skew).toBeGreaterThan(39_000);
    expect(skew).toBeLessThanOrEqual(40_000);
  });

  it('reports every call, failures included, and survives a throwing hook', async () => {
    const c = client();
    const token = await generate(c);
    sim.addFault({ endpoint: 'profile', action: { type: 'status', status: 503 } });
    await failure(c.getProfile(token.accessToken), 'transient');
    await c.getProfile(token.accessToken);
    expect(reports.map((r) => [r.endpoint, r.outcome, r.httpStatus])).toEqual([
      ['generate', 'success', 200],
      ['profile', 'transient', 503],
      ['profile', 'success', 200],
    ]);

    const throwing = client({
      onCall: () => {
        throw new Error('metrics broke');
      },
    });
    await expect(throwing.getProfile(token.accessToken)).resolves.toMatchObject({ dhanClientId: A.clientId });
  });
});

// ---------------------------------------------------------------------------------------------
// Raw replay: the exact recorded bodies over real HTTP, and what the client sends.

interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

type Responder = (res: ServerResponse) => void;

describe('raw replay of dhan-responses.json over HTTP', () => {
  let server: Server;
  let base: string;
  const queue: Responder[] = [];
  const seen: SeenRequest[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      const next = queue.shift();
      if (next) next(res);
      else res.writeHead(500).end('no response queued');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  beforeEach(() => {
    queue.length = 0;
    seen.length = 0;
  });

  function replayClient(): DhanClient {
    return new DhanClient({
      authBaseUrl: base,
      apiBaseUrl: `${base}/`,
      timezone: 'Asia/Kolkata',
      requestTimeoutMs: 2_000,
      clock,
      onCall: (r) => reports.push(r),
    });
  }

  function replay(status: number, text: string, headers: Record<string, string> = {}): void {
    queue.push((res) => res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(text));
  }

  const JWT = jwtExpiringAt(Date.UTC(2026, 0, 1, 0, 0, 0) - IST_OFFSET_MS);
  const PIN = '246810';
  const TOTP = '135791';
  const API_KEY = 'app-id-1f2e3d4c5b6a';
  const API_SECRET = 'app-secret-9a8b7c6d5e4f';
  const TOKEN_ID = 'token-id-0a1b2c3d4e5f6a7b';

  function call(c: DhanClient, endpoint: DhanEndpoint): Promise<unknown> {
    switch (endpoint) {
      case 'generate':
        return c.generateToken({ clientId: A.clientId, pin: PIN, totp: TOTP });
      case 'renew':
        return c.renewToken({ clientId: A.clientId, accessToken: JWT });
      case 'profile':
        return c.getProfile(JWT);
      case 'consent-generate':
        return c.generateConsent(A.clientId, { apiKey: API_KEY, apiSecret: API_SECRET });
      case 'consent-consume':
        return c.consumeConsent(TOKEN_ID, { apiKey: API_KEY, apiSecret: API_SECRET });
    }
  }

  // Which bodies exist is checked once, by test/unit/dhan-parse.test.ts.
  for (const [name, endpoint, { kind: want }] of dhanReadings()) {
    it(`${name} on ${endpoint} → ${want}`, async () => {
      secrets.push(PIN, TOTP, JWT, API_KEY, API_SECRET, TOKEN_ID);
      const { status, body } = recorded(name);
      replay(status, withToken(body, JWT));
      const c = replayClient();
      if (want === 'success') {
        const result = await call(c, endpoint);
        if (endpoint !== 'profile' && endpoint !== 'consent-generate')
          expect(result).toMatchObject({ accessToken: JWT });
      } else {
        const err = await failure(call(c, endpoint), want);
        expect(err.httpStatus).toBe(status);
      }
      expect(reports.at(-1)).toMatchObject({ endpoint, outcome: want, httpStatus: status });
    });
  }

  it('sends generate as a POST with the credentials in the query, renew and profile as GETs with headers', async () => {
    secrets.push(PIN, TOTP, JWT);
    const c = replayClient();
    replay(200, withToken(recorded('generate_ok').body, JWT));
    replay(200, withToken(recorded('renew_ok_accessToken').body, JWT));
    replay(200, JSON.stringify(recorded('profile_ok').body));
    await call(c, 'generate');
    await call(c, 'renew');
    await call(c, 'profile');
    const [gen, renew, profile] = seen;
    expect(gen?.method).toBe('POST');
    const genUrl = new URL(gen?.url ?? '', base);
    expect(genUrl.pathname).toBe('/app/generateAccessToken');
    expect(Object.fromEntries(genUrl.searchParams)).toEqual({ dhanClientId: A.clientId, pin: PIN, totp: TOTP });
    expect(gen?.headers['access-token']).toBeUndefined();
    expect(renew).toMatchObject({ method: 'GET', url: '/v2/RenewToken' });
    expect(renew?.headers['access-token']).toBe(JWT);
    expect(renew?.headers['dhanclientid']).toBe(A.clientId);
    expect(profile).toMatchObject({ method: 'GET', url: '/v2/profile' });
    expect(profile?.headers['access-token']).toBe(JWT);
    for (const r of seen) {
      expect(r.headers['accept']).toBe('application/json');
      expect(r.headers['user-agent']).toBe('dhan-token-keeper/0.1.0');
    }
  });

  it('sends the consent calls with the API key and secret as app_id/app_secret headers, never in the URL', async () => {
    secrets.push(JWT, API_KEY, API_SECRET, TOKEN_ID);
    const c = replayClient();
    replay(200, JSON.stringify(recorded('consent_generate_ok').body));
    replay(200, withToken(recorded('consent_consume_ok').body, JWT));
    await expect(call(c, 'consent-generate')).resolves.toEqual({
      consentAppId: '940b0ca1-3ff4-4476-b46e-03a3ce7dc55d',
      consentAppStatus: 'GENERATED',
    });
    await expect(call(c, 'consent-consume')).resolves.toMatchObject({ accessToken: JWT, dhanClientId: '1000000001' });
    const [gen, consume] = seen;
    expect(gen).toMatchObject({ method: 'POST', url: `/app/generate-consent?client_id=${A.clientId}` });
    expect(consume).toMatchObject({ method: 'GET', url: `/app/consumeApp-consent?tokenId=${TOKEN_ID}` });
    for (const r of [gen, consume]) {
      expect(r?.headers['app_id']).toBe(API_KEY);
      expect(r?.headers['app_secret']).toBe(API_SECRET);
      expect(r?.url).not.toContain(API_SECRET);
    }
    expect(c.consentLoginUrl('940b0ca1-3ff4-4476-b46e-03a3ce7dc55d')).toBe(
      `${base}/login/consentApp-login?consentAppId=940b0ca1-3ff4-4476-b46e-03a3ce7dc55d`,
    );
  });

  it('reads Retry-After from the header', async () => {
    replay(429, '', { 'retry-after': '90' });
    const err = await failure(call(replayClient(), 'profile'), 'rate-limited');
    expect(err.retryAfterMs).toBe(90_000);
  });

  it('stops reading a chunked body past 1 MiB', async () => {
    let written = 0;
    queue.push((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = 'x'.repeat(64 * 1024);
      res.write('{"dhanClientId":"');
      // Keep writing until the client goes away (or 16 MiB, so a broken client cannot hang the test).
      const pump = (): void => {
        while (written < 16 * 1024 * 1024 && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        if (!res.destroyed) res.end('"}');
      };
      res.on('close', () => undefined);
      pump();
    });
    bytesRead = 0;
    const c = new DhanClient({
      authBaseUrl: base,
      apiBaseUrl: base,
      timezone: 'Asia/Kolkata',
      requestTimeoutMs: 5_000,
      clock,
      fetch: countingFetch,
    });
    secrets.push(JWT);
    const err = await failure(c.getProfile(JWT), 'transient');
    expect(err.message).toMatch(/larger than/);
    expect(bytesRead).toBeGreaterThan(1024 * 1024);
    expect(bytesRead).toBeLessThanOrEqual(1024 * 1024 + 256 * 1024);
    expect(written).toBeLessThan(16 * 1024 * 1024);
  });

  it('judges a compressed body by what it inflates to, not by its Content-Length', async () => {
    const inflated = `{"dhanClientId":"${'x'.repeat(4 * 1024 * 1024)}"}`;
    const compressed = gzipSync(inflated);
    expect(compressed.length).toBeLessThan(1024 * 1024);
    queue.push((res) => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        'content-length': String(compressed.length),
      });
      res.end(compressed);
    });
    secrets.push(JWT);
    const err = await failure(replayClient().getProfile(JWT), 'transient');
    expect(err.message).toMatch(/larger than/);
  });

  it('a body cut short of its Content-Length is transient and maybe processed', async () => {
    queue.push((res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' });
      res.write('{"accessToken":"eyJ');
      setTimeout(() => res.destroy(), 20);
    });
    secrets.push(JWT);
    const err = await failure(call(replayClient(), 'renew'), 'transient');
    expect(err.maybeProcessed).toBe(true);
    expect(err.httpStatus).toBe(200);
    expect(err.message).toMatch(/broke off/);
  });

  it('Dhan echoing the PIN, TOTP or token back never reaches the error', async () => {
    secrets.push(PIN, TOTP, JWT);
    replay(200, JSON.stringify({ status: 'error', message: `Invalid pin ${PIN} / totp ${TOTP}` }));
    await failure(call(replayClient(), 'generate'), 'credentials-rejected');
    replay(400, JSON.stringify({ errorCode: 'DH-901', errorMessage: `token ${JWT} is invalid` }));
    await failure(call(replayClient(), 'renew'), 'token-invalid');
  });
});

// ---------------------------------------------------------------------------------------------

let bytesRead = 0;

/** fetch whose response bodies count the bytes the client actually pulls. */
const countingFetch: typeof fetch = async (input, init) => {
  const res = await fetch(input, init);
  if (!res.body) return res;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      bytesRead += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
  return new Response(res.body.pipeThrough(counter), {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
};
