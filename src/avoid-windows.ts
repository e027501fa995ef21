import { DateTime, inZone } from './luxon.js';
import type { AvoidWindow } from './config/config.js';

export interface Interval {
  readonly start: number;
  readonly end: number;
}

/** Occurrences of one weekly window that start on the local day of `at` or the day before. */
function occurrencesNear(at: number, window: AvoidWindow): Interval[] {
  const local = DateTime.fromMillis(at, inZone(window.timezone));
  const found: Interval[] = [];
  for (const offsetDays of [-1, 0]) {
    const day = local.plus({ days: offsetDays }).startOf('day');
    if (!window.days.includes(day.weekday)) continue;
    const start = day.plus({ minutes: window.fromMinute });
    // A window that ends at or before it starts runs past midnight into the next day.
    const endDay = window.toMinute <= window.fromMinute ? day.plus({ days: 1 }) : day;
    const end = endDay.plus({ minutes: window.toMinute });
    found.push({ start: start.toMillis(), end: end.toMillis() });
  }
  return found;
}

function singleWindowAt(at: number, windows: readonly AvoidWindow[]): Interval | undefined {
  for (const window of windows) {
    for (const occurrence of occurrencesNear(at, window)) {
      if (occurrence.start <= at && at < occurrence.end) return occurrence;
    }
  }
  return undefined;
}

/**
 * The avoid interval containing `at`, merged with any windows it touches on either side,
 * or undefined when `at` is free. Intervals are half-open: a window's end is free time.
 */
export function avoidIntervalAt(at: number, windows: readonly AvoidWindow[]): Interval | undefined {
  const first = singleWindowAt(at, windows);
  if (!first) return undefined;
  let { start, end } = first;
  // Adjacent or overlapping windows (e.g. a pre-open and a session) form one interval; a week
  // of back-to-back windows is bounded, so the loops end.
  for (let i = 0; i < 32; i++) {
    const next = singleWindowAt(end, windows);
    if (!next) break;
    end = next.end;
  }
  for (let i = 0; i < 32; i++) {
    const previous = singleWindowAt(start - 1, windows);
    if (!previous) break;
    start = previous.start;
  }
  return { start, end };
}
