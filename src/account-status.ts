import type { Attention } from './attention.js';
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
  /** The next `renewal.refreshAt` moment this token will be refreshed at (skips already applied). */
  readonly nextRefreshAt: string | null;
  /** What is stopped and the way out, as one line; null when nothing is. */
  readonly attention: string | null;
  /** 'generation': only generation is stopped (renewals go on); 'account': everything is. */
  readonly attentionScope: Attention['scope'] | null;
  /** Consent accounts only: why a person must log in with the API key, or null. */
  readonly loginNeeded?: string | null;
  readonly consecutiveFailures: number;
  /**
   * Several keepers on PostgreSQL only: the keeper that acts on Dhan for every account (null:
   * none leads now). Absent for a lone keeper on SQLite.
   */
  readonly leader?: LeaderView | null;
}

/** Which keeper leads, safe to show anyone who may see status: no address, no secret. */
export interface LeaderView {
  readonly host: string;
  readonly pid: number;
  /** When it took over, ISO 8601 in the trader's zone. */
  readonly since: string;
}
