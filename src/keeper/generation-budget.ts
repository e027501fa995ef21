import type { GenerationStopCause } from '../attention.js';
import type { DhanErrorKind } from '../dhan/dhan-api.js';
import type { AttemptOutcome, GenerationAttempt } from '../generation-attempt.js';

/**
 * The credential budget (docs/failure-policy.md, "The credential budget"), as pure functions of
 * the account's durable record of generation attempts since its last token. Dhan disables TOTP on
 * accounts that keep sending refused credentials, and its answers are under-documented, so the
 * stop must not rest on reading each answer right: answers are sorted by what they are (HTTP
 * status, a token or not) rather than their wording, no answer takes a count back, and a
 * backstop bounds what any misreading can cost.
 */

/** Counted refusals since the last token that stop generation (the second try may sit on a fresh TOTP step). */
export const COUNTED_REFUSALS_TO_STOP = 2;
/** Attempts Dhan answered without a token, whatever the wording, that stop generation within a rolling day. */
export const BACKSTOP_ANSWERS = 6;
export const BACKSTOP_WINDOW_MS = 24 * 3_600_000;
/** Repeated server failures slow generation down to this pace, never to a stop. */
export const SLOWEST_RETRY_MS = 30 * 60_000;

export interface GenerationTiming {
  /** Dhan's window between two generations (`dhan.minGenerateInterval`). */
  readonly intervalMs: number;
  /** Added to every wait (`dhan.generateMargin`): Dhan counts its window from when it processed the call. */
  readonly marginMs: number;
  /** How long an attempt with no recorded end may have gone on at Dhan: its call's timeout. */
  readonly callTimeoutMs: number;
}

/** What the budget needs to know of a failed generation call. */
export interface AttemptAnswer {
  readonly kind: DhanErrorKind;
  readonly httpStatus: number | undefined;
  readonly dhanCode: string | undefined;
  /** The request may have reached Dhan (false only when it certainly never left). */
  readonly maybeProcessed: boolean;
}

/**
 * How a failed attempt ended, from the answer's nature rather than its wording; 'not-sent' when
 * the request certainly never reached Dhan (it spends nothing at Dhan and is not recorded).
 */
export function attemptOutcome(a: AttemptAnswer): Exclude<AttemptOutcome, 'pending'> | 'not-sent' {
  const status = a.httpStatus;
  // Only a transport failure the client classified as never sent is sure not to have reached Dhan.
  if (status === undefined) return a.kind === 'transient' && !a.maybeProcessed ? 'not-sent' : 'no-answer';
  if (a.kind === 'rate-limited' || status === 429) return 'rate-limited';
  if (status === 408) return 'server-failure';
  if (a.kind === 'access-denied') return 'other-refusal';
  if (status >= 300 && status < 400) return 'other-refusal';
  // A 5xx is Dhan's own trouble unless it carries a code that refuses the request (DH-901, DH-905, …).
  if (status >= 500)
    return a.dhanCode !== undefined && a.kind !== 'transient' ? 'credentials-refused' : 'server-failure';
  // A 2xx that could not be read may have carried a token: not a judgement on the credentials.
  if (a.kind === 'transient') return 'server-failure';
  // Everything else Dhan answered, in any wording or shape, without a token.
  return 'credentials-refused';
}

/** Dhan answered the attempt, and not with a token: what the backstop counts. */
export function answeredWithoutToken(outcome: AttemptOutcome): boolean {
  return outcome === 'credentials-refused' || outcome === 'rate-limited' || outcome === 'other-refusal';
}

export type BudgetVerdict =
  | {
      readonly spent: false;
      /** Counted refusals since the last token. */
      readonly counted: number;
      /** Attempts answered without a token in the last 24 h. */
      readonly answered: number;
    }
  | { readonly spent: true; readonly cause: GenerationStopCause; readonly reason: string };

/** Whether the record still allows a generation attempt. Checked after every attempt and before every send. */
export function budgetVerdict(attempts: readonly GenerationAttempt[], now: number): BudgetVerdict {
  const refusals = attempts.filter((a) => a.outcome === 'credentials-refused');
  const answered = attempts.filter((a) => answeredWithoutToken(a.outcome) && a.at > now - BACKSTOP_WINDOW_MS);
  if (refusals.length >= COUNTED_REFUSALS_TO_STOP) {
    return {
      spent: true,
      cause: 'credentials-refused',
      reason: `Dhan refused token generation ${refusals.length} times since the last token (last answer: ${quote(refusals.at(-1))})`,
    };
  }
  if (answered.length >= BACKSTOP_ANSWERS) {
    return {
      spent: true,
      cause: 'budget-spent',
      reason:
        `Dhan answered ${answered.length} token generations in 24 h without a token (last answer: ${quote(answered.at(-1))}); ` +
        'generation stops before more attempts can get TOTP disabled on the account',
    };
  }
  return { spent: false, counted: refusals.length, answered: answered.length };
}

function quote(attempt: GenerationAttempt | undefined): string {
  return attempt?.answer ?? 'not recorded';
}

/** When an attempt ended, or the latest it may have ended when its end was never recorded. */
export function attemptEnd(attempt: GenerationAttempt, timing: GenerationTiming): number {
  return attempt.endedAt ?? attempt.at + timing.callTimeoutMs;
}

/**
 * The earliest moment the next generation may be sent. Every attempt may have re-armed Dhan's
 * window, which Dhan counts from when it processed the call, so each wait runs from the
 * attempt's end and carries the margin: the interval after any answer, Dhan's own hint after a
 * rate limit, and a pace that doubles up to one attempt per 30 min while Dhan fails or does not
 * answer. Undefined when the account never generated.
 */
export function nextGenerationAt(
  lastGenerateAt: number | null,
  attempts: readonly GenerationAttempt[],
  timing: GenerationTiming,
): number | undefined {
  const base = timing.intervalMs + timing.marginMs;
  const last = attempts.at(-1);
  const fromLast = lastGenerateAt === null ? undefined : lastGenerateAt + base;
  if (last === undefined) return fromLast;
  const end = attemptEnd(last, timing);
  let wait = base;
  if (last.outcome === 'rate-limited') {
    wait = Math.max(timing.intervalMs, last.retryAfterMs ?? 0) + timing.marginMs;
  } else if (slowsDown(last.outcome)) {
    let run = 0;
    for (let i = attempts.length - 1; i >= 0 && slowsDown(attempts[i]!.outcome); i--) run++;
    wait = Math.max(base, Math.min(SLOWEST_RETRY_MS, base * 2 ** Math.min(run - 1, 20)));
  }
  return Math.max(end + wait, fromLast ?? end + wait);
}

/** Outcomes that say nothing about the credentials: repeated, they slow generation down. */
function slowsDown(outcome: AttemptOutcome): boolean {
  return (
    outcome === 'server-failure' || outcome === 'no-answer' || outcome === 'pending' || outcome === 'other-refusal'
  );
}

/**
 * The record with a new attempt sent at `at`, pending. Attempts older than the backstop's day
 * are dropped, except counted refusals: the stop needs them however old, and there are at most
 * two of those before it.
 */
export function withPendingAttempt(
  attempts: readonly GenerationAttempt[],
  at: number,
  totpStep: number,
): GenerationAttempt[] {
  const kept = attempts.filter((a) => a.outcome === 'credentials-refused' || a.at > at - BACKSTOP_WINDOW_MS);
  return [...kept, { at, endedAt: null, totpStep, outcome: 'pending', answer: null, retryAfterMs: null }];
}

/** The record with the pending attempt sent at `at` ended; a 'not-sent' attempt leaves the record. */
export function withFinishedAttempt(
  attempts: readonly GenerationAttempt[],
  at: number,
  end: {
    readonly endedAt: number;
    readonly outcome: Exclude<AttemptOutcome, 'pending'> | 'not-sent';
    readonly answer: string;
    readonly retryAfterMs: number | undefined;
  },
): GenerationAttempt[] {
  const index = attempts.findLastIndex((a) => a.at === at && a.outcome === 'pending');
  if (index < 0) return [...attempts];
  if (end.outcome === 'not-sent') return attempts.filter((_, i) => i !== index);
  return attempts.map((a, i) =>
    i === index
      ? {
          ...a,
          endedAt: end.endedAt,
          outcome: end.outcome as Exclude<AttemptOutcome, 'pending'>,
          answer: end.answer,
          retryAfterMs: end.retryAfterMs ?? null,
        }
      : a,
  );
}
