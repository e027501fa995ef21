/**
 * The generation attempts an account made since its last token, as the store keeps them: the
 * durable record behind the credential budget (keeper/generation-budget.ts). Shared by the store,
 * which persists it, and the keeper, which reads and extends it. Never holds a secret.
 */

/**
 * How an attempt ended, as far as the budget is concerned:
 * - pending: sent, no end recorded yet (in flight, or the keeper stopped or crashed meanwhile);
 * - credentials-refused: Dhan answered without a token and it reads as a judgement on the
 *   request (any wording, any 4xx but 408/429, a 200 without a token): counted;
 * - rate-limited: Dhan's "once every 2 minutes" (or DH-904, 429): neither counted nor a reset;
 * - other-refusal: answered without a token, but about something else (DH-902/903, a redirect);
 * - server-failure: a 5xx without a refusal code, 408, an answer that could not be read;
 * - no-answer: the request may have reached Dhan, but no answer came (timeout, reset).
 */
export type AttemptOutcome =
  'pending' | 'credentials-refused' | 'rate-limited' | 'other-refusal' | 'server-failure' | 'no-answer';

export const ATTEMPT_OUTCOMES: readonly AttemptOutcome[] = [
  'pending',
  'credentials-refused',
  'rate-limited',
  'other-refusal',
  'server-failure',
  'no-answer',
];

export interface GenerationAttempt {
  /** When the request was sent (epoch ms). */
  readonly at: number;
  /** When its answer or failure came; null while pending. */
  readonly endedAt: number | null;
  /** The TOTP step (epoch ms / 30 000) of the code it carried. */
  readonly totpStep: number;
  readonly outcome: AttemptOutcome;
  /** Dhan's answer as the keeper read it, already redacted (no PIN, code or token); null while pending. */
  readonly answer: string | null;
  /** Dhan's own wait hint on a rate-limit answer, in ms. */
  readonly retryAfterMs: number | null;
}

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * Reads the stored record back. An entry that is not an attempt is dropped rather than failing
 * every read of the account; only this module writes entries, so none is expected.
 */
export function parseGenerationAttempts(raw: string | null): GenerationAttempt[] {
  if (raw === null) return [];
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return [];
  }
  if (!Array.isArray(value)) return [];
  const attempts: GenerationAttempt[] = [];
  for (const entry of value as unknown[]) {
    if (typeof entry !== 'object' || entry === null) continue;
    const e = entry as Record<string, unknown>;
    const { at, endedAt, totpStep, outcome, answer, retryAfterMs } = e;
    if (!isNumber(at) || !isNumber(totpStep)) continue;
    if (!ATTEMPT_OUTCOMES.includes(outcome as AttemptOutcome)) continue;
    attempts.push({
      at,
      endedAt: isNumber(endedAt) ? endedAt : null,
      totpStep,
      outcome: outcome as AttemptOutcome,
      answer: typeof answer === 'string' ? answer : null,
      retryAfterMs: isNumber(retryAfterMs) ? retryAfterMs : null,
    });
  }
  return attempts;
}
