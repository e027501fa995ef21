import { DateTime, inZone } from '../luxon.js';
import type { AvoidWindow } from '../config/config.js';

/**
 * Every occurrence of the windows that overlaps [from, to], clipped and merged: one per day and
 * window, computed from each local day (the planner's avoidIntervalAt answers "is this instant
 * free", which would take thousands of calls to draw a week).
 */
export function weekOfWindows(
  windows: readonly AvoidWindow[],
  from: number,
  to: number,
): Array<{ start: number; end: number }> {
  const found: Array<{ start: number; end: number }> = [];
  for (const window of windows) {
    // From the day before `from`: a window that crosses midnight may reach into the range.
    let day = DateTime.fromMillis(from, inZone(window.timezone)).startOf('day').minus({ days: 1 });
    for (; day.toMillis() < to; day = day.plus({ days: 1 })) {
      if (!window.days.includes(day.weekday)) continue;
      const start = day.plus({ minutes: window.fromMinute }).toMillis();
      const endDay = window.toMinute <= window.fromMinute ? day.plus({ days: 1 }) : day;
      const end = endDay.plus({ minutes: window.toMinute }).toMillis();
      if (end > from && start < to) found.push({ start: Math.max(start, from), end: Math.min(end, to) });
    }
  }
  found.sort((a, b) => a.start - b.start);
  const merged: Array<{ start: number; end: number }> = [];
  for (const interval of found) {
    const last = merged[merged.length - 1];
    if (last && interval.start <= last.end) last.end = Math.max(last.end, interval.end);
    else merged.push({ ...interval });
  }
  return merged;
}
