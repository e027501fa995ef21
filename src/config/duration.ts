import { UsageError } from '../errors.js';
import type { DurationOrShare } from './config.js';

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;
const UNIT_ORDER: readonly Unit[] = ['d', 'h', 'm', 's', 'ms'];
// `ms` before `m`: the alternation is tried left to right.
const PART = /\s*(\d+(?:\.\d+)?)\s*(ms|d|h|m|s)\s*/y;
const SHARE = /^(\d+(?:\.\d+)?)\s*%$/;

/**
 * Milliseconds in a duration like `500ms`, `30s`, `15m`, `8h`, `1h30m`, `1d12h` or `90d`, or
 * undefined. Units must go from large to small, each at most once: `30m1h` or `1m30m` is
 * more likely a typo than an intent. A bare `0` is zero.
 */
export function tryParseDuration(input: string): number | undefined {
  const text = input.trim();
  if (text === '0') return 0;
  if (text === '') return undefined;
  let pos = 0;
  let total = 0;
  let lastRank = -1;
  while (pos < text.length) {
    PART.lastIndex = pos;
    const match = PART.exec(text);
    if (match === null) return undefined;
    const unit = match[2] as Unit;
    const rank = UNIT_ORDER.indexOf(unit);
    if (rank <= lastRank) return undefined;
    lastRank = rank;
    total += Number(match[1]) * UNIT_MS[unit];
    pos = PART.lastIndex;
  }
  const ms = Math.round(total);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** Milliseconds in a duration; throws a UsageError (exit 2 in the CLI) naming the input. */
export function parseDuration(input: string): number {
  const ms = tryParseDuration(input);
  if (ms !== undefined) return ms;
  const shown = JSON.stringify(input);
  if (/^\s*\d+(?:\.\d+)?\s*$/.test(input)) {
    const n = input.trim();
    throw new UsageError(`${shown} has no unit — write ${n}s, ${n}m or ${n}h`);
  }
  throw new UsageError(`${shown} is not a duration (like 30s, 15m, 8h, 1h30m or 90d)`);
}

/** `8h` → an absolute duration; `33%` → a share of the token's lifetime, strictly between 0 and 100 %. */
export function parseDurationOrShare(input: string): DurationOrShare {
  const share = SHARE.exec(input.trim());
  if (share !== null) {
    const percent = Number(share[1]);
    if (!(percent > 0 && percent < 100)) {
      throw new UsageError(`${JSON.stringify(input)} is not a share strictly between 0% and 100%`);
    }
    return { kind: 'share', ratio: percent / 100 };
  }
  const ms = tryParseDuration(input);
  if (ms === undefined) {
    throw new UsageError(`${JSON.stringify(input)} is not a duration (like 8h) or a share (like 33%)`);
  }
  return { kind: 'duration', ms };
}

/** The inverse of parseDuration for messages: 5400000 → `1h30m`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  let rest = ms;
  let out = '';
  for (const unit of UNIT_ORDER) {
    const count = Math.floor(rest / UNIT_MS[unit]);
    if (count > 0) {
      out += `${count}${unit}`;
      rest -= count * UNIT_MS[unit];
    }
  }
  return out;
}
