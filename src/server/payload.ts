import { isoInZone } from '../time-format.js';
import type { StoredToken } from '../tokens.js';
import { tokenFingerprint as fingerprint } from '../token-fingerprint.js';
import type { TokenResponseBody } from './server-api.js';

export function tokenResponseBody(token: StoredToken, zone: string): TokenResponseBody {
  return {
    clientId: token.clientId,
    accessToken: token.accessToken,
    expiresAt: isoInZone(token.expiresAt, zone),
    expiryTime: token.expiryTime,
    source: token.source,
    obtainedAt: isoInZone(token.obtainedAt, zone),
    fingerprint: fingerprint(token.accessToken),
  };
}
