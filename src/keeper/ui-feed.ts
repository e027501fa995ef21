import type { Clock } from '../clock.js';
import type { Config } from '../config/config.js';
import type { DhanCallReport } from '../dhan/dhan-api.js';
import type { SinkResult } from '../publish/sink-result.js';
import type { KeeperFacts, SinkReport, UiAction, UiSource } from '../server/ui-types.js';
import type { AsyncStore } from '../store/contract.js';
import type { HistoryEvent } from '../store/records.js';
import type { StoredToken } from '../tokens.js';
import { VERSION } from '../version.js';
import { weekOfWindows } from './avoid-week.js';
import type { CommandOutcome } from './account-commands.js';

/** How stale the shaded windows may be at their edges: the timeline is a week wide. */
const AVOID_CACHE_MS = 60_000;
const HISTORY_LIMIT = 2000;

/**
 * The daemon's side of the status page: what only a running keeper knows (uptime, the last
 * clock skew, each sink's last result) plus reads of the store, and the page's actions handed
 * to the same request queue the CLI uses.
 */
/** What the page needs from the keeper beside the store. */
export interface UiFeedKeeper {
  /** The current token of an account as the keeper holds it (no database read per page refresh). */
  current(clientId: string): StoredToken | undefined;
  /** Hands a page's action to the keeper that acts (this one, or the leader on PostgreSQL). */
  submit(clientId: string, action: UiAction): Promise<CommandOutcome>;
  role(): KeeperFacts['role'];
}

export class UiFeed implements UiSource {
  private readonly startedAt: number;
  private clockSkewMs: number | null = null;
  private readonly sinks = new Map<string, SinkReport>();
  private avoidCache: { key: string; value: ReadonlyArray<{ start: number; end: number }> } | undefined;

  constructor(
    private readonly config: Config,
    private readonly store: AsyncStore,
    private readonly clock: Clock,
    private readonly keeper: UiFeedKeeper,
  ) {
    this.startedAt = clock.now();
  }

  /** From the Dhan client's call reports; must not throw. */
  recordDhanCall(report: DhanCallReport): void {
    if (report.clockSkewMs !== undefined) this.clockSkewMs = report.clockSkewMs;
  }

  /** From the publisher; must not throw. Skipped sinks (a newer token got there first) say nothing new. */
  recordSink(result: SinkResult): void {
    if (result.attempts === 0) return;
    this.sinks.set(`${result.clientId}\u0000${result.sink}`, {
      clientId: result.clientId,
      sink: result.sink,
      type: result.type,
      ok: result.ok,
      at: this.clock.now(),
      error: result.error ?? null,
    });
  }

  facts(): KeeperFacts {
    return {
      version: VERSION,
      startedAt: this.startedAt,
      role: this.keeper.role(),
      clockSkewMs: this.clockSkewMs,
      sinks: [...this.sinks.values()],
    };
  }

  tokenTimes(clientId: string): { obtainedAt: number; expiresAt: number } | undefined {
    const token = this.keeper.current(clientId);
    return token ? { obtainedAt: token.obtainedAt, expiresAt: token.expiresAt } : undefined;
  }

  async history(clientId: string, since: number): Promise<readonly HistoryEvent[]> {
    return (await this.store.listEvents({ clientId, limit: HISTORY_LIMIT })).filter((e) => e.at >= since);
  }

  avoidIntervals(from: number, to: number): ReadonlyArray<{ start: number; end: number }> {
    const windows = this.config.renewal.avoid;
    if (windows.length === 0) return [];
    // The page asks every few seconds; a week of windows changes only when a day turns.
    const key = `${Math.floor(from / AVOID_CACHE_MS)}:${Math.floor(to / AVOID_CACHE_MS)}`;
    if (this.avoidCache?.key === key) return this.avoidCache.value;
    const value = weekOfWindows(windows, from, to);
    this.avoidCache = { key, value };
    return value;
  }

  submit(clientId: string, action: UiAction) {
    return this.keeper.submit(clientId, action);
  }
}
