import { describe, expect, it } from 'vitest';
import type { DhanCall } from '../helpers/dhan-recording-proxy.js';
import {
  callsFromNonLeaders,
  deadIntervals,
  otherLeaderAt,
  overlappingRefreshes,
  takeovers,
  type KeeperLife,
  type LeaderSample,
} from '../helpers/ha-figures.js';

/* The chaos test's judgements are only as good as these: a judge that never convicts proves nothing. */

const call = (
  keeper: number,
  endpoint: DhanCall['endpoint'],
  clientId: string,
  start: number,
  end: number | undefined,
): DhanCall => ({
  keeper,
  endpoint,
  clientId,
  start,
  end,
  status: 200,
  tokenHash: undefined,
  abandoned: false,
});

describe('overlappingRefreshes', () => {
  it.each([
    ['back to back', [call(0, 'renew', 'a', 0, 10), call(1, 'renew', 'a', 10, 20)], 0],
    ['overlapping across keepers', [call(0, 'renew', 'a', 0, 10), call(1, 'generate', 'a', 5, 20)], 1],
    ['other accounts never overlap', [call(0, 'renew', 'a', 0, 10), call(1, 'renew', 'b', 5, 20)], 0],
    ['profiles do not count', [call(0, 'renew', 'a', 0, 10), call(0, 'profile', 'a', 5, 6)], 0],
    [
      'inside a long one, after a short one',
      [call(0, 'renew', 'a', 0, 100), call(1, 'renew', 'a', 10, 20), call(2, 'renew', 'a', 30, 40)],
      2,
    ],
    ['still in flight', [call(0, 'renew', 'a', 0, undefined), call(1, 'renew', 'a', 50, 60)], 1],
  ] as const)('%s', (_, calls, expected) => {
    expect(overlappingRefreshes(calls, 1_000)).toHaveLength(expected);
  });
});

describe('otherLeaderAt and callsFromNonLeaders', () => {
  const samples: LeaderSample[] = [
    { at: 100, epoch: 1, pid: 11 },
    { at: 200, epoch: 1, pid: 11 },
    { at: 300, epoch: 2, pid: 22 },
    { at: 400, epoch: 4, pid: 33 },
  ];
  it.each([
    ['before any sample', 11, 50, false],
    ['the leader itself', 11, 150, false],
    ['another keeper, both looks agree', 22, 150, true],
    ['across a takeover to the caller: not convicted', 22, 250, false],
    ['two epochs apart, the caller may have led in between', 11, 350, false],
    ['after the last sample', 11, 500, true],
  ] as const)('%s', (_, pid, at, expected) => {
    expect(otherLeaderAt(samples, pid, at)).toBe(expected);
  });

  it('maps calls to the pid their slot ran at the time', () => {
    const lives: KeeperLife[] = [
      { slot: 0, pid: 11, start: 0, end: 250 },
      { slot: 1, pid: 22, start: 0, end: undefined },
      { slot: 0, pid: 44, start: 260, end: undefined },
    ];
    const calls = [
      call(0, 'renew', 'a', 150, 160),
      call(1, 'profile', 'a', 150, 151),
      call(0, 'profile', 'a', 380, 390),
    ];
    expect(callsFromNonLeaders(calls, lives, samples).map((c) => [c.keeper, c.start])).toEqual([[1, 150]]);
  });

  it('counts every epoch change as a takeover', () => {
    expect(takeovers(samples).map((t) => t.epoch)).toEqual([2, 4]);
  });
});

describe('deadIntervals', () => {
  it.each([
    [
      'dead before the first live token does not count',
      [
        [0, false],
        [100, true],
        [200, true],
      ],
      [],
    ],
    [
      'a stretch that ends',
      [
        [0, true],
        [100, false],
        [200, false],
        [300, true],
      ],
      [[100, 300]],
    ],
    [
      'a stretch still open at the end',
      [
        [0, true],
        [100, false],
        [200, false],
      ],
      [[100, 200]],
    ],
  ] as const)('%s', (_, raw, expected) => {
    const samples = raw.map(([at, live]) => ({ at, live }));
    expect(deadIntervals(samples).map((d) => [d.start, d.end])).toEqual(expected);
  });
});
