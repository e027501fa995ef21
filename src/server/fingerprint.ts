import { createHash } from 'node:crypto';

/*
 * Lives here until src/publish/payload.ts exports one; both must agree, since consumers
 * compare fingerprints from the file sink with those of the token API.
 * 48 bits tell two tokens of one account apart and reveal nothing usable about either.
 */
export function fingerprint(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest('hex').slice(0, 12);
}
