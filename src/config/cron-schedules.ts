import { z } from 'zod';
import { DateTime } from 'luxon';
import { nextOccurrence, parseCron, type CronSchedule } from '../cron-times.js';
import type { avoidWindow } from './avoid.js';
import { toAvoidWindow } from './avoid.js';
import type { AvoidWindow } from './config.js';
import { kindOf } from './issues.js';
import { cronExpression, timezone } from './values.js';

/**
 * `renewal.refreshAt` and `renewal.probeAt`: lists of cron expressions, each a plain string (in
 * dhan.timezone) or `{cron, timezone}`. Validated by node-cron, read in their zone.
 */
export const cronEntry = z.union([cronExpression, z.strictObject({ cron: cronExpression, timezone: timezone.optional() })], {
  error: (issue) =>
    !(typeof issue.input === 'string' || (typeof issue.input === 'object' && issue.input !== null))
      ? `must be a cron expression like "30 8 * * 1-5" or {cron, timezone}, not ${kindOf(issue.input)}`
      : undefined,
});

export type CronEntry = z.output<typeof cronEntry>;

export function toSchedules(entries: readonly CronEntry[], defaultZone: string): CronSchedule[] {
  return entries.map((entry) => (typeof entry === 'string' ? parseCron(entry, defaultZone) : parseCron(entry.cron, entry.timezone ?? defaultZone)));
}

/** How far ahead refreshAt moments are checked against the avoid windows (the windows are weekly). */
const CHECK_AHEAD_MS = 366 * 24 * 3_600_000;
const MAX_CHECKED = 5_000;

/**
 * A refreshAt moment inside an avoid window contradicts the window's intent (no swap during market
 * hours): it is a config error. Returns a message for the first entry that does, with the moment.
 */
export function refreshAtInsideAvoid(
  refreshAt: readonly CronEntry[],
  avoid: readonly z.output<typeof avoidWindow>[],
  defaultZone: string,
  from: number,
): { index: number; message: string } | undefined {
  if (avoid.length === 0) return undefined;
  const windows = avoid.map((w) => toAvoidWindow(w, '', defaultZone, () => undefined));
  const schedules = toSchedules(refreshAt, defaultZone);
  for (const [index, schedule] of schedules.entries()) {
    let cursor = from;
    for (let i = 0; i < MAX_CHECKED; i++) {
      const next = nextOccurrence(schedule, cursor);
      if (next === undefined || next > from + CHECK_AHEAD_MS) break;
      if (windows.some((w) => insideWeeklyWindow(next, w))) {
        const when = new Date(next).toLocaleString('en-GB', { timeZone: schedule.timezone, weekday: 'short', hour: '2-digit', minute: '2-digit' });
        return {
          index,
          message: `"${schedule.expression}" fires inside an avoid window (e.g. ${when} ${schedule.timezone}), where no token may be swapped — move it before the window opens, e.g. "30 8 * * 1-5" for 08:30 on weekdays`,
        };
      }
      cursor = next;
    }
  }
  return undefined;
}

/**
 * Whether a moment falls inside one weekly window. The keeper's planner has its own reading
 * (keeper/avoid-windows.ts, which also joins adjacent windows); config sits below the keeper and
 * cannot import it, so this plain predicate is kept beside it and a test holds the two to agree.
 */
export function insideWeeklyWindow(at: number, window: AvoidWindow): boolean {
  const local = DateTime.fromMillis(at, { zone: window.timezone });
  const minute = local.hour * 60 + local.minute;
  const yesterday = local.minus({ days: 1 }).weekday;
  if (window.toMinute > window.fromMinute) {
    return window.days.includes(local.weekday) && minute >= window.fromMinute && minute < window.toMinute;
  }
  // A window that ends at or before it starts runs past midnight into the next day.
  return (window.days.includes(local.weekday) && minute >= window.fromMinute) || (window.days.includes(yesterday) && minute < window.toMinute);
}
