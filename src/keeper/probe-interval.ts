/**
 * How often one account's token is checked with a profile call: `renewal.probeInterval`, unless
 * the accounts together would then call Dhan more often than `renewal.maxProbeRate` a second,
 * in which case every account's interval stretches to keep the keeper's total at that rate.
 *
 * Probes are the keeper's only steady Dhan traffic, so without a limit it grows with the account
 * count without bound (10,000 accounts at 15m: 11 calls a second, for ever, from one address),
 * and so does the CPU of an otherwise idle daemon, which is almost all those HTTP calls. A token
 * killed early is then found within the stretched interval instead; `probeAt` moments still
 * check every account.
 *
 * 0 (probes off) stays 0; an undefined rate means no limit.
 */
export function probeIntervalFor(accounts: number, probeIntervalMs: number, maxProbeRate: number | undefined): number {
  if (probeIntervalMs <= 0 || maxProbeRate === undefined || accounts <= 0) return probeIntervalMs;
  return Math.max(probeIntervalMs, Math.ceil((accounts / maxProbeRate) * 1000));
}
