import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import {
  EXPIRY_DISAGREEMENT_MS,
  decodeJwtPayload,
  looksLikeToken,
  parseTokenValidity,
  readExpiry,
  tryReadExpiry,
} from '../../src/dhan/index.js';
import { KeeperError } from '../../src/errors.js';

const IST = 'Asia/Kolkata';
/** IST is UTC+05:30 all year (no DST): a wall clock minus this is the UTC instant. */
const IST_OFFSET_MS = (5 * 60 + 30) * 60 * 1000;

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function jwt(payload: Record<string, unknown>): string {
  return `${b64url({ alg: 'HS512', typ: 'JWT' })}.${b64url(payload)}.${Buffer.from('signature-bytes-here').toString('base64url')}`;
}

// The payload from dhan-responses.json: exp = 2026-01-01T00:00:00 IST.
const SAMPLE_PAYLOAD = {
  iss: 'dhan',
  partnerId: '',
  exp: 1767205800,
  iat: 1767119400,
  tokenConsumerType: 'SELF',
  webhookUrl: '',
  dhanClientId: '1000000401',
};
const OPAQUE = 'q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c2v3b4n5m6q7w8e9r0t1y2';

describe('decodeJwtPayload', () => {
  it('reads the payload of a JWT', () => {
    expect(decodeJwtPayload(jwt(SAMPLE_PAYLOAD))).toEqual(SAMPLE_PAYLOAD);
  });

  it('returns undefined for anything that is not a JWT with a JSON object payload', () => {
    expect(decodeJwtPayload(OPAQUE)).toBeUndefined();
    expect(decodeJwtPayload('a.b')).toBeUndefined();
    expect(decodeJwtPayload(`x.${Buffer.from('not json').toString('base64url')}.y`)).toBeUndefined();
    expect(decodeJwtPayload(`x.${b64url([1, 2])}.y`)).toBeUndefined();
    expect(decodeJwtPayload(`x.${b64url('text')}.y`)).toBeUndefined();
    expect(decodeJwtPayload('a b.c.d')).toBeUndefined();
  });
});

describe('readExpiry', () => {
  it("takes exp from the JWT and keeps Dhan's agreeing expiryTime", () => {
    const info = readExpiry({
      accessToken: jwt(SAMPLE_PAYLOAD),
      expiryTime: '2026-01-01T00:00:00.000',
      timezone: IST,
    });
    expect(info).toEqual({
      expiresAt: 1767205800_000,
      expiryTime: '2026-01-01T00:00:00.000',
      issuedAt: 1767119400_000,
      source: 'jwt',
    });
    expect(info.expiresAt - (info.issuedAt ?? 0)).toBe(86_400_000);
  });

  it('derives expiryTime from exp when Dhan sent none', () => {
    const info = readExpiry({ accessToken: jwt(SAMPLE_PAYLOAD), timezone: IST });
    expect(info.expiresAt).toBe(1767205800_000);
    expect(info.expiryTime).toBe('2026-01-01T00:00:00.000');
  });

  it('prefers exp when expiryTime disagrees by more than the tolerance (e.g. written in UTC)', () => {
    const info = readExpiry({
      accessToken: jwt(SAMPLE_PAYLOAD),
      // The same instant written as a UTC wall clock: 5.5 h off when read as IST.
      expiryTime: '2025-12-31T18:30:00.000',
      timezone: IST,
    });
    expect(info.expiresAt).toBe(1767205800_000);
    expect(info.expiryTime).toBe('2026-01-01T00:00:00.000');
  });

  it('keeps expiryTime within the tolerance (Dhan rounding), normalised', () => {
    const within = DateTime.fromMillis(1767205800_000 + EXPIRY_DISAGREEMENT_MS - 1000, { zone: IST });
    const info = readExpiry({
      accessToken: jwt(SAMPLE_PAYLOAD),
      expiryTime: within.toFormat("yyyy-MM-dd'T'HH:mm:ss"),
      timezone: IST,
    });
    expect(info.expiresAt).toBe(1767205800_000);
    expect(info.expiryTime).toBe('2026-01-01T00:04:59.000');
  });

  it("reads an opaque token's expiryTime as IST wall clock, whatever the host zone", () => {
    const info = readExpiry({ accessToken: OPAQUE, expiryTime: '2026-07-08T07:41:12.284', timezone: IST });
    expect(info.expiresAt).toBe(Date.UTC(2026, 6, 8, 7, 41, 12, 284) - IST_OFFSET_MS);
    expect(info.expiryTime).toBe('2026-07-08T07:41:12.284');
    expect(info.issuedAt).toBeUndefined();
    expect(info.source).toBe('expiryTime');
  });

  it('reads expiryTime without milliseconds and normalises it', () => {
    const info = readExpiry({ accessToken: OPAQUE, expiryTime: '2025-09-23T12:37:23', timezone: IST });
    expect(info.expiresAt).toBe(Date.UTC(2025, 8, 23, 12, 37, 23) - IST_OFFSET_MS);
    expect(info.expiryTime).toBe('2025-09-23T12:37:23.000');
  });

  it('reads a space-separated expiryTime too', () => {
    const info = readExpiry({ accessToken: OPAQUE, expiryTime: '2025-09-23 12:37:23', timezone: IST });
    expect(info.expiresAt).toBe(Date.UTC(2025, 8, 23, 12, 37, 23) - IST_OFFSET_MS);
  });

  it('honours another configured zone', () => {
    const info = readExpiry({ accessToken: OPAQUE, expiryTime: '2026-07-08T07:41:12.284', timezone: 'UTC' });
    expect(info.expiresAt).toBe(Date.UTC(2026, 6, 8, 7, 41, 12, 284));
  });

  it('says what is missing when neither source yields a time', () => {
    expect(tryReadExpiry({ accessToken: OPAQUE, timezone: IST })).toBeUndefined();
    expect(() => readExpiry({ accessToken: OPAQUE, timezone: IST })).toThrow(KeeperError);
    expect(() => readExpiry({ accessToken: OPAQUE, expiryTime: 'tomorrow', timezone: IST })).toThrow(/not a date-time/);
    // A JWT without exp falls back to expiryTime.
    const noExp = jwt({ iss: 'dhan', iat: 1767119400 });
    const info = readExpiry({ accessToken: noExp, expiryTime: '2026-01-01T00:00:00', timezone: IST });
    expect(info.expiresAt).toBe(1767205800_000);
    expect(info.issuedAt).toBe(1767119400_000);
  });

  it('round-trips any IST wall clock to the same instant (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2040, 0, 1) }), fc.boolean(), (ms, millis) => {
        const at = millis ? ms : ms - (ms % 1000);
        const text = DateTime.fromMillis(at, { zone: IST }).toFormat(
          millis ? "yyyy-MM-dd'T'HH:mm:ss.SSS" : "yyyy-MM-dd'T'HH:mm:ss",
        );
        const info = readExpiry({ accessToken: OPAQUE, expiryTime: text, timezone: IST });
        expect(info.expiresAt).toBe(at);
        // Independent check of the zone: IST has been UTC+05:30 throughout.
        const [date, time] = text.split('T') as [string, string];
        const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
        const [h, mi, s] = time.split(':').map(Number) as [number, number, number];
        expect(Date.UTC(y, mo - 1, d, h, mi, Math.floor(s), Math.round((s % 1) * 1000)) - IST_OFFSET_MS).toBe(at);
      }),
    );
  });
});

describe('parseTokenValidity', () => {
  it('reads "DD/MM/YYYY HH:mm" in the given zone', () => {
    expect(parseTokenValidity('30/03/2025 15:37', IST)).toBe(Date.UTC(2025, 2, 30, 15, 37) - IST_OFFSET_MS);
    expect(parseTokenValidity('30/03/2025 15:37:10', IST)).toBe(Date.UTC(2025, 2, 30, 15, 37, 10) - IST_OFFSET_MS);
    expect(parseTokenValidity('3/4/2025 9:05', IST)).toBe(Date.UTC(2025, 3, 3, 9, 5) - IST_OFFSET_MS);
  });

  it('returns undefined for anything else', () => {
    expect(parseTokenValidity('2025-03-30 15:37', IST)).toBeUndefined();
    expect(parseTokenValidity('31/02/2025 15:37', IST)).toBeUndefined();
    expect(parseTokenValidity('', IST)).toBeUndefined();
  });
});

describe('looksLikeToken', () => {
  it('accepts JWTs and opaque printable strings', () => {
    expect(looksLikeToken(jwt(SAMPLE_PAYLOAD))).toBe(true);
    expect(looksLikeToken(OPAQUE)).toBe(true);
    expect(looksLikeToken('a'.repeat(16))).toBe(true);
    expect(looksLikeToken('x'.repeat(4096))).toBe(true);
  });

  it('refuses placeholders, whitespace, non-ASCII and absurd lengths', () => {
    expect(looksLikeToken('<jwt>')).toBe(false);
    expect(looksLikeToken('a.b.c')).toBe(false);
    expect(looksLikeToken('a'.repeat(15))).toBe(false);
    expect(looksLikeToken('x'.repeat(4097))).toBe(false);
    expect(looksLikeToken(`${OPAQUE}\n`)).toBe(false);
    expect(looksLikeToken(`${OPAQUE.slice(0, 20)} ${OPAQUE.slice(20)}`)).toBe(false);
    expect(looksLikeToken(`${OPAQUE}é`)).toBe(false);
    expect(looksLikeToken('')).toBe(false);
  });
});
