import { DateTime, inZone } from './luxon.js';
import { parse as parseCronFields } from 'node-cron';

/**
 * When a cron expression next fires, as a pure function of a moment. node-cron parses and
 * validates the expression (what it is for); the keeper's logic runs on an injected clock, which
 * node-cron's own `getNextRun` cannot see, so the next occurrence is found here, in the
 * expression's time zone, and scheduled on the clock like any other timer. Virtual days then
 * run in seconds, and the planner can compare a refreshAt moment with everything else it knows.
 */
export interface CronSchedule {
  readonly expression: string;
  readonly timezone: string;
  readonly seconds: readonly number[];
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  readonly daysOfMonth: readonly number[];
  readonly months: readonly number[];
  /** 0 = Sunday … 6 = Saturday. */
  readonly daysOfWeek: readonly number[];
}

/** A leap-day schedule fires once in four years: look that far, no further. */
const MAX_DAYS_AHEAD = 4 * 366 + 1;

function numbers(values: readonly (number | string)[], field: string, expression: string): number[] {
  return values.map((v) => {
    if (typeof v !== 'number')
      throw new Error(
        `"${expression}": the ${field} value "${v}" is not supported — use numbers, ranges, lists and steps`,
      );
    return v;
  });
}

/** Parses a 5-field (or 6-field, with seconds) cron expression; throws with a message naming it. */
export function parseCron(expression: string, timezone: string): CronSchedule {
  const fields = parseCronFields(expression);
  const sorted = (xs: number[]): number[] => [...new Set(xs)].sort((a, b) => a - b);
  return {
    expression,
    timezone,
    seconds: sorted(numbers(fields.second, 'second', expression)),
    minutes: sorted(numbers(fields.minute, 'minute', expression)),
    hours: sorted(numbers(fields.hour, 'hour', expression)),
    daysOfMonth: sorted(numbers(fields.dayOfMonth, 'day-of-month', expression)),
    months: sorted(numbers(fields.month, 'month', expression)),
    daysOfWeek: sorted(numbers(fields.dayOfWeek, 'day-of-week', expression).map((d) => d % 7)),
  };
}

/**
 * node-cron's rule, kept so that an expression means here what it means to node-cron: a day must
 * match both day fields (classic cron would take either when both are restricted).
 */
function dayMatches(schedule: CronSchedule, day: DateTime): boolean {
  return schedule.daysOfMonth.includes(day.day) && schedule.daysOfWeek.includes(day.weekday % 7);
}

/** The first moment strictly after `after` at which the schedule fires, or undefined (never). */
export function nextOccurrence(schedule: CronSchedule, after: number): number | undefined {
  const start = DateTime.fromMillis(after, inZone(schedule.timezone));
  const first = start.startOf('day');
  for (let d = 0; d <= MAX_DAYS_AHEAD; d++) {
    const day = first.plus({ days: d });
    if (!schedule.months.includes(day.month) || !dayMatches(schedule, day)) continue;
    for (const hour of schedule.hours) {
      // Today's earlier hours and minutes are past: skipped without building a moment for each
      // (a "* * * * *" read late in the day would otherwise build over a thousand).
      if (d === 0 && hour < start.hour) continue;
      for (const minute of schedule.minutes) {
        if (d === 0 && hour === start.hour && minute < start.minute) continue;
        for (const second of schedule.seconds) {
          const at = day.set({ hour, minute, second, millisecond: 0 });
          // A wall-clock time a DST change skips does not exist that day.
          if (at.hour !== hour || at.minute !== minute) continue;
          const ms = at.toMillis();
          if (ms > after) return ms;
        }
      }
    }
  }
  return undefined;
}

/** The earliest next firing of any of the schedules. */
export function nextOfAny(schedules: readonly CronSchedule[], after: number): number | undefined {
  let best: number | undefined;
  for (const schedule of schedules) {
    const next = nextOccurrence(schedule, after);
    if (next !== undefined && (best === undefined || next < best)) best = next;
  }
  return best;
}

/**
 * The refresh a token still owes: the earliest refreshAt moment, from `skipIfNewerThanMs` ago
 * on (so that a refresh delayed by a failure or a busy moment is still owed), at which the token
 * would be older than `skipIfNewerThanMs`. Moments the token already satisfies are skipped.
 */
export function owedRefresh(
  schedules: readonly CronSchedule[],
  tokenObtainedAt: number,
  now: number,
  skipIfNewerThanMs: number,
): number | undefined {
  let cursor = now - skipIfNewerThanMs;
  for (let i = 0; i < 1_000; i++) {
    const next = nextOfAny(schedules, cursor);
    if (next === undefined) return undefined;
    if (tokenObtainedAt <= next - skipIfNewerThanMs) return next;
    cursor = next;
  }
  return undefined;
}
