import { at, type Ctx } from './context.js';
import { tryParseDuration, parseDurationOrShare, formatDuration } from './duration.js';
import { UNRESOLVED } from './env.js';
import { closest } from './suggest.js';
import type { DurationOrShare } from './types.js';

/*
 * Readers for one value each. They report what is wrong under the value's key path and
 * return undefined for an invalid value, so that the caller can carry on and find the
 * next problem; `loadConfig` throws before any placeholder can escape.
 */

export type Obj = Readonly<Record<string, unknown>>;

/** YAML `key:` with nothing after it is null: read as "not set", like an absent key. */
export function isAbsent(value: unknown): value is undefined | null {
  return value === undefined || value === null;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'empty';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'boolean') return `${value}`;
  return `a ${typeof value}`;
}

/** A non-secret value as the user wrote it, short enough for one line. */
export function show(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
}

/** Reports keys not in `known`, suggesting the one that was probably meant. */
export function checkKeys(ctx: Ctx, path: string, obj: Obj, known: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const guess = closest(key, known);
    ctx.problems.error(
      at(path, key),
      guess === undefined ? `unknown key — expected one of ${known.join(', ')}` : `unknown key — did you mean ${guess}?`,
    );
  }
}

/** A mapping that may be left out entirely (a section, or `server:` with nothing under it). */
export function section(ctx: Ctx, path: string, value: unknown, known: readonly string[]): Obj {
  if (isAbsent(value) || value === UNRESOLVED) return {};
  if (!isObject(value)) {
    ctx.problems.error(path, `must be a mapping of ${known.join(', ')}, not ${kindOf(value)}`);
    return {};
  }
  checkKeys(ctx, path, value, known);
  return value;
}

/** A list that defaults to empty. */
export function list(ctx: Ctx, path: string, value: unknown): readonly unknown[] {
  if (isAbsent(value) || value === UNRESOLVED) return [];
  if (!Array.isArray(value)) {
    ctx.problems.error(path, `must be a list, not ${kindOf(value)}`);
    return [];
  }
  return value;
}

export function string(ctx: Ctx, path: string, value: unknown): string | undefined {
  if (value === UNRESOLVED) return undefined;
  if (typeof value !== 'string') {
    ctx.problems.error(path, `must be a string, not ${kindOf(value)}`);
    return undefined;
  }
  if (value.trim() === '') {
    ctx.problems.error(path, 'is empty');
    return undefined;
  }
  return value;
}

/** An integer; a string of digits is accepted too, since `${VAR}` always yields a string. */
export function integer(ctx: Ctx, path: string, value: unknown, min: number, max: number): number | undefined {
  if (value === UNRESOLVED) return undefined;
  const n = typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n)) {
    ctx.problems.error(path, `must be a whole number from ${min} to ${max}, not ${describe(value)}`);
    return undefined;
  }
  if (n < min || n > max) {
    ctx.problems.error(path, `${n} is out of range — use a whole number from ${min} to ${max}`);
    return undefined;
  }
  return n;
}

export function boolean(ctx: Ctx, path: string, value: unknown): boolean | undefined {
  if (value === UNRESOLVED) return undefined;
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  ctx.problems.error(path, `must be true or false, not ${describe(value)}`);
  return undefined;
}

export function oneOf<T extends string>(ctx: Ctx, path: string, value: unknown, options: readonly T[]): T | undefined {
  if (value === UNRESOLVED) return undefined;
  if (typeof value === 'string' && (options as readonly string[]).includes(value)) return value as T;
  const guess = typeof value === 'string' ? closest(value, options) : undefined;
  const hint = guess === undefined ? `use one of ${options.join(', ')}` : `did you mean ${guess}?`;
  ctx.problems.error(path, `${describe(value)} is not one of ${options.join(', ')} — ${hint}`);
  return undefined;
}

export interface DurationRule {
  readonly minMs: number;
  /** Words such as `off` that mean 0 (disabled) although 0 is below `minMs`. */
  readonly offWords?: readonly string[];
}

export function duration(ctx: Ctx, path: string, value: unknown, rule: DurationRule): number | undefined {
  if (value === UNRESOLVED) return undefined;
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string') {
    ctx.problems.error(path, `must be a duration like 30s, 15m or 8h, not ${kindOf(value)}`);
    return undefined;
  }
  if (rule.offWords?.includes(text.trim().toLowerCase())) return 0;
  const ms = tryParseDuration(text);
  if (ms === undefined) {
    const hint = /^\s*\d+(?:\.\d+)?\s*$/.test(text) ? ' — add a unit: ms, s, m, h or d' : '';
    ctx.problems.error(path, `${show(text)} is not a duration (like 30s, 15m, 8h or 1h30m)${hint}`);
    return undefined;
  }
  if (ms < rule.minMs) {
    const off = rule.offWords === undefined ? '' : `, or ${rule.offWords.map((w) => JSON.stringify(w)).join('/')} to disable`;
    ctx.problems.error(path, `${show(text)} is too short — use at least ${formatDuration(rule.minMs)}${off}`);
    return undefined;
  }
  return ms;
}

export function durationOrShare(ctx: Ctx, path: string, value: unknown): DurationOrShare | undefined {
  if (value === UNRESOLVED) return undefined;
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string') {
    ctx.problems.error(path, `must be a duration (like 8h) or a share (like 33%), not ${kindOf(value)}`);
    return undefined;
  }
  try {
    return parseDurationOrShare(text);
  } catch (err) {
    ctx.problems.error(path, err instanceof Error ? err.message : String(err));
    return undefined;
  }
}

function describe(value: unknown): string {
  return typeof value === 'string' ? show(value) : kindOf(value);
}
