import { at, type Ctx } from './context.js';
import { UNRESOLVED } from './env.js';
import { checkKeys, isAbsent, isObject, kindOf, list, show } from './fields.js';
import type { AvoidWindow } from './types.js';
import { timezone } from './values.js';

const KEYS = ['days', 'from', 'to', 'timezone'] as const;
const DAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'] as const;
const GROUPS: Readonly<Record<string, readonly number[]>> = {
  daily: [1, 2, 3, 4, 5, 6, 7],
  weekdays: [1, 2, 3, 4, 5],
  weekends: [6, 7],
};
const DAYS_HINT = 'use mon … sun, a range like mon-fri, a list like [mon, wed] or daily';

export function avoidWindows(ctx: Ctx, path: string, value: unknown, defaultZone: string): AvoidWindow[] {
  return list(ctx, path, value).flatMap((item, i) => {
    const window = avoidWindow(ctx, at(path, i), item, defaultZone);
    return window === undefined ? [] : [window];
  });
}

function avoidWindow(ctx: Ctx, path: string, value: unknown, defaultZone: string): AvoidWindow | undefined {
  if (value === UNRESOLVED) return undefined;
  if (!isObject(value)) {
    ctx.problems.error(path, `must be a mapping with days, from and to, not ${kindOf(value)}`);
    return undefined;
  }
  checkKeys(ctx, path, value, KEYS);
  const days = required(ctx, path, value, 'days', DAYS_HINT) ? weekdays(ctx, at(path, 'days'), value['days']) : undefined;
  const from = required(ctx, path, value, 'from', 'give a time like "09:00"') ? minuteOfDay(ctx, at(path, 'from'), value['from']) : undefined;
  const to = required(ctx, path, value, 'to', 'give a time like "15:45"') ? minuteOfDay(ctx, at(path, 'to'), value['to']) : undefined;
  const zone = isAbsent(value['timezone']) ? defaultZone : timezone(ctx, at(path, 'timezone'), value['timezone']);
  if (from !== undefined && to !== undefined && from === to) {
    ctx.problems.error(at(path, 'to'), 'equals from, so the window is either empty or the whole day — give different times');
    return undefined;
  }
  if (days === undefined || from === undefined || to === undefined || zone === undefined) return undefined;
  return { days, fromMinute: from, toMinute: to, timezone: zone };
}

function required(ctx: Ctx, path: string, obj: Readonly<Record<string, unknown>>, key: string, hint: string): boolean {
  if (!isAbsent(obj[key])) return true;
  ctx.problems.error(at(path, key), `missing — ${hint}`);
  return false;
}

/** ISO weekday numbers (1 = Monday), sorted and unique. */
function weekdays(ctx: Ctx, path: string, value: unknown): number[] | undefined {
  if (value === UNRESOLVED) return undefined;
  let items: readonly unknown[];
  if (typeof value === 'string') items = value.split(',');
  else if (Array.isArray(value)) items = value;
  else {
    ctx.problems.error(path, `must be days, not ${kindOf(value)} — ${DAYS_HINT}`);
    return undefined;
  }
  const out = new Set<number>();
  let ok = items.length > 0;
  for (const item of items) {
    const days = typeof item === 'string' ? dayRange(item) : undefined;
    if (days === undefined) {
      ctx.problems.error(path, `${typeof item === 'string' ? show(item.trim()) : kindOf(item)} is not a day — ${DAYS_HINT}`);
      ok = false;
    } else {
      for (const day of days) out.add(day);
    }
  }
  return ok ? [...out].sort((a, b) => a - b) : undefined;
}

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

/** "09:00" → 540. YAML 1.2 keeps an unquoted 09:00 a string, so no quoting rule is needed. */
function minuteOfDay(ctx: Ctx, path: string, value: unknown): number | undefined {
  if (value === UNRESOLVED) return undefined;
  const match = typeof value === 'string' ? /^(\d{1,2}):(\d{2})$/.exec(value.trim()) : null;
  const hour = Number(match?.[1]);
  const minute = Number(match?.[2]);
  if (match === null || hour > 23 || minute > 59) {
    const shown = typeof value === 'string' ? show(value) : kindOf(value);
    const hint = value === '24:00' ? ' (write "00:00" for midnight: a window may cross it)' : '';
    ctx.problems.error(path, `${shown} is not a time of day — use HH:MM from 00:00 to 23:59${hint}`);
    return undefined;
  }
  return hour * 60 + minute;
}
