import type { AvoidWindow, DurationOrShare } from '../config/config.js';
import type { Attention } from '../attention.js';
import type { AccountMode, TokenSource } from '../tokens.js';
import { avoidIntervalAt } from '../avoid-windows.js';

/**
 * The decision of when and how to refresh a token, as a pure function of its inputs
 * (after certmagic's renew-when-a-third-is-left): everything random or stateful is passed in, so that
 * property tests can explore it and the scheduler can re-plan at any time with the same answer.
 */

export interface PlannerPolicy {
  readonly renewBefore: DurationOrShare;
  readonly jitter: DurationOrShare;
  readonly avoid: readonly AvoidWindow[];
}

export interface PlannedToken {
  readonly obtainedAt: number;
  readonly expiresAt: number;
  readonly source: TokenSource;
  /** From `tokenKind()`: what Dhan's renewal rules depend on. */
  readonly kind: string;
}

export interface PlanInput {
  readonly now: number;
  readonly mode: AccountMode;
  /** PIN and TOTP secret are configured. */
  readonly canGenerate: boolean;
  readonly token: PlannedToken | undefined;
  /** Token kinds Dhan refused to renew: tokens of these kinds are replaced by generation. */
  readonly renewRefusedKinds: readonly string[];
  /**
   * What is stopped for a person, or null. Scope 'generation' (Dhan refused the PIN or TOTP)
   * stops generation only: renewing a live token needs neither, so renewals go on meanwhile.
   */
  readonly attention: Attention | null;
  readonly policy: PlannerPolicy;
  /** In [0, 1), fixed per token so that re-planning lands on the same moment. */
  readonly jitterFraction: number;
  /** Earliest retry after failures: backoff or a rate-limit hint. */
  readonly retryNotBefore: number | undefined;
  /** Earliest moment a generation is allowed: Dhan's minimum interval, the next TOTP step. */
  readonly generateNotBefore: number | undefined;
  /**
   * The scheduled fresh token this one still owes (`renewal.refreshAt`, already skipped when the
   * token is young enough), possibly in the past when it is overdue; undefined when none.
   */
  readonly refreshAt?: number | undefined;
}

export type RefreshMethod = 'renew' | 'generate';

export type Plan =
  /** Act now. */
  | { readonly action: RefreshMethod; readonly at: number; readonly reason: string }
  /** Nothing to do until `at`, then `then`. */
  | { readonly action: 'wait'; readonly at: number; readonly then: RefreshMethod; readonly reason: string }
  /** Automatic refresh is impossible or stopped: a person must act. */
  | { readonly action: 'attention'; readonly reason: string; readonly wayOut: string };

const IMPORT_WAY_OUT = 'import a fresh token from Dhan Web: `dhan-token-keeper import CLIENT_ID`';

/** Below this share of its lifetime a token is swapped at once, avoid windows or not. */
export const URGENT_SHARE = 0.05;
/** A swap moved out of an avoid window lands this long before the window opens (plus jitter). */
export const AVOID_MARGIN_MS = 5 * 60_000;

function amount(value: DurationOrShare, lifetimeMs: number): number {
  return value.kind === 'share' ? value.ratio * lifetimeMs : value.ms;
}

function decide(method: RefreshMethod, at: number, now: number, reason: string): Plan {
  return at <= now ? { action: method, at: now, reason } : { action: 'wait', at, then: method, reason };
}

/**
 * Moves a moment out of the avoid windows: to before the window when that is still ahead,
 * else to the window's end when the token lives comfortably past it, else leaves it (expiry forces it).
 */
function avoidWindows(
  at: number,
  now: number,
  urgentAt: number,
  shiftMs: number,
  windows: readonly AvoidWindow[],
): number {
  let candidate = at;
  for (let hop = 0; hop < 16; hop++) {
    const interval = avoidIntervalAt(candidate, windows);
    if (!interval) return candidate;
    const before = interval.start - shiftMs;
    if (before >= now) {
      candidate = before;
      continue;
    }
    if (interval.end <= urgentAt) return interval.end;
    return at;
  }
  return at;
}

export function plan(input: PlanInput): Plan {
  const { now, token, mode } = input;
  const { attention } = input;
  if (attention?.scope === 'account')
    return { action: 'attention', reason: attention.reason, wayOut: attention.wayOut };
  const generationStopped = attention?.scope === 'generation' ? attention : null;

  const live = token !== undefined && token.expiresAt > now;
  const mayGenerate = input.canGenerate && generationStopped === null;
  if (!live) {
    if (mode === 'renew-only' || !mayGenerate) {
      if (generationStopped && mode !== 'renew-only') {
        return { action: 'attention', reason: generationStopped.reason, wayOut: generationStopped.wayOut };
      }
      return {
        action: 'attention',
        reason: token
          ? 'the token expired and this account cannot generate one'
          : 'no token yet and this account cannot generate one',
        wayOut: IMPORT_WAY_OUT,
      };
    }
    const at = Math.max(now, input.retryNotBefore ?? now, input.generateNotBefore ?? now);
    return decide('generate', at, now, token ? 'the token has expired' : 'no token yet');
  }

  const renewRefused = input.renewRefusedKinds.includes(token.kind);
  let method: RefreshMethod;
  if (mode === 'generate-only') method = 'generate';
  else if (mode === 'auto' && renewRefused && input.canGenerate) method = 'generate';
  else method = 'renew';
  if (method === 'generate' && !mayGenerate) {
    if (generationStopped)
      return { action: 'attention', reason: generationStopped.reason, wayOut: generationStopped.wayOut };
    return { action: 'attention', reason: 'this account cannot generate a token', wayOut: IMPORT_WAY_OUT };
  }

  const lifetime = Math.max(1, token.expiresAt - token.obtainedAt);
  const jitter = Math.floor(Math.max(0, amount(input.policy.jitter, lifetime) * input.jitterFraction));
  const lead = Math.min(lifetime, Math.max(0, amount(input.policy.renewBefore, lifetime)));
  const urgentAt = token.expiresAt - URGENT_SHARE * lifetime;
  // Whole milliseconds: plans are stored and compared as integers.
  const target = Math.floor(Math.min(token.expiresAt - lead - jitter, urgentAt));

  // The earliest moment anything may happen: now, after a backoff or rate-limit hint, and for a
  // generation after Dhan's minimum interval. Avoid windows apply from there on too.
  const retryAt = Math.max(now, input.retryNotBefore ?? now);
  const earliest = method === 'generate' ? Math.max(retryAt, input.generateNotBefore ?? now) : retryAt;
  let at = Math.max(target, earliest);
  let reason =
    at > target && at > now
      ? earliest > retryAt
        ? 'generate as soon as Dhan allows another generation'
        : `${method} retry after a failure`
      : `${method} when ${describe(input.policy.renewBefore)} of the lifetime is left`;
  if (at >= urgentAt) {
    if (target >= earliest) reason = 'less than 5% of the lifetime is left';
  } else {
    const moved = avoidWindows(at, earliest, urgentAt, AVOID_MARGIN_MS + jitter, input.policy.avoid);
    if (moved !== at) reason = `${method} moved out of an avoid window`;
    at = moved;
  }

  // A daily fresh token (e.g. before the market opens) comes first when it is earlier; Dhan's
  // generation interval and a pending backoff still hold.
  if (input.refreshAt !== undefined && input.refreshAt < at) {
    at = Math.max(input.refreshAt, earliest);
    reason = `${method} for the scheduled fresh token (refreshAt)`;
  }

  // A renewal needs a live token: a retry pushed past expiry becomes a generation when possible.
  if (method === 'renew' && at >= token.expiresAt && mode === 'auto' && mayGenerate) {
    method = 'generate';
    at = Math.max(at, input.generateNotBefore ?? at);
    reason = 'the token will be dead by the time a retry is allowed';
  }
  return decide(method, at, now, reason);
}

function describe(value: DurationOrShare): string {
  return value.kind === 'share' ? `${Math.round(value.ratio * 100)}%` : `${Math.round(value.ms / 60_000)} min`;
}

/** A stable number in [0, 1) from a string: the jitter for one token, the same on every re-plan. */
export function stableFraction(seed: string): number {
  // FNV-1a: tiny, good enough to spread accounts; nothing security-relevant depends on it.
  let hash = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) {
    hash ^= seed.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) / 0x1_0000_0000;
}
