/*
 * The timing of leadership, as pure functions of `ha.takeoverAfter` (default 15 s): a leader
 * that cannot reach PostgreSQL stops acting within it, and a standby takes over within it.
 *
 * The lock is a session-level advisory lock, which PostgreSQL releases when the session ends.
 * A leader killed or cut off cleanly (RST, pg_terminate_backend) ends it at once; a leader whose
 * network went silent is noticed by the server's TCP keepalives, which the lock connection sets
 * short: idle + interval × count after the last packet. The leader confirms its session with a
 * query every `checkEveryMs`; each confirmation restarts the server's idle timer, so the server
 * cannot drop the lock before `serverDropAfterMs` from the moment a confirmation was sent. The
 * leader therefore acts only while its last confirmation was sent less than `actWindowMs` ago,
 * well inside that bound. Fencing (the epoch every swap checks) is what makes a late commit
 * impossible; the window only keeps a cut-off leader from calling Dhan for nothing.
 */

export interface LeadershipTiming {
  /** Leader: confirm the session; standby: try the lock. */
  readonly checkEveryMs: number;
  /** A confirmation that takes longer than this counts as failed. */
  readonly queryTimeoutMs: number;
  /** The leader acts only while its last confirmation was sent less than this long ago. */
  readonly actWindowMs: number;
  readonly keepaliveIdleS: number;
  readonly keepaliveIntervalS: number;
  readonly keepaliveCount: number;
  /** The earliest the server can drop a silent leader's lock after its last confirmation. */
  readonly serverDropAfterMs: number;
  /** The latest a standby takes over after a silent leader's last confirmation. */
  readonly worstTakeoverMs: number;
  /**
   * A leader that lost its lock waits this long before competing again, so that a ready standby
   * takes over rather than the keeper whose connection just failed; alone, it still leads
   * again within takeoverAfter.
   */
  readonly standBackMs: number;
  /**
   * A standby ends the leader's session when its heartbeat (server time) is older than this:
   * a paused process keeps its connection, and so the lock, alive. By then a leader that runs
   * has long stopped acting (actWindowMs is shorter).
   */
  readonly staleHeartbeatMs: number;
}

export const DEFAULT_TAKEOVER_AFTER_MS = 15_000;
/** Below this, whole-second keepalives cannot fit the bound. */
export const MIN_TAKEOVER_AFTER_MS = 5_000;

export function leadershipTiming(takeoverAfterMs: number = DEFAULT_TAKEOVER_AFTER_MS): LeadershipTiming {
  if (!(takeoverAfterMs >= MIN_TAKEOVER_AFTER_MS)) {
    throw new RangeError(`takeoverAfter must be at least ${MIN_TAKEOVER_AFTER_MS} ms, got ${takeoverAfterMs}`);
  }
  const checkEveryMs = Math.floor(takeoverAfterMs / 5);
  // Keepalive settings are whole seconds, at least 1.
  const keepaliveIdleS = Math.max(1, Math.floor((takeoverAfterMs * 0.4) / 1000));
  const keepaliveIntervalS = Math.max(1, Math.floor(takeoverAfterMs / 10 / 1000));
  const keepaliveCount = 2;
  const serverDropAfterMs = (keepaliveIdleS + keepaliveIntervalS * keepaliveCount) * 1000;
  return {
    checkEveryMs,
    queryTimeoutMs: checkEveryMs,
    actWindowMs: Math.min(serverDropAfterMs, takeoverAfterMs) - checkEveryMs,
    keepaliveIdleS,
    keepaliveIntervalS,
    keepaliveCount,
    serverDropAfterMs,
    worstTakeoverMs: serverDropAfterMs + checkEveryMs,
    standBackMs: 2 * checkEveryMs,
    staleHeartbeatMs: takeoverAfterMs - checkEveryMs,
  };
}

/** Whether a leader may act now, given when it sent its last confirmation that succeeded. */
export function leaderMayAct(lastConfirmSentAt: number | undefined, now: number, timing: LeadershipTiming): boolean {
  return lastConfirmSentAt !== undefined && now >= lastConfirmSentAt && now - lastConfirmSentAt < timing.actWindowMs;
}
