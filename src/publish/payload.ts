import { tokenFingerprint as fingerprint } from '../token-fingerprint.js';
import { isoInZone } from '../time-format.js';
import type { PublishedToken, StoredToken, TokenSource } from '../tokens.js';

/**
 * What every consumer receives. Fields are picked one by one (never spread) so that a field
 * added to StoredToken later does not leak to consumers by accident.
 */
export function toPublished(token: StoredToken, timezone: string): PublishedToken {
  return {
    clientId: token.clientId,
    accessToken: token.accessToken,
    expiresAt: isoInZone(token.expiresAt, timezone),
    expiryTime: token.expiryTime,
    source: token.source,
    obtainedAt: isoInZone(token.obtainedAt, timezone),
  };
}

export { tokenFingerprint as fingerprint } from '../token-fingerprint.js';

/** A webhook body for receivers that fetch the token themselves (from the token API). */
export interface TokenNotice {
  readonly clientId: string;
  readonly event: 'token-changed';
  readonly expiresAt: string;
  readonly expiryTime: string;
  readonly source: TokenSource;
  readonly obtainedAt: string;
  readonly fingerprint: string;
}

export function toNotice(published: PublishedToken): TokenNotice {
  return {
    clientId: published.clientId,
    event: 'token-changed',
    expiresAt: published.expiresAt,
    expiryTime: published.expiryTime,
    source: published.source,
    obtainedAt: published.obtainedAt,
    fingerprint: fingerprint(published.accessToken),
  };
}
