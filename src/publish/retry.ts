import { isAbortError, type Clock } from '../clock.js';

/**
 * Hooks and webhooks get three tries: one, then two retries after `base` and `4 × base`. A hook
 * that failed twice in five seconds is broken, not busy, and a later token will try again.
 */
export function retryDelays(baseMs: number): readonly number[] {
  return [baseMs, 4 * baseMs];
}

export interface TryResult {
  readonly ok: boolean;
  /** False for failures that another try cannot fix (a redirect, a 4xx, an abort). */
  readonly retryable: boolean;
}

/**
 * Runs `tryOnce` until it succeeds, a failure is final, the delays run out or `signal` aborts.
 * Waits go through the injected clock so tests can prove that retries really wait (a
 * backoff that never slept has shipped in other projects' token watchers).
 */
export async function withRetries<T extends TryResult>(
  delaysMs: readonly number[],
  clock: Clock,
  signal: AbortSignal | undefined,
  tryOnce: (attempt: number) => Promise<T>,
): Promise<{ readonly last: T; readonly attempts: number }> {
  for (let attempts = 1; ; attempts++) {
    const last = await tryOnce(attempts);
    const delay = delaysMs[attempts - 1];
    if (last.ok || !last.retryable || delay === undefined || signal?.aborted) return { last, attempts };
    try {
      await clock.sleep(delay, signal);
    } catch (err) {
      if (isAbortError(err)) return { last, attempts };
      throw err;
    }
  }
}
