import { DateTime, inZone } from '../luxon.js';
import { KeeperError } from '../errors.js';
import { memoText } from '../memo-text.js';

/** How Dhan writes `expiryTime`, and how we store it: IST wall clock, no offset. */
export const EXPIRY_TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSS";

/**
 * When the JWT's `exp` and Dhan's `expiryTime` disagree by more than this, one of them is wrong.
 * Half an hour would hide a wrong-zone reading (which is off by hours); seconds would trip on
 * Dhan rounding its text.
 */
export const EXPIRY_DISAGREEMENT_MS = 5 * 60 * 1000;

export interface ExpiryInput {
  readonly accessToken: string;
  /** Dhan's offset-less wall-clock expiry, when the response had one. */
  readonly expiryTime?: string | undefined;
  /** Zone of that wall clock (Asia/Kolkata). */
  readonly timezone: string;
}

export interface ExpiryInfo {
  /** Epoch ms. */
  readonly expiresAt: number;
  /** Wall clock in `timezone`, "yyyy-MM-ddTHH:mm:ss.SSS". */
  readonly expiryTime: string;
  /** Epoch ms, from the JWT's `iat`. */
  readonly issuedAt: number | undefined;
  /** Which source `expiresAt` came from. */
  readonly source: 'jwt' | 'expiryTime';
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const MAX_JWT_CHARS = 8192;

/** The payload of a JWT, without verifying it (we only read times Dhan signed for us). */
export function decodeJwtPayload(token: string): Record<string, unknown> | undefined {
  if (token.length > MAX_JWT_CHARS || !JWT_SHAPE.test(token)) return undefined;
  const middle = token.split('.')[1];
  if (middle === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(middle, 'base64url').toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
    return parsed as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** A JWT NumericDate (seconds) as epoch ms; undefined when absent or absurd. */
function numericDateMs(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) return undefined;
  // Seconds are the standard; a value this large can only be milliseconds written by mistake.
  return n > 1e11 ? Math.round(n) : Math.round(n * 1000);
}

/**
 * Dhan's offset-less wall clock read in `zone`, with or without milliseconds. Never through
 * `new Date(s)`: that reads it in the host's zone, and a UTC server would add 5.5 h of life.
 */
export function parseExpiryTime(expiryTime: string, zone: string): number | undefined {
  const text = expiryTime.trim();
  if (text === '') return undefined;
  let dt = DateTime.fromISO(text, inZone(zone));
  // Some clients see "2025-09-23 12:37:23": the same wall clock with a space.
  if (!dt.isValid) dt = DateTime.fromSQL(text, inZone(zone));
  return dt.isValid ? dt.toMillis() : undefined;
}

export function formatExpiryTime(epochMs: number, zone: string): string {
  return DateTime.fromMillis(epochMs, inZone(zone)).toFormat(EXPIRY_TIME_FORMAT);
}

/**
 * The token's expiry. The JWT's `exp` wins whenever the token decodes: it is an absolute instant
 * Dhan signed, while `expiryTime` is zone-less text whose zone is our assumption.
 * Returns undefined when neither source yields a time.
 */
export function tryReadExpiry(input: ExpiryInput): ExpiryInfo | undefined {
  const payload = decodeJwtPayload(input.accessToken);
  const exp = numericDateMs(payload?.['exp']);
  const issuedAt = numericDateMs(payload?.['iat']);
  const fromText = input.expiryTime === undefined ? undefined : parseExpiryTime(input.expiryTime, input.timezone);

  if (exp !== undefined) {
    // Within the tolerance the two agree and Dhan's own text is kept (normalised); beyond it, one
    // is wrong, and a wrong zone on the text is the failure we know of, so exp decides both fields
    // and they stay consistent with each other.
    const textAgrees = fromText !== undefined && Math.abs(fromText - exp) <= EXPIRY_DISAGREEMENT_MS;
    return {
      expiresAt: exp,
      expiryTime: formatExpiryTime(textAgrees ? fromText : exp, input.timezone),
      issuedAt,
      source: 'jwt',
    };
  }
  if (fromText !== undefined) {
    return {
      expiresAt: fromText,
      expiryTime: formatExpiryTime(fromText, input.timezone),
      issuedAt,
      source: 'expiryTime',
    };
  }
  return undefined;
}

/** Like `tryReadExpiry`, but says what is missing when there is no expiry to read. */
export function readExpiry(input: ExpiryInput): ExpiryInfo {
  const info = tryReadExpiry(input);
  if (info) return info;
  const why =
    input.expiryTime === undefined
      ? 'the token is not a JWT with an exp claim and no expiryTime was given'
      : `the token is not a JWT with an exp claim and expiryTime "${input.expiryTime.slice(0, 40)}" is not a date-time`;
  throw new KeeperError('token-expiry-unknown', `cannot tell when the token expires: ${why}`, {
    hint: 'give the expiry time Dhan showed with the token',
  });
}

/** Profile's `tokenValidity` ("30/03/2025 15:37", IST) as epoch ms. */
export function parseTokenValidity(text: string, zone: string): number | undefined {
  return memoTokenValidity(`${zone} ${text.trim()}`);
}

// Each token's text repeats on every probe, and tokens renewed in the same minute share it.
const memoTokenValidity = memoText((zoneAndText: string): number | undefined => {
  const space = zoneAndText.indexOf(' ');
  const zone = zoneAndText.slice(0, space);
  const text = zoneAndText.slice(space + 1);
  for (const format of ['d/M/yyyy H:mm', 'd/M/yyyy H:mm:ss']) {
    const dt = DateTime.fromFormat(text, format, inZone(zone));
    if (dt.isValid) return dt.toMillis();
  }
  return undefined;
}, 4096);

const PRINTABLE_NO_SPACE = /^[\x21-\x7e]+$/;
export const MIN_OPAQUE_TOKEN_CHARS = 16;
export const MAX_OPAQUE_TOKEN_CHARS = 4096;

/**
 * Whether a string can be an access token: a JWT's three base64url parts, or an opaque printable
 * ASCII string without whitespace. Used on Dhan's answers and on tokens users import, so that a
 * placeholder, an error page or a pasted line with a newline inside is never stored as a token.
 */
export function looksLikeToken(s: string): boolean {
  // No real JWT is this short either; the floor keeps "a.b.c" out.
  if (s.length < MIN_OPAQUE_TOKEN_CHARS) return false;
  if (s.length <= MAX_JWT_CHARS && JWT_SHAPE.test(s)) return true;
  return s.length <= MAX_OPAQUE_TOKEN_CHARS && PRINTABLE_NO_SPACE.test(s);
}
