/** Tokens and the account states around them, shared by the store, the keeper, the publishers and the server. */

/**
 * Where a token came from: Dhan Web (imported), any other import, a TOTP generation, a renewal,
 * or the API-key login (consent) a person completed in a browser.
 */
export type TokenSource = 'web' | 'import' | 'totp' | 'renew' | 'consent';

/** `consent`: renew while Dhan allows, else ask a person to log in with the API key. */
export type AccountMode = 'auto' | 'renew-only' | 'generate-only' | 'consent';

/** What `status` reports for an account. */
export type AccountState = 'valid' | 'refreshing' | 'expired' | 'missing' | 'attention' | 'login-needed';

/** A token as the keeper holds it. Times are epoch milliseconds. */
export interface StoredToken {
  readonly id: number;
  readonly clientId: string;
  readonly accessToken: string;
  readonly source: TokenSource;
  readonly obtainedAt: number;
  readonly expiresAt: number;
  /** Dhan's own offset-less IST wall-clock expiry, e.g. "2026-07-08T07:41:12.284". */
  readonly expiryTime: string;
  /** Set once a newer token replaced this one or Dhan declared it dead. */
  readonly supersededAt: number | null;
}

/** What consumers receive (file sink, token API, hooks). */
export interface PublishedToken {
  readonly clientId: string;
  readonly accessToken: string;
  /** ISO 8601 with offset. */
  readonly expiresAt: string;
  /** Dhan's IST wall-clock expiry, as Dhan writes it. */
  readonly expiryTime: string;
  readonly source: TokenSource;
  /** ISO 8601 with offset. */
  readonly obtainedAt: string;
}
