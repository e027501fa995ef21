import type { TokenSource } from '../tokens.js';

/** The token API's answer. Mirrors the server's TokenResponseBody; kept apart so bots depend on the wire shape only. */
export interface TokenInfo {
  readonly clientId: string;
  /** Secret: send it as Dhan's access-token header, never log it. */
  readonly accessToken: string;
  /** ISO 8601 with offset. */
  readonly expiresAt: string;
  /** Dhan's IST wall-clock expiry, as Dhan writes it. */
  readonly expiryTime: string;
  readonly source: TokenSource;
  /** ISO 8601 with offset. */
  readonly obtainedAt: string;
  /** Changes with every new token; safe to log. */
  readonly fingerprint: string;
}

const FIELDS = ['clientId', 'accessToken', 'expiresAt', 'expiryTime', 'source', 'obtainedAt', 'fingerprint'] as const;

/** Undefined when `value` is not a token answer (e.g. a proxy's HTML page parsed by mistake). */
export function asTokenInfo(value: unknown): TokenInfo | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  for (const field of FIELDS) {
    if (typeof record[field] !== 'string' || record[field] === '') return undefined;
  }
  // Checked field by field just above.
  const checked = record as Record<(typeof FIELDS)[number], string>;
  return {
    clientId: checked.clientId,
    accessToken: checked.accessToken,
    expiresAt: checked.expiresAt,
    expiryTime: checked.expiryTime,
    // Not checked against today's list: a newer keeper may add a source, and that must not break older bots.
    source: checked.source as TokenSource,
    obtainedAt: checked.obtainedAt,
    fingerprint: checked.fingerprint,
  };
}
