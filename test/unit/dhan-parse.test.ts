import { describe, expect, it } from 'vitest';
import {
  DhanError,
  parseConsentConsumeResponse,
  parseConsentGenerateResponse,
  parseProfileResponse,
  parseTokenResponse,
} from '../../src/dhan/index.js';
import type {
  Consent,
  ConsentToken,
  DhanEndpoint,
  IssuedToken,
  ParseContext,
  Profile,
  RawResponse,
} from '../../src/dhan/index.js';
import {
  DHAN_RESPONSES,
  IST,
  IST_OFFSET_MS,
  expectNoSecrets,
  jwtExpiringAt,
  makeJwt,
  recorded,
  withToken,
} from '../helpers/dhan.js';
import { DHAN_READINGS, dhanReadings } from '../fixtures/dhan-readings.js';
import { attemptOutcome } from '../../src/keeper/generation-budget.js';

const RECEIVED_AT = Date.UTC(2026, 0, 5, 3, 30, 0);
const CTX: ParseContext = { timezone: IST, receivedAt: RECEIVED_AT, secrets: [] };

function response(status: number, body: unknown, headers: Record<string, string> = {}): RawResponse {
  return { status, headers: new Headers(headers), text: typeof body === 'string' ? body : JSON.stringify(body) };
}

function parse(
  endpoint: DhanEndpoint,
  res: RawResponse,
  ctx: ParseContext = CTX,
): IssuedToken | Profile | Consent | ConsentToken | DhanError {
  switch (endpoint) {
    case 'profile':
      return parseProfileResponse(res, ctx);
    case 'consent-generate':
      return parseConsentGenerateResponse(res, ctx);
    case 'consent-consume':
      return parseConsentConsumeResponse(res, ctx);
    default:
      return parseTokenResponse(endpoint, res, ctx);
  }
}

function expectError(result: unknown): DhanError {
  expect(result).toBeInstanceOf(DhanError);
  return result as DhanError;
}

/** The recorded body with "<jwt>" replaced by a JWT whose exp matches its own expiryTime. */
function recordedWithJwt(name: string): { res: RawResponse; token: string; expiresAt: number } {
  const { status, body } = recorded(name);
  const expiryTime = (body as { expiryTime: string }).expiryTime;
  const [date, time] = expiryTime.split('T') as [string, string];
  const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
  const [h, mi, s] = time.split(':').map(Number) as [number, number, number];
  const expiresAt = Date.UTC(y, mo - 1, d, h, mi, Math.floor(s)) - IST_OFFSET_MS;
  const token = jwtExpiringAt(expiresAt);
  return { res: { status, headers: new Headers(), text: withToken(body, token) }, token, expiresAt };
}

describe('every recorded Dhan body is classified', () => {
  it('covers every body in dhan-responses.json', () => {
    const names = Object.keys(DHAN_RESPONSES).filter((k) => !k.startsWith('_') && k !== 'jwt_payload');
    expect(names.sort()).toEqual(Object.keys(DHAN_READINGS).sort());
  });

  for (const [name, endpoint, want] of dhanReadings()) {
    if (want.kind === 'success') continue;
    it(`${name} on ${endpoint} → ${want.kind}`, () => {
      const { status, body } = recorded(name);
      const err = expectError(parse(endpoint, response(status, body)));
      expect(err.kind).toBe(want.kind);
      expect(err.code).toBe(`dhan-${want.kind}`);
      expect(err.endpoint).toBe(endpoint);
      expect(err.httpStatus).toBe(status);
      expect(err.dhanCode).toBe(want.code);
      expect(err.retryAfterMs).toBe(want.retryAfterMs);
      expect(err.maybeProcessed).toBe(false);
      const words = body as { errorMessage?: string; message?: string; error?: string };
      const errorMessage = words.errorMessage ?? words.message ?? words.error;
      if (errorMessage !== undefined) expect(err.message).toContain(errorMessage);
      if (want.code !== undefined) expect(err.message).toContain(want.code);
      // What the credential budget records of it: the status, the code and Dhan's words.
      expect(err.answer).toBe(
        [`HTTP ${status}${want.code === undefined ? '' : ` ${want.code}`}`, errorMessage].filter(Boolean).join(': '),
      );
      if (endpoint === 'generate') expect(attemptOutcome(err)).toBe(want.attempt);
    });
  }

  it('generate_ok: token and expiry from the JWT', () => {
    const { res, token, expiresAt } = recordedWithJwt('generate_ok');
    expect(parse('generate', res)).toEqual({
      accessToken: token,
      expiresAt,
      expiryTime: '2026-01-01T00:00:00.000',
      issuedAt: expiresAt - 86_400_000,
    });
  });

  it('generate_ok_no_millis: expiryTime normalised', () => {
    const { res, expiresAt } = recordedWithJwt('generate_ok_no_millis');
    const token = parse('generate', res) as IssuedToken;
    expect(token.expiresAt).toBe(expiresAt);
    expect(token.expiryTime).toBe('2025-09-23T12:37:23.000');
  });

  it('generate_ok_no_millis with an opaque token: expiry from expiryTime in IST', () => {
    const { status, body } = recorded('generate_ok_no_millis');
    const opaque = 'Opaque_Token-0123456789abcdefghijklmnopqrstuvwxyz';
    const token = parse('generate', { status, headers: new Headers(), text: withToken(body, opaque) }) as IssuedToken;
    expect(token).toEqual({
      accessToken: opaque,
      expiresAt: Date.UTC(2025, 8, 23, 12, 37, 23) - IST_OFFSET_MS,
      expiryTime: '2025-09-23T12:37:23.000',
      issuedAt: undefined,
    });
  });

  it('renew_ok_accessToken and renew_ok_token_field', () => {
    for (const name of ['renew_ok_accessToken', 'renew_ok_token_field']) {
      const { res, token, expiresAt } = recordedWithJwt(name);
      expect(parse('renew', res)).toMatchObject({
        accessToken: token,
        expiresAt,
        expiryTime: '2026-01-02T00:00:00.000',
      });
    }
  });

  it('profile_ok', () => {
    const { status, body } = recorded('profile_ok');
    expect(parse('profile', response(status, body))).toEqual({
      dhanClientId: '1000000401',
      tokenValidity: '30/03/2025 15:37',
      tokenValidUntil: Date.UTC(2025, 2, 30, 15, 37) - IST_OFFSET_MS,
    });
  });

  it('renew_ok_without_token says the old token may be dead', () => {
    const { status, body } = recorded('renew_ok_without_token');
    const err = expectError(parse('renew', response(status, body)));
    expect(err.oldTokenMayBeDead).toBe(true);
    expect(err.message).toMatch(/old token may already be dead/);
    expect(err.message).toMatch(/profile/);
  });

  it('consent_generate_ok: the consentAppId', () => {
    const { status, body } = recorded('consent_generate_ok');
    expect(parse('consent-generate', response(status, body))).toEqual({
      consentAppId: '940b0ca1-3ff4-4476-b46e-03a3ce7dc55d',
      consentAppStatus: 'GENERATED',
    });
  });

  it('consent_consume_ok: token, expiry (no millis, IST) and whose token it is', () => {
    const { res, token, expiresAt } = recordedWithJwt('consent_consume_ok');
    expect(parse('consent-consume', res)).toEqual({
      accessToken: token,
      expiresAt,
      expiryTime: '2025-09-23T12:37:23.000',
      issuedAt: expiresAt - 86_400_000,
      dhanClientId: '1000000001',
    });
  });

  it('a consent is a success only with status "success" and a usable consentAppId', () => {
    const ok = recorded('consent_generate_ok').body as Record<string, unknown>;
    for (const body of [
      { ...ok, status: 'pending' },
      { consentAppStatus: 'GENERATED', status: 'success' },
      { ...ok, consentAppId: 'x y' },
      { ...ok, consentAppId: 42 },
    ]) {
      expect(expectError(parse('consent-generate', response(200, body))).kind).toBe('unknown');
    }
    const refused = expectError(
      parse('consent-generate', response(200, { status: 'error', message: 'Consent limit reached for today' })),
    );
    expect(refused.kind).toBe('unknown');
    expect(refused.message).toContain('Consent limit reached');
  });

  it('a consent exchange without a token or owner is unknown; an unknown tokenId is refused without quoting it', () => {
    expect(expectError(parse('consent-consume', response(200, { dhanClientId: '1000000001' }))).kind).toBe('unknown');
    const jwt = jwtExpiringAt(Date.UTC(2026, 0, 6, 3, 30));
    expect(
      expectError(parse('consent-consume', response(200, { accessToken: jwt, expiryTime: '2026-01-06T09:00:00' })))
        .kind,
    ).toBe('unknown');
    const tokenId = 'a1b2c3d4-e5f6-47a8-99b0-c1d2e3f4a5b6';
    const err = expectError(
      parse('consent-consume', response(400, { status: 'error', message: `Invalid tokenId ${tokenId}` }), {
        ...CTX,
        secrets: [tokenId],
      }),
    );
    expect(err.kind).toBe('unknown');
    expectNoSecrets(err, [tokenId]);
    const forbidden = expectError(parse('consent-generate', response(403, '')));
    expect(forbidden.kind).toBe('credentials-rejected');
    expect(forbidden.hint).toMatch(/apiKey and apiSecret/);
  });

  it('a generation answered 200 without a token is unknown', () => {
    const err = expectError(parse('generate', response(200, { status: 'success' })));
    expect(err.kind).toBe('unknown');
  });
});

describe('shapes beyond the recorded bodies', () => {
  const jwt = jwtExpiringAt(Date.UTC(2026, 0, 6, 3, 30));

  it('a rate-limit wording under a 5xx or with "too many" is still a rate limit', () => {
    const tooMany = expectError(parse('renew', response(400, { status: 'error', message: 'Too many requests' })));
    expect(tooMany.kind).toBe('rate-limited');
    expect(tooMany.retryAfterMs).toBe(60_000);
    const minutes = expectError(
      parse('generate', response(503, { status: 'error', message: 'Token can be generated once every 5 minutes.' })),
    );
    expect(minutes.kind).toBe('rate-limited');
    expect(minutes.retryAfterMs).toBe(300_000);
  });

  it('HTTP 429 without a body is rate-limited; Retry-After in seconds or as a date is honoured', () => {
    expect(expectError(parse('profile', response(429, ''))).retryAfterMs).toBe(60_000);
    expect(expectError(parse('profile', response(429, '', { 'retry-after': '7' }))).retryAfterMs).toBe(7_000);
    const dated = response(429, '', {
      date: new Date(Date.UTC(2026, 0, 1, 0, 0, 0)).toUTCString(),
      'retry-after': new Date(Date.UTC(2026, 0, 1, 0, 0, 30)).toUTCString(),
    });
    expect(expectError(parse('profile', dated)).retryAfterMs).toBe(30_000);
    // A header shorter than the body's own "2 minutes" does not shorten the wait.
    const both = response(200, recorded('generate_rate_limited_200').body, { 'retry-after': '5' });
    expect(expectError(parse('generate', both)).retryAfterMs).toBe(120_000);
    expect(expectError(parse('renew', response(429, '', { 'retry-after': '300' }))).retryAfterMs).toBe(300_000);
  });

  it('DH codes are read by code, whatever errorType says, in any spelling', () => {
    const err = expectError(
      parse('renew', response(400, { errorType: 'Rate_Limit', errorCode: 'DH-902', errorMessage: 'x' })),
    );
    expect(err.kind).toBe('access-denied');
    expect(expectError(parse('renew', response(400, { errorCode: 901, errorMessage: 'x' }))).kind).toBe(
      'token-invalid',
    );
    expect(expectError(parse('renew', response(400, { errorCode: 'dh-903' }))).kind).toBe('access-denied');
    for (const code of ['DH-907', 'DH-909', 'DH-910']) {
      expect(expectError(parse('renew', response(400, { errorCode: code }))).kind).toBe('transient');
    }
    expect(expectError(parse('renew', response(400, { errorCode: 'DH-999' }))).kind).toBe('unknown');
    expect(expectError(parse('renew', response(200, { errorCode: 'DH-901' }))).kind).toBe('token-invalid');
  });

  it('an error body wins over a token in the same answer', () => {
    const err = expectError(
      parse('renew', response(200, { status: 'error', message: 'Invalid Token', accessToken: jwt })),
    );
    expect(err.kind).toBe('token-invalid');
  });

  it('HTTP 401/403 without a DH code is a dead token on renew and profile, refused credentials on generate', () => {
    expect(expectError(parse('renew', response(401, ''))).kind).toBe('token-invalid');
    expect(expectError(parse('profile', response(403, { message: 'Forbidden' }))).kind).toBe('token-invalid');
    // Generation sends no token: what the auth tier refuses there is the PIN or TOTP (field reports).
    const refused = expectError(parse('generate', response(403, { message: 'Forbidden' })));
    expect(refused.kind).toBe('credentials-rejected');
    expect(refused.answer).toBe('HTTP 403: Forbidden');
  });

  it('5xx is transient, with or without JSON', () => {
    const html = expectError(parse('renew', response(502, '<html>Bad Gateway</html>')));
    expect(html.kind).toBe('transient');
    expect(html.httpStatus).toBe(502);
    expect(html.maybeProcessed).toBe(false);
    expect(expectError(parse('generate', response(503, { status: 'error', message: 'down' }))).kind).toBe('transient');
  });

  it('a 3xx is unknown (redirects are never followed)', () => {
    const err = expectError(parse('generate', response(302, '', { location: 'http://elsewhere/' })));
    expect(err.kind).toBe('unknown');
    expect(err.message).toMatch(/redirect/);
  });

  it('non-JSON, truncated, empty or non-object bodies are transient; a 2xx one may have been processed', () => {
    for (const text of ['<html>oops</html>', '{"accessToken":"eyJ', '', '[1,2]', '"text"', 'null']) {
      const ok = expectError(parse('renew', response(200, text)));
      expect(ok.kind).toBe('transient');
      expect(ok.maybeProcessed).toBe(true);
      expect(ok.oldTokenMayBeDead).toBe(true);
    }
    const bad = expectError(parse('renew', response(400, '<html>Bad Request</html>')));
    expect(bad.kind).toBe('transient');
    expect(bad.maybeProcessed).toBe(false);
  });

  it('a body over the limit is transient', () => {
    const err = expectError(parse('renew', { status: 200, headers: new Headers(), text: '', tooLarge: true }));
    expect(err.kind).toBe('transient');
    expect(err.message).toMatch(/larger than 1024 KiB/);
  });

  it('a token field that is not a token is refused', () => {
    for (const bad of ['<jwt>', 'short', 'has a space in it somewhere', 'x'.repeat(5000)]) {
      const err = expectError(
        parse('generate', response(200, { accessToken: bad, expiryTime: '2026-01-01T00:00:00' })),
      );
      expect(err.kind).toBe('transient');
      expect(err.maybeProcessed).toBe(true);
    }
  });

  it('a token without any readable expiry is kept with the documented 24 h, never lost', () => {
    const token = parse(
      'renew',
      response(200, { accessToken: 'opaque-token-without-expiry-0123456789' }),
    ) as IssuedToken;
    expect(token.accessToken).toBe('opaque-token-without-expiry-0123456789');
    expect(token.expiresAt).toBe(RECEIVED_AT + 86_400_000);
  });

  it('profile: a numeric client id is accepted, a missing one is not, an odd tokenValidity is kept raw', () => {
    expect(parse('profile', response(200, { dhanClientId: 1000000401, tokenValidity: 'soon' }))).toEqual({
      dhanClientId: '1000000401',
      tokenValidity: 'soon',
      tokenValidUntil: undefined,
    });
    expect(expectError(parse('profile', response(200, { tokenValidity: '30/03/2025 15:37' }))).kind).toBe('unknown');
  });

  it('a non-2xx JSON answer without an error shape is unknown', () => {
    expect(expectError(parse('renew', response(404, { error: 'no route' }))).kind).toBe('unknown');
  });

  it('renew/profile {status:"error"} with an unrecognised message is unknown; one about an invalid token is token-invalid', () => {
    expect(expectError(parse('renew', response(200, { status: 'error', message: 'Something odd' }))).kind).toBe(
      'unknown',
    );
    expect(expectError(parse('renew', response(400, { status: 'error', message: 'Token expired' }))).kind).toBe(
      'token-invalid',
    );
  });

  it("quotes Dhan's text without secrets, tokens or control characters, capped at 200 characters", () => {
    const pin = '482913';
    const totp = '771204';
    const token = makeJwt({ exp: 1, secret: 'x'.repeat(40) });
    const message = `Invalid Pin ${pin} or TOTP ${totp} for token ${token} and opaque ${'Z9'.repeat(20)}\r\n${'blah '.repeat(80)}`;
    const err = expectError(
      parse('generate', response(200, { status: 'error', message }), { ...CTX, secrets: [pin, totp, token] }),
    );
    expect(err.kind).toBe('credentials-rejected');
    expectNoSecrets(err, [pin, totp, token, 'Z9'.repeat(20), '\r']);
    expect(err.message).toContain('Invalid Pin [redacted] or TOTP [redacted]');
    const quoted = /\(HTTP 200: (.*)\)/s.exec(err.message)?.[1] ?? '';
    expect(quoted.length).toBeLessThanOrEqual(200);
    expect(err.hint).toMatch(/PIN and TOTP secret/);
  });
});
