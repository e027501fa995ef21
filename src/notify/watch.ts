import type { NotifyEventKind } from '../config/config.js';

/** What, if anything, an account needs a person for right now. */
export type Condition = 'attention' | 'login-needed' | 'token-dead' | null;

export interface AccountView {
  readonly attention: string | null;
  readonly loginNeeded: boolean;
  /** A token exists (live or not). */
  readonly hasToken: boolean;
  readonly live: boolean;
  /** How long the account has had a token but no live one (0 while live). */
  readonly deadForMs: number;
}

/** A token dead this long with no replacement is news; shorter is a refresh under way. */
export const DEAD_GRACE_MS = 60_000;

export function conditionOf(view: AccountView): Condition {
  if (view.attention !== null) return 'attention';
  if (view.loginNeeded) return 'login-needed';
  if (view.hasToken && !view.live && view.deadForMs >= DEAD_GRACE_MS) return 'token-dead';
  return null;
}

/**
 * The events between two looks at an account (pure, table-tested). A condition that lasts is
 * sent again each look: the notifier's repeatEvery decides whether that reaches anyone. At the
 * first look (prev undefined) nothing is "recovered", and a dead token is not yet news.
 */
export function eventsBetween(prev: Condition | undefined, next: Condition): NotifyEventKind[] {
  if (next !== null) return prev === undefined && next === 'token-dead' ? [] : [next];
  if (prev === undefined || prev === null) return [];
  return prev === 'attention' ? ['attention-lifted'] : ['recovered'];
}
