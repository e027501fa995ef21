import { decodeJwtPayload, formatExpiryTime, looksLikeToken, readExpiry } from '../dhan/expiry.js';
import { KeeperError, UsageError } from '../errors.js';
import type { TokenSource } from '../tokens.js';

/** A token a person brought (Dhan Web, API-key consent), checked and with its expiry read. */
export interface ImportedToken {
  readonly accessToken: string;
  readonly source: TokenSource;
  readonly expiresAt: number;
  readonly expiryTime: string;
}

export interface ImportInput {
  readonly clientId: string;
  readonly rawToken: string;
  readonly source: TokenSource;
  /** Dhan's IST `expiryTime`, needed only for opaque (non-JWT) tokens. */
  readonly expiryTime: string | undefined;
  /** From /v2/profile's tokenValidity, when the caller verified the token first. */
  readonly verifiedValidUntil: number | undefined;
  readonly timezone: string;
  readonly now: number;
}

/**
 * Checks the shape (never echoing the token back in a message), that a JWT belongs to this
 * client, and reads the expiry the same way tokens from Dhan are read.
 */
export function prepareImport(input: ImportInput): ImportedToken {
  const accessToken = input.rawToken.trim();
  if (!looksLikeToken(accessToken)) {
    throw new UsageError(
      `that does not look like a Dhan access token (${accessToken.length} characters); paste the token alone, without quotes or "Bearer"`,
    );
  }
  const payload = decodeJwtPayload(accessToken);
  const owner = payload && typeof payload['dhanClientId'] === 'string' ? payload['dhanClientId'] : undefined;
  if (owner !== undefined && owner !== input.clientId) {
    throw new UsageError(`this token belongs to client ${owner}, not ${input.clientId}`);
  }
  let expiresAt: number;
  let expiryTime: string;
  if (payload || input.expiryTime !== undefined) {
    const expiry = readExpiry({ accessToken, expiryTime: input.expiryTime, timezone: input.timezone });
    expiresAt = expiry.expiresAt;
    expiryTime = expiry.expiryTime;
  } else if (input.verifiedValidUntil !== undefined) {
    expiresAt = input.verifiedValidUntil;
    expiryTime = formatExpiryTime(expiresAt, input.timezone);
  } else {
    throw new UsageError('this token is not a JWT, so its expiry cannot be read from it', {
      hint: 'pass --expiry-time "2026-07-08T07:41:12" (IST, as Dhan shows it) or --verify to ask Dhan',
    });
  }
  if (expiresAt <= input.now) {
    throw new KeeperError(
      'token-expired',
      `this token expired at ${new Date(expiresAt).toISOString()}; get a fresh one from Dhan Web`,
    );
  }
  return { accessToken, source: input.source, expiresAt, expiryTime };
}
