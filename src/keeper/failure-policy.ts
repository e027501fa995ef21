import type { GenerationStopCause } from '../attention.js';
import type { DhanEndpoint, DhanErrorKind } from '../dhan/dhan-api.js';
import type { GenerationAttempt } from '../generation-attempt.js';
import type { AccountMode } from '../tokens.js';
import {
  budgetVerdict,
  COUNTED_REFUSALS_TO_STOP,
  nextGenerationAt,
  type GenerationTiming,
} from './generation-budget.js';

/**
 * What the keeper does after Dhan says no, as one pure function (like the planner): the account
 * worker gathers the facts, asks `decideAfterFailure`, and carries the answer out. The rule it
 * encodes: no single answer from Dhan stops an account while another safe route to a live token
 * exists. Dhan's answers are underdocumented and change (DH-905 is both "bad input" and "this
 * kind of token cannot be renewed", under HTTP 400 or 500), so a refusal is first checked
 * against the token's real state with the profile call, and a stop is kept for what retrying
 * would make worse (the credential budget spent, generation-budget.ts) or what only a person can
 * fix, confirmed over time.
 */

/** The HTTP status of the answer, by class; 'none' when no answer arrived (network, timeout). */
export type StatusClass = '2xx' | '4xx' | '5xx' | 'none';

/** What the profile call said about the token the failed call carried. */
export type ProfileVerdict = 'not-asked' | 'live' | 'dead' | 'unknown';

export interface FailureFacts {
  readonly endpoint: DhanEndpoint;
  readonly kind: DhanErrorKind;
  readonly status: StatusClass;
  readonly dhanCode: string | undefined;
  /** A renewal whose answer was lost or came without a token: the old token may be dead already. */
  readonly oldTokenMayBeDead: boolean;
  /** Dhan's own hint on a rate limit. */
  readonly retryAfterMs: number | undefined;
  readonly verdict: ProfileVerdict;
  readonly mode: AccountMode;
  /** PIN and TOTP secret are configured and generation is not stopped for refused credentials. */
  readonly canGenerate: boolean;
  /** The account holds a token that has not expired (the one a profile check would ask about). */
  readonly hasLiveToken: boolean;
  /** Dhan already refused to renew a token of this kind (learned earlier, kept in the store). */
  readonly kindKnownNotRenewable: boolean;
  /** Answers like this one in a row, this one included, and when the first of them came. */
  readonly similar: { readonly count: number; readonly firstAt: number };
  /** The credential budget's record (the failed attempt included, ended) and Dhan's pace; read on generation only. */
  readonly generation: {
    readonly lastGenerateAt: number | null;
    readonly attempts: readonly GenerationAttempt[];
    readonly timing: GenerationTiming;
  };
  readonly now: number;
}

export type FailureDecision =
  /** Try the same thing again after Dhan's hint (ms), the backoff schedule, or the generation budget's pace. */
  | { readonly action: 'retry'; readonly after: number | 'backoff'; readonly reason: string }
  /** Ask `/v2/profile` about the token, then decide again with the verdict. */
  | { readonly action: 'check-token'; readonly reason: string }
  /** The token is live but Dhan will not renew its kind: remember that and generate now. */
  | { readonly action: 'learn-not-renewable-and-generate'; readonly reason: string }
  /** The token is dead: mark it so, and the planner generates (or asks for an import) at once. */
  | { readonly action: 'token-dead'; readonly reason: string }
  /** A failed profile check that changes nothing: the next probe asks again. */
  | { readonly action: 'carry-on'; readonly reason: string }
  /** The credential budget is spent: stop generation only; renewals of a live token go on. */
  | {
      readonly action: 'stop-generation';
      readonly cause: GenerationStopCause;
      readonly reason: string;
      readonly wayOut: string;
    }
  /** Only a person can help, and Dhan has said so for long enough to be sure. */
  | { readonly action: 'stop-account'; readonly reason: string; readonly wayOut: string }
  /** The token cannot be renewed and this account cannot generate: a person imports one. */
  | { readonly action: 'ask-import'; readonly reason: string; readonly wayOut: string }
  /**
   * A consent account's live token whose kind Dhan will not renew: remember the kind; the plan
   * asks a person to log in with the API key before it expires. A login request, not a stop:
   * the token keeps serving bots meanwhile.
   */
  | { readonly action: 'ask-login'; readonly reason: string; readonly wayOut: string };

export type FailureAction = FailureDecision['action'];

/** The decisions that stop something until a person acts. */
export const STOPS: readonly FailureAction[] = ['stop-generation', 'stop-account', 'ask-import'];

/**
 * DH-902/903 stop an account only when Dhan keeps saying so for this long: a lapsed subscription
 * once made fresh tokens look rejected, and one answer is not proof of anything.
 */
export const ACCESS_DENIED_CONFIRM_MS = 10 * 60_000;

export const WAY_OUT = {
  credentials:
    'fix the PIN or TOTP secret in the config (or enable TOTP on Dhan, sync this clock) and restart, or run `dhan-token-keeper reset CLIENT_ID`',
  access:
    'fix the account on Dhan (Data/Trading API subscription, segments), then run `dhan-token-keeper reset CLIENT_ID`',
  import: 'import a fresh token from Dhan Web: `dhan-token-keeper import CLIENT_ID`',
  login: 'log in with the API key: `dhan-token-keeper login CLIENT_ID`',
} as const;

export function statusClass(httpStatus: number | undefined): StatusClass {
  if (httpStatus === undefined) return 'none';
  if (httpStatus >= 500) return '5xx';
  if (httpStatus >= 400) return '4xx';
  return '2xx';
}

/**
 * Which earlier answers count as "similar" for the repetition rule of DH-902/903: refusals of
 * access whatever the endpoint, else the same endpoint and kind. Generation keeps no streak: its
 * stops come from the durable credential budget, which no answer resets.
 */
export function similarityKey(endpoint: DhanEndpoint, kind: DhanErrorKind): string {
  if (kind === 'access-denied') return 'access-denied';
  return `${endpoint}:${kind}`;
}

export function decideAfterFailure(f: FailureFacts): FailureDecision {
  if (f.endpoint === 'profile') return afterProfile(f);
  if (f.endpoint === 'generate') return afterGeneration(f);
  if (f.kind === 'rate-limited') {
    return { action: 'retry', after: f.retryAfterMs ?? 'backoff', reason: 'Dhan asked us to slow down' };
  }
  if (f.kind === 'access-denied') return afterAccessDenied(f);
  return afterRenewal(f);
}

function afterProfile(f: FailureFacts): FailureDecision {
  if (f.kind === 'token-invalid') return { action: 'token-dead', reason: 'Dhan no longer accepts the token' };
  return { action: 'carry-on', reason: 'the profile check failed; the token is kept until a check says otherwise' };
}

/** DH-902/903: not a token problem. Confirmed over time before anyone is asked to act. */
function afterAccessDenied(f: FailureFacts, retryAfter: number | 'backoff' = 'backoff'): FailureDecision {
  if (f.hasLiveToken && f.verdict === 'not-asked') {
    return {
      action: 'check-token',
      reason: `Dhan denied access (${f.dhanCode ?? 'no code'}): is the token itself still accepted?`,
    };
  }
  if (f.verdict === 'dead')
    return { action: 'token-dead', reason: 'the token is dead; a fresh one may be all that was missing' };
  if (f.similar.count >= 2 && f.now - f.similar.firstAt >= ACCESS_DENIED_CONFIRM_MS) {
    return {
      action: 'stop-account',
      reason: `Dhan has denied access (${f.dhanCode ?? 'DH-902/903'}) for ${Math.round((f.now - f.similar.firstAt) / 60_000)} min: the account or its API subscription needs a person`,
      wayOut: WAY_OUT.access,
    };
  }
  return { action: 'retry', after: retryAfter, reason: 'Dhan denied access; retrying until it has said so for 10 min' };
}

function afterRenewal(f: FailureFacts): FailureDecision {
  if (f.kind === 'transient' && !f.oldTokenMayBeDead) {
    return {
      action: 'retry',
      after: 'backoff',
      reason: "the renewal failed on the way or on Dhan's side; likely temporary",
    };
  }
  if (f.kind === 'renew-refused' && f.kindKnownNotRenewable && f.verdict === 'not-asked' && generates(f)) {
    return {
      action: 'learn-not-renewable-and-generate',
      reason: 'Dhan refused again to renew a kind of token it never renews',
    };
  }
  switch (f.verdict) {
    case 'not-asked':
      return {
        action: 'check-token',
        reason: f.oldTokenMayBeDead
          ? 'the renewal may have happened without us seeing the new token: is the old one alive?'
          : 'Dhan refused the renewal: is the token dead, or is this kind of token just not renewable?',
      };
    case 'dead':
      return { action: 'token-dead', reason: 'the renewal failed and the token is dead' };
    case 'unknown':
      return {
        action: 'retry',
        after: 'backoff',
        reason: 'the renewal failed and the profile check could not tell whether the token lives',
      };
    case 'live':
      if (f.kind === 'transient') {
        return {
          action: 'retry',
          after: 'backoff',
          reason: "the renewal's answer was lost but the token is still live",
        };
      }
      return refusedButLive(f);
  }
}

/** The token works, Dhan just will not renew it: find another way to a fresh one. */
function refusedButLive(f: FailureFacts): FailureDecision {
  const reason = 'Dhan refused to renew a token that is still live: this kind of token is not renewable';
  switch (f.mode) {
    case 'auto':
    case 'generate-only':
      if (f.canGenerate) return { action: 'learn-not-renewable-and-generate', reason: `${reason}; generating instead` };
      return { action: 'ask-import', reason: `${reason}, and generation is not possible`, wayOut: WAY_OUT.import };
    case 'renew-only':
      return { action: 'ask-import', reason: `${reason} (renew-only account)`, wayOut: WAY_OUT.import };
    case 'consent':
      // Not a stop while the token lives: the worker remembers the kind, and the plan asks a
      // person to log in with the API key `consent.askBefore` ahead of expiry.
      return { action: 'ask-login', reason: `${reason} (consent account)`, wayOut: WAY_OUT.login };
  }
}

function generates(f: FailureFacts): boolean {
  // A consent account's tokens come from a person's login, never from generation.
  return (f.mode === 'auto' || f.mode === 'generate-only') && f.canGenerate;
}

/**
 * Generation: the credential budget decides whether another attempt may ever be sent, and its pace
 * when. Nothing here depends on the streak of similar answers or on the wording: a rate-limit
 * answer between two refusals neither counts nor resets the count (generation-budget.ts).
 */
function afterGeneration(f: FailureFacts): FailureDecision {
  const { attempts, timing, lastGenerateAt } = f.generation;
  const budget = budgetVerdict(attempts, f.now);
  if (budget.spent) {
    return { action: 'stop-generation', cause: budget.cause, reason: budget.reason, wayOut: WAY_OUT.credentials };
  }
  const wait = Math.max(0, (nextGenerationAt(lastGenerateAt, attempts, timing) ?? f.now) - f.now);
  if (f.kind === 'access-denied') return afterAccessDenied(f, wait);
  if (f.kind === 'rate-limited') {
    return {
      action: 'retry',
      after: wait,
      reason: "Dhan's generation window is not over: waiting it out, plus the margin",
    };
  }
  const last = attempts.at(-1)?.outcome;
  if (last === 'credentials-refused') {
    // Dhan's wording for a wrong PIN or TOTP is undocumented and the code may have sat on a step
    // edge: one more try on a fresh step once the refused attempt's window is over, never a loop.
    return {
      action: 'retry',
      after: wait,
      reason: `Dhan refused the generation (${budget.counted} of ${COUNTED_REFUSALS_TO_STOP}); one more try with a fresh TOTP code after the generation interval`,
    };
  }
  return {
    action: 'retry',
    after: wait,
    reason:
      "the generation failed on the way or on Dhan's side; retrying at a pace that slows down to one attempt per 30 min",
  };
}
