import type { Attention } from '../attention.js';
import type { GenerationAttempt } from '../generation-attempt.js';
import type { AccountMode, TokenSource } from '../tokens.js';

/** What the keeper persists about an account besides its tokens. Times are epoch ms. */
export interface AccountRecord {
  readonly clientId: string;
  readonly name: string;
  readonly mode: AccountMode;
  /** What is stopped for a person, why, and the way out; null when nothing is. Safe to print. */
  readonly attention: Attention | null;
  /** Learned: Dhan refused to renew tokens of these kinds (e.g. 'consumer:APP'); generate instead. */
  readonly renewRefusedKinds: readonly string[];
  /**
   * When the last generation attempt ended (its start while it is in flight): Dhan counts its
   * window from the attempt, refused ones included. Persisted so that a restart loop cannot break
   * the rule; set back only when the request certainly never reached Dhan.
   */
  readonly lastGenerateAt: number | null;
  /**
   * The last TOTP step (epoch ms / 30 000, floored) whose code was sent to Dhan. Never rolled
   * back: Dhan refuses a reused code, and repeated refusals can get TOTP disabled, so a restart
   * must not send that code again.
   */
  readonly lastTotpStep: number | null;
  /**
   * The credential budget's record: every generation attempt since the last token, how each
   * ended (keeper/generation-budget.ts). Cleared by a new token, `reset`, or new credentials.
   */
  readonly generationAttempts: readonly GenerationAttempt[];
  readonly consecutiveFailures: number;
  readonly lastSuccessAt: number | null;
  readonly lastAttemptAt: number | null;
  /** Result of the last attempt, e.g. "renew ok" or "generate failed: rate-limited". Safe to print. */
  readonly lastResult: string | null;
  /** When the keeper plans to act next. */
  readonly nextActionAt: number | null;
}

export type AccountPatch = Partial<Omit<AccountRecord, 'clientId'>>;

export type EventKind =
  | 'generate'
  | 'renew'
  | 'probe'
  | 'import'
  | 'sink'
  | 'attention'
  | 'reset'
  | 'recover'
  | 'start'
  | 'stop'
  /** The API-key login: a consent started, finished or refused. */
  | 'consent'
  /** A consent account asked a person to log in (or stopped asking). */
  | 'login-needed'
  /** A notification to a person: sent or not. */
  | 'notify';

export type EventResult = 'pending' | 'success' | 'failure' | 'abandoned' | 'info';

/** One row of history. Never carries a secret: messages are built from safe parts only. */
export interface HistoryEvent {
  readonly id: number;
  readonly clientId: string | null;
  readonly at: number;
  readonly kind: EventKind;
  readonly result: EventResult;
  readonly errorKind: string | null;
  readonly errorCode: string | null;
  readonly message: string | null;
  readonly durationMs: number | null;
  readonly expiryBefore: number | null;
  readonly expiryAfter: number | null;
  /** e.g. the sink's name, the hook's exit code; small JSON, no secrets. */
  readonly detail: Record<string, unknown> | null;
}

export interface NewEvent {
  readonly clientId: string | null;
  readonly at: number;
  readonly kind: EventKind;
  readonly result: EventResult;
  readonly errorKind?: string | null;
  readonly errorCode?: string | null;
  readonly message?: string | null;
  readonly durationMs?: number | null;
  readonly expiryBefore?: number | null;
  readonly expiryAfter?: number | null;
  readonly detail?: Record<string, unknown> | null;
}

export interface EventOutcome {
  readonly result: Exclude<EventResult, 'pending'>;
  readonly errorKind?: string | null;
  readonly errorCode?: string | null;
  readonly message?: string | null;
  readonly durationMs?: number | null;
  readonly expiryAfter?: number | null;
  readonly detail?: Record<string, unknown> | null;
}

export interface NewToken {
  readonly clientId: string;
  readonly accessToken: string;
  readonly source: TokenSource;
  readonly obtainedAt: number;
  readonly expiresAt: number;
  readonly expiryTime: string;
}

export interface LeaseOwner {
  readonly pid: number;
  readonly host: string;
}

export interface LeaseHolder extends LeaseOwner {
  readonly acquiredAt: number;
  readonly heartbeatAt: number;
  readonly expiresAt: number;
}

/** A command (`renew`, `generate`, `import`, `reset`) handed to a running daemon. */
export type RequestAction = 'renew' | 'generate' | 'reset' | 'import' | 'consent-start' | 'consent-finish';

export interface KeeperRequest {
  readonly id: number;
  readonly clientId: string;
  readonly action: RequestAction;
  readonly createdAt: number;
  /** For import: the token and its metadata as JSON. Set to null in the same transaction that takes the request. */
  readonly payload: string | null;
  readonly status: 'queued' | 'taken' | 'done' | 'failed';
  readonly result: string | null;
}
