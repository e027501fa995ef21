import type { AccountMode, AccountState, TokenSource } from './tokens.js';

/*
 * The status shape lives below both the keeper, which computes it (keeper/status.ts), and the
 * server, which serves it: the server never imports the keeper (docs/architecture.md, "Layers").
 */

/** What `status --json`, `GET /v1/status` and the readiness check report. Never a token. */
export interface AccountStatus {
  readonly clientId: string;
  readonly name: string;
  readonly mode: AccountMode;
  readonly state: AccountState;
  readonly expiresAt: string | null;
  readonly secondsLeft: number | null;
  readonly source: TokenSource | null;
  readonly obtainedAt: string | null;
  readonly lastResult: string | null;
  readonly nextActionAt: string | null;
  readonly attention: string | null;
  readonly consecutiveFailures: number;
}
