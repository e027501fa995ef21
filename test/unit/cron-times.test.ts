import { DateTime } from 'luxon';
import cron from 'node-cron';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { nextOccurrence, nextOfAny, owedRefresh, parseCron } from '../../src/cron-times.js';

const IST = 'Asia/Kolkata';
const ist = (iso: string): number => DateTime.fromISO(iso, { zone: IST }).toMillis();
const show = (ms: number | undefined): string | undefined =>
  ms === undefined ? undefined : (DateTime.fromMillis(ms, { zone: IST }).toISO() ?? undefined);
const HOUR = 3_600_000;

describe('cron times on an injected clock', () => {
  it('"30 8 * * 1-5" in Asia/Kolkata: weekday mornings only', () => {
    const s = parseCron('30 8 * * 1-5', IST);
    // 2026-03-06 is a Friday.
    expect(show(nextOccurrence(s, ist('2026-03-06T08:29:59')))).toBe('2026-03-06T08:30:00.000+05:30');
    expect(show(nextOccurrence(s, ist('2026-03-06T08:30:00')))).toBe('2026-03-09T08:30:00.000+05:30');
    expect(show(nextOccurrence(s, ist('2026-03-07T12:00:00')))).toBe('2026-03-09T08:30:00.000+05:30');
  });

  it("the same expression in another zone fires at that zone's wall time", () => {
    const s = parseCron('0 9 * * *', 'America/New_York');
    // 2026-03-08: New York springs forward; 09:00 EDT is 13:00 UTC.
    expect(new Date(nextOccurrence(s, Date.UTC(2026, 2, 8, 0, 0))!).toISOString()).toBe('2026-03-08T13:00:00.000Z');
    expect(new Date(nextOccurrence(s, Date.UTC(2026, 2, 7, 0, 0))!).toISOString()).toBe('2026-03-07T14:00:00.000Z');
    // 02:30 does not exist on the spring-forward day: skipped to the next day.
    const gap = parseCron('30 2 * * *', 'America/New_York');
    expect(new Date(nextOccurrence(gap, Date.UTC(2026, 2, 8, 5, 0))!).toISOString()).toBe('2026-03-09T06:30:00.000Z');
  });

  it('day of month and day of week: both must match, as node-cron reads them', () => {
    const s = parseCron('0 3 13 * 5', IST);
    // Friday the 13th: 2026-03-13, then 2026-11-13.
    expect(show(nextOccurrence(s, ist('2026-03-12T00:00:00')))).toBe('2026-03-13T03:00:00.000+05:30');
    expect(show(nextOccurrence(s, ist('2026-03-13T03:00:00')))).toBe('2026-11-13T03:00:00.000+05:30');
  });

  it('six fields (with seconds), leap days, and the earliest of several schedules', () => {
    expect(show(nextOccurrence(parseCron('15 0 9 * * *', IST), ist('2026-03-06T09:00:00')))).toBe(
      '2026-03-06T09:00:15.000+05:30',
    );
    expect(show(nextOccurrence(parseCron('0 0 29 2 *', IST), ist('2026-03-01T00:00:00')))).toBe(
      '2028-02-29T00:00:00.000+05:30',
    );
    const both = [parseCron('0 9 * * *', IST), parseCron('5 3 * * *', IST)];
    expect(show(nextOfAny(both, ist('2026-03-06T04:00:00')))).toBe('2026-03-06T09:00:00.000+05:30');
    expect(show(nextOfAny(both, ist('2026-03-06T09:00:00')))).toBe('2026-03-07T03:05:00.000+05:30');
    expect(() => parseCron('61 8 * * *', IST)).toThrow();
  });

  it("agrees with node-cron's own getNextRun on random expressions", () => {
    const field = (lo: number, hi: number) =>
      fc.oneof(
        fc.constant('*'),
        fc.integer({ min: lo, max: hi }).map(String),
        fc
          .tuple(fc.integer({ min: lo, max: hi }), fc.integer({ min: lo, max: hi }))
          .map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
        fc.integer({ min: 2, max: 15 }).map((step) => `*/${step}`),
      );
    let compared = 0;
    fc.assert(
      fc.property(field(0, 59), field(0, 23), field(1, 28), field(1, 12), field(0, 6), (mi, h, dom, mo, dow) => {
        const expression = `${mi} ${h} ${dom} ${mo} ${dow}`;
        const task = cron.createTask(expression, () => undefined, { timezone: IST });
        try {
          // Runs from now on a wall clock: compare the next two, taken from one moment.
          const before = Date.now();
          const theirs = task.getNextRuns(2).map((d) => d.getTime());
          const first = nextOccurrence(parseCron(expression, IST), before);
          const ours = first === undefined ? [] : [first, nextOccurrence(parseCron(expression, IST), first)];
          if (theirs[0] !== undefined && theirs[0] - before < 2_000) return true; // a minute boundary passed mid-test
          // Beyond four years ahead the keeper's lookup stops on purpose (see MAX_DAYS_AHEAD).
          if (theirs.length === 0 || (theirs[1] ?? 0) - before > 4 * 365 * 86_400_000) return true;
          compared++;
          return JSON.stringify(ours) === JSON.stringify(theirs);
        } finally {
          void task.destroy();
        }
      }),
      { numRuns: 200 },
    );
    expect(compared).toBeGreaterThan(150);
  });

  it('agrees with node-cron at any moment of the day, in zones with and without daylight saving', () => {
    // node-cron reads "now" from Date: fake timers put it at each random moment.
    const minuteField = fc.oneof(
      fc.constant('*'),
      fc.integer({ min: 0, max: 59 }).map(String),
      fc.integer({ min: 2, max: 30 }).map((step) => `*/${step}`),
    );
    const hourField = fc.oneof(
      fc.constant('*'),
      fc.integer({ min: 0, max: 23 }).map(String),
      fc.integer({ min: 2, max: 12 }).map((step) => `*/${step}`),
    );
    const moment = fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2027, 11, 31) });
    const zone = fc.constantFrom(IST, 'America/New_York', 'Europe/London', 'UTC');
    try {
      fc.assert(
        fc.property(minuteField, hourField, moment, zone, (mi, h, at, tz) => {
          vi.useFakeTimers({ now: at, toFake: ['Date'] });
          const expression = `${mi} ${h} * * *`;
          const task = cron.createTask(expression, () => undefined, { timezone: tz });
          try {
            const theirs = task.getNextRuns(1).map((d) => d.getTime());
            return JSON.stringify([nextOccurrence(parseCron(expression, tz), at)]) === JSON.stringify(theirs);
          } finally {
            void task.destroy();
          }
        }),
        { numRuns: 300 },
      );
    } finally {
      vi.useRealTimers();
    }
  });

  it('owedRefresh: due from its moment until done, skipped when the token is already fresh', () => {
    const s = [parseCron('30 8 * * 1-5', IST)];
    const at830 = ist('2026-03-06T08:30:00');
    // A token from last night is owed this morning's refresh, and stays owed after 08:30 until refreshed.
    expect(owedRefresh(s, ist('2026-03-05T20:00:00'), ist('2026-03-06T07:00:00'), HOUR)).toBe(at830);
    expect(owedRefresh(s, ist('2026-03-05T20:00:00'), ist('2026-03-06T08:40:00'), HOUR)).toBe(at830);
    // A token from 08:00 is newer than 1 h at 08:30: skipped, next owed is Monday's.
    expect(owedRefresh(s, ist('2026-03-06T08:00:00'), ist('2026-03-06T07:59:00'), HOUR)).toBe(
      ist('2026-03-09T08:30:00'),
    );
    // Refreshed at 08:30: done for today.
    expect(owedRefresh(s, at830, at830 + 1000, HOUR)).toBe(ist('2026-03-09T08:30:00'));
    expect(owedRefresh([], 0, at830, HOUR)).toBeUndefined();
  });
});
