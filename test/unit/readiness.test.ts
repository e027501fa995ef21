import { describe, expect, it } from 'vitest';
import { readiness, type ReadinessInput } from '../../src/keeper/readiness.js';

const account = (clientId: string, over: Partial<ReadinessInput> = {}): ReadinessInput => ({
  clientId,
  live: false,
  hasToken: false,
  refreshing: false,
  attention: false,
  ...over,
});

describe('readiness', () => {
  it.each([
    { name: 'every token live', accounts: [account('1', { live: true, hasToken: true })], ready: true },
    {
      name: 'refreshing with the old token still live',
      accounts: [account('1', { live: true, hasToken: true, refreshing: true })],
      ready: true,
    },
    {
      name: 'live despite attention (generation stopped, token still good)',
      accounts: [account('1', { live: true, hasToken: true, attention: true })],
      ready: true,
    },
    {
      name: 'queued with no token',
      accounts: [account('1', { live: true, hasToken: true }), account('2')],
      ready: false,
    },
    { name: 'refreshing with no token', accounts: [account('1', { refreshing: true })], ready: false },
    { name: 'only an expired token', accounts: [account('1', { hasToken: true })], ready: false },
    { name: 'attention without a token', accounts: [account('1', { attention: true })], ready: false },
    { name: 'no accounts', accounts: [], ready: true },
  ])('$name → ready $ready', ({ accounts, ready }) => {
    expect(readiness(accounts).ready).toBe(ready);
  });

  it('says how many are missing and why, one line per reason', () => {
    const result = readiness([
      account('1', { live: true, hasToken: true }),
      account('2'),
      account('3', { refreshing: true }),
      account('4', { attention: true, hasToken: true }),
      account('5', { hasToken: true }),
    ]);
    expect(result).toEqual({
      ready: false,
      notReady: [
        '4 of 5 account(s) have no live token',
        '1 need a person (see status) and have no live token: 4',
        '1 are being refreshed and have no live token yet: 3',
        '1 have only an expired token; a refresh is queued: 5',
        '1 have no token yet; a refresh is queued: 2',
      ],
    });
  });

  it('stays a few short lines for 10,000 missing tokens', () => {
    const accounts = Array.from({ length: 10_000 }, (_, i) => account(String(1_000_000 + i)));
    const { notReady } = readiness(accounts);
    expect(notReady).toEqual([
      '10000 of 10000 account(s) have no live token',
      '10000 have no token yet; a refresh is queued: 1000000, 1000001, 1000002, 1000003, 1000004, and 9995 more',
    ]);
  });
});
