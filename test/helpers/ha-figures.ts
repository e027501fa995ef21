import type { DhanCall } from './dhan-recording-proxy.js';

/*
 * The chaos test's judgements, as pure functions over what it recorded: the proxies' calls, the
 * leadership row as polled, the keeper processes' lifetimes and the consumer's samples.
 */

export interface Interval {
  readonly start: number;
  readonly end: number;
}

/** One look at the `leadership` row: who led (the keeper's pid) under which epoch. */
export interface LeaderSample {
  readonly at: number;
  readonly epoch: number;
  readonly pid: number;
}

/** One keeper process in a slot: a slot is restarted with a new pid after each kill. */
export interface KeeperLife {
  readonly slot: number;
  readonly pid: number;
  readonly start: number;
  end: number | undefined;
}

const REFRESHES = new Set(['renew', 'generate']);

/** Pairs of renew/generate calls for one account whose time spans overlap, from any keepers. */
export function overlappingRefreshes(calls: readonly DhanCall[], now: number): Array<readonly [DhanCall, DhanCall]> {
  const byAccount = new Map<string, DhanCall[]>();
  for (const call of calls) {
    if (!REFRESHES.has(call.endpoint) || call.clientId === undefined) continue;
    const list = byAccount.get(call.clientId) ?? [];
    list.push(call);
    byAccount.set(call.clientId, list);
  }
  const pairs: Array<readonly [DhanCall, DhanCall]> = [];
  for (const list of byAccount.values()) {
    list.sort((a, b) => a.start - b.start);
    let open: DhanCall | undefined;
    for (const call of list) {
      if (open !== undefined && call.start < (open.end ?? now)) pairs.push([open, call]);
      if (open === undefined || (call.end ?? now) > (open.end ?? now)) open = call;
    }
  }
  return pairs;
}

/** The pid that ran in `slot` at moment `at`. */
export function pidAt(lives: readonly KeeperLife[], slot: number, at: number): number | undefined {
  return lives.find((l) => l.slot === slot && l.start <= at && (l.end === undefined || at <= l.end))?.pid;
}

/**
 * Whether the leadership row shows someone other than `pid` leading at `at`: the samples on
 * both sides of the moment must agree, so that the polling interval never convicts a leader
 * whose takeover fell between two looks.
 */
export function otherLeaderAt(samples: readonly LeaderSample[], pid: number, at: number): boolean {
  let before: LeaderSample | undefined;
  let after: LeaderSample | undefined;
  for (const s of samples) {
    if (s.at <= at) before = s;
    else {
      after = s;
      break;
    }
  }
  if (before === undefined) return false;
  if (after === undefined) return before.pid !== pid;
  // Two epochs apart, this pid may have led in between.
  return before.pid !== pid && after.pid !== pid && after.epoch - before.epoch <= 1;
}

/** Dhan calls made by a keeper while the leadership row showed another keeper leading. */
export function callsFromNonLeaders(
  calls: readonly DhanCall[],
  lives: readonly KeeperLife[],
  samples: readonly LeaderSample[],
): DhanCall[] {
  return calls.filter((call) => {
    const pid = pidAt(lives, call.keeper, call.start);
    return pid !== undefined && otherLeaderAt(samples, pid, call.start);
  });
}

export interface Takeover {
  readonly at: number;
  readonly epoch: number;
  readonly pid: number;
}

/** Every change of epoch the samples saw, in order (the first leader is not a takeover). */
export function takeovers(samples: readonly LeaderSample[]): Takeover[] {
  const out: Takeover[] = [];
  let last: LeaderSample | undefined;
  for (const s of samples) {
    if (last !== undefined && s.epoch !== last.epoch) out.push({ at: s.at, epoch: s.epoch, pid: s.pid });
    last = s;
  }
  return out;
}

/** Samples of whether the consumer's token was live: the dead stretches, from the first live one. */
export function deadIntervals(samples: ReadonlyArray<{ readonly at: number; readonly live: boolean }>): Interval[] {
  const out: Interval[] = [];
  let seenLive = false;
  let deadSince: number | undefined;
  for (const { at, live } of samples) {
    if (live) {
      if (deadSince !== undefined) out.push({ start: deadSince, end: at });
      deadSince = undefined;
      seenLive = true;
    } else if (seenLive) deadSince ??= at;
  }
  const last = samples.at(-1);
  if (deadSince !== undefined && last !== undefined) out.push({ start: deadSince, end: last.at });
  return out;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
