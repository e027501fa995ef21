import { createHash } from 'node:crypto';

/**
 * A short, stable name for a token that is safe to log, put in history and hand to bots
 * (the token API's `after=` long-poll): 48 bits of SHA-256 cannot be turned back into the token.
 */
export function tokenFingerprint(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest('hex').slice(0, 12);
}
