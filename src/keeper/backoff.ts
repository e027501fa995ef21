/**
 * The retry schedule for temporary failures, written down so it can be tested:
 * full jitter over an exponential ceiling that starts at 2 s and doubles, capped at
 * min(5 min, a tenth of the token's remaining life) so that retries keep coming while the
 * token still lives. A floor keeps full jitter from producing a hot loop (Vault's lifetime
 * watcher shipped a backoff that never slept: issues #20645, #26382).
 */
export const BACKOFF_BASE_MS = 2_000;
export const BACKOFF_MAX_MS = 5 * 60_000;
export const BACKOFF_FLOOR_MS = 1_000;

export function backoffCeiling(failures: number, remainingLifeMs: number | undefined): number {
  const exponential = BACKOFF_BASE_MS * 2 ** Math.max(0, Math.min(failures - 1, 20));
  let cap = BACKOFF_MAX_MS;
  if (remainingLifeMs !== undefined && remainingLifeMs > 0) cap = Math.min(cap, remainingLifeMs / 10);
  return Math.max(BACKOFF_FLOOR_MS, Math.min(exponential, cap));
}

/** `random` is injected so that tests can pin the jitter. */
export function backoffDelay(failures: number, remainingLifeMs: number | undefined, random: () => number): number {
  const ceiling = backoffCeiling(failures, remainingLifeMs);
  return Math.max(BACKOFF_FLOOR_MS, Math.floor(random() * ceiling));
}
