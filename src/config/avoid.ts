import { z } from 'zod';
import { at, type Warn } from './problems.js';
import { describe, fail, kindOf, passed, required } from './issues.js';
import type { AvoidWindow } from './config.js';
import { abbreviationWarning, timezone } from './values.js';

const DAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'] as const;
const GROUPS: Readonly<Record<string, readonly number[]>> = {
  daily: [1, 2, 3, 4, 5, 6, 7],
  weekdays: [1, 2, 3, 4, 5],
  weekends: [6, 7],
};
const DAYS_HINT = 'use mon … sun, a range like mon-fri, a list like [mon, wed] or daily';

/** ISO weekday numbers (1 = Monday), sorted and unique. */
const weekdays = z
  .union([z.string(), z.array(z.unknown())], {
    error: (issue) => `must be days, not ${kindOf(issue.input)} — ${DAYS_HINT}`,
  })
  .transform((value, ctx) => {
    const items: readonly unknown[] = typeof value === 'string' ? value.split(',') : value;
    if (items.length === 0) return fail(ctx, `is empty — ${DAYS_HINT}`);
    const out = new Set<number>();
    for (const item of items) {
      const days = typeof item === 'string' ? dayRange(item) : undefined;
      if (days === undefined)
        ctx.addIssue({
          code: 'custom',
          message: `${describe(typeof item === 'string' ? item.trim() : item)} is not a day — ${DAYS_HINT}`,
        });
      else for (const day of days) out.add(day);
    }
    return [...out].sort((a, b) => a - b);
  });

/** `mon`, `monday`, `mon-fri`, `fri-mon` (wraps over the weekend), `daily`, `weekdays`, `weekends`. */
function dayRange(text: string): readonly number[] | undefined {
  const word = text.trim().toLowerCase();
  const group = GROUPS[word];
  if (group !== undefined) return group;
  const [first, last, extra] = word.split('-').map((part) => dayNumber(part.trim()));
  if (extra !== undefined || first === undefined) return undefined;
  if (!word.includes('-')) return [first];
  if (last === undefined) return undefined;
  const out: number[] = [];
  for (let day = first; ; day = (day % 7) + 1) {
    out.push(day);
    if (day === last) return out;
  }
}

function dayNumber(word: string): number | undefined {
  const index = DAYS.findIndex((day) => day === word || day.slice(0, 3) === word);
  return index === -1 ? undefined : index + 1;
}

const notATime = (value: unknown) => {
  const hint = value === '24:00' ? ' (write "00:00" for midnight: a window may cross it)' : '';
  return `${describe(value)} is not a time of day — use HH:MM from 00:00 to 23:59${hint}`;
};

/** "09:00" → 540. YAML 1.2 keeps an unquoted 09:00 a string, so no quoting rule is needed. */
const minuteOfDay = z.string({ error: (issue) => notATime(issue.input) }).transform((value, ctx) => {
  const match = /^(\d{1,2}):(\d{2})$/.exec(value.trim());
  const hour = Number(match?.[1]);
  const minute = Number(match?.[2]);
  return match === null || hour > 23 || minute > 59 ? fail(ctx, notATime(value)) : hour * 60 + minute;
});

/** A weekly window in which no token is swapped; without a timezone, dhan.timezone's. */
export const avoidWindow = z
  .strictObject(
    {
      days: required(weekdays, DAYS_HINT),
      from: required(minuteOfDay, 'give a time like "09:00"'),
      to: required(minuteOfDay, 'give a time like "15:45"'),
      timezone: timezone.optional(),
    },
    {
      error: (issue) =>
        issue.code === 'invalid_type'
          ? `must be a mapping with days, from and to, not ${kindOf(issue.input)}`
          : undefined,
    },
  )
  .refine((window) => window.from !== window.to, {
    path: ['to'],
    error: 'equals from, so the window is either empty or the whole day — give different times',
    when: (payload) => passed(payload, 'from') && passed(payload, 'to'),
  });

export function toAvoidWindow(
  window: z.output<typeof avoidWindow>,
  path: string,
  defaultZone: string,
  warn: Warn,
): AvoidWindow {
  const zoneWarning = window.timezone === undefined ? undefined : abbreviationWarning(window.timezone);
  if (zoneWarning !== undefined) warn(at(path, 'timezone'), zoneWarning);
  return { days: window.days, fromMinute: window.from, toMinute: window.to, timezone: window.timezone ?? defaultZone };
}
