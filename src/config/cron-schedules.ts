import { z } from 'zod';
import { avoidIntervalAt } from '../avoid-windows.js';
import { nextOccurrence, parseCron, type CronSchedule } from '../cron-times.js';
import type { avoidWindow } from './avoid.js';
import { toAvoidWindow } from './avoid.js';
import { kindOf } from './issues.js';
import { keeperCronExpression, timezone } from './values.js';

/**
 * `renewal.refreshAt` and `renewal.probeAt`: lists of cron expressions, each a plain string (in
 * dhan.timezone) or `{cron, timezone}`. Validated by node-cron, read in their zone.
 */
export const cronEntry = z.union(
  [keeperCronExpression, z.strictObject({ cron: keeperCronExpression, timezone: timezone.optional() })],
  {
    error: (issue) => {
      const { input } = issue;
      const branch = typeof input === 'string' ? 0 : typeof input === 'object' && input !== null ? 1 : undefined;
      if (branch === undefined)
        return `must be a cron expression like "30 8 * * 1-5" or {cron, timezone}, not ${kindOf(input)}`;
      // zod words a union that fails on both sides as "Invalid input": the side the entry's kind
      // chose has the message that says what is wrong.
      const chosen = issue.errors[branch]?.[0];
      if (chosen === undefined) return undefined;
      return chosen.path.length === 0 ? chosen.message : `${chosen.path.join('.')}: ${chosen.message}`;
    },
  },
);

export type CronEntry = z.output<typeof cronEntry>;

export function toSchedules(entries: readonly CronEntry[], defaultZone: string): CronSchedule[] {
  return entries.map((entry) =>
    typeof entry === 'string' ? parseCron(entry, defaultZone) : parseCron(entry.cron, entry.timezone ?? defaultZone),
  );
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
      // The planner's own reading of the windows, so that config and planner cannot disagree
      // (on a DST change, say) about whether a moment is inside one.
      if (avoidIntervalAt(next, windows) !== undefined) {
        const when = new Date(next).toLocaleString('en-GB', {
          timeZone: schedule.timezone,
          weekday: 'short',
          hour: '2-digit',
          minute: '2-digit',
        });
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
