import { describe, expect, it } from 'vitest';
import { probeIntervalFor } from '../../src/keeper/probe-interval.js';

const MIN = 60_000;

describe('probeIntervalFor', () => {
  it.each([
    // accounts, probeInterval, maxProbeRate, interval: why
    [1, 15 * MIN, 3, 15 * MIN, 'one account is far under the limit'],
    [1_000, 15 * MIN, 3, 15 * MIN, '1,000 at 15m make 1.1 calls a second'],
    [2_700, 15 * MIN, 3, 15 * MIN, 'exactly at the limit: unchanged'],
    [2_701, 15 * MIN, 3, 900_334, 'one more account stretches everyone (rounded up to a whole ms)'],
    [10_000, 15 * MIN, 3, 3_333_334, '10,000 at 3 a second: every 55.6 minutes'],
    [10_000, 15 * MIN, 20, 15 * MIN, 'a higher limit keeps 15m'],
    [10_000, 2 * 60 * MIN, 3, 2 * 60 * MIN, 'a longer interval of the user is never shortened'],
    [10_000, 15 * MIN, undefined, 15 * MIN, 'no limit ("off")'],
    [10_000, 0, 3, 0, 'probes off stay off'],
    [0, 15 * MIN, 3, 15 * MIN, 'no accounts'],
    [5, 15 * MIN, 0.001, 5_000_000, 'a limit below one a second'],
  ] as const)('%i accounts, %i ms, %s a second: %i ms (%s)', (accounts, interval, rate, expected, _why) => {
    expect(probeIntervalFor(accounts, interval, rate)).toBe(expected);
  });

  it('keeps the total at the limit whatever the count', () => {
    for (const accounts of [2_701, 5_000, 10_000, 123_457]) {
      const perSecond = accounts / (probeIntervalFor(accounts, 15 * MIN, 3) / 1000);
      expect(perSecond).toBeLessThanOrEqual(3);
      expect(perSecond).toBeGreaterThan(2.999);
    }
  });
});
