import { createHash } from 'node:crypto';

/*
 * A constant salt is enough: it only keeps this hash apart from any other sha256 over the
 * same strings. What keeps the PIN unrecoverable is the TOTP secret hashed with it (at
 * least 80 bits, checked by the config), so a 6-digit PIN is never hashed on its own.
 */
const SALT = 'dhan-token-keeper/credentials/v1';

/** Changes whenever the credentials in the config change; safe to store and to log. */
export function credentialsFingerprint(
  clientId: string,
  pin: string | undefined,
  totpSecret: string | undefined,
): string {
  // Without a TOTP secret the PIN is useless to the keeper and would be guessable from the hash.
  const hashedPin = totpSecret === undefined ? '' : (pin ?? '');
  return createHash('sha256')
    .update([SALT, clientId, hashedPin, totpSecret ?? ''].join('\0'))
    .digest('hex')
    .slice(0, 16);
}
