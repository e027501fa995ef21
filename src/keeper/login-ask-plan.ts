import type { AvoidWindow } from '../config/config.js';
import { avoidIntervalAt } from '../avoid-windows.js';
import { AVOID_MARGIN_MS } from './planner.js';

/**
 * When a consent account (mode consent) needs a person: a pure function of its token and policy,
 * beside the planner rather than in it, since only these accounts ever ask.
 */
export interface AskInput {
  readonly now: number;
  /** The current token, live or not; undefined when there is none. */
  readonly token: { readonly expiresAt: number } | undefined;
  /** Dhan refused to renew this kind of token (learned), so it dies unless a person logs in. */
  readonly renewRefused: boolean;
  readonly askBeforeMs: number;
  readonly avoid: readonly AvoidWindow[];
  /**
   * The scheduled fresh token this one still owes (`renewal.refreshAt`, skips applied; never in
   * an avoid window): a token Dhan will not renew is replaced then by asking for a login.
   */
  readonly refreshAt?: number | undefined;
}

export type AskPlan =
  /** Renewal keeps the token alive: nothing to ask. */
  | { readonly ask: 'no' }
  /** Ask at `at` (not yet). */
  | { readonly ask: 'later'; readonly at: number; readonly reason: string }
  /** Ask now. `deadline` is when the token dies (null: there is no live token). */
  | { readonly ask: 'now'; readonly deadline: number | null; readonly reason: string };

export function askPlan(input: AskInput): AskPlan {
  const { now, token } = input;
  if (!token || token.expiresAt <= now) {
    return {
      ask: 'now',
      deadline: null,
      reason: token ? 'the token has expired: log in with the API key' : 'no token yet: log in with the API key',
    };
  }
  if (!input.renewRefused) return { ask: 'no' };
  const due = token.expiresAt - input.askBeforeMs;
  const beforeExpiry = outOfAvoidWindows(due, now, input.avoid);
  const scheduled = input.refreshAt !== undefined && input.refreshAt < beforeExpiry;
  const at = scheduled ? Math.max(now, input.refreshAt) : beforeExpiry;
  const reason = scheduled
    ? `a fresh token is scheduled (renewal.refreshAt) and Dhan does not renew this one: log in with the API key`
    : `Dhan does not renew this token and it expires at ${new Date(token.expiresAt).toISOString()}: log in with the API key`;
  return at <= now ? { ask: 'now', deadline: token.expiresAt, reason } : { ask: 'later', at, reason };
}

/**
 * A person should not be asked in the middle of the market: a request that falls in an avoid
 * window moves to before the window opens, when that is still ahead; otherwise it stays (the
 * token's expiry does not wait).
 */
function outOfAvoidWindows(at: number, now: number, windows: readonly AvoidWindow[]): number {
  let candidate = at;
  for (let hop = 0; hop < 16; hop++) {
    const interval = avoidIntervalAt(candidate, windows);
    if (!interval) return candidate;
    const before = interval.start - AVOID_MARGIN_MS;
    if (before < now) return Math.max(now, at);
    candidate = before;
  }
  return at;
}
