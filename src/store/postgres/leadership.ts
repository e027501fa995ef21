import pg from 'pg';
import type { ClientConfig } from 'pg';
import { systemClock, type Clock, type Timer } from '../../clock.js';
import type { LeaseOwner } from '../records.js';
import { leaderMayAct, leadershipTiming, type LeadershipTiming } from './leadership-timing.js';
import { pgTypes } from './pg-types.js';

/** Who leads, as the shared database records it (for `status`, `/v1/status` and metrics). */
export interface LeaderInfo {
  readonly epoch: number;
  readonly host: string;
  readonly pid: number;
  /** When this leader took over, epoch ms. */
  readonly since: number;
}

/** What a swap carries to prove it was started by the current leader; see PostgresStore.saveToken. */
export interface LeaderFence {
  readonly epoch: number;
}

export type LeadershipState =
  | { readonly role: 'leader'; readonly epoch: number; readonly since: number }
  | { readonly role: 'standby'; readonly reason: string };

export interface LeadershipOptions {
  /** node-postgres settings for the dedicated lock connection (never a pool's). */
  readonly connection: ClientConfig;
  readonly schema?: string | undefined;
  readonly owner: LeaseOwner;
  /** `ha.takeoverAfter`: default 15 s. */
  readonly takeoverAfterMs?: number;
  readonly clock?: Clock;
  /** Called on every change of role, in order. Must not throw. */
  readonly onChange?: (state: LeadershipState) => void;
}

// One lock per schema: keepers of different installations may share a database.
const LOCK_KEY = `hashtext('dhan-token-keeper leadership ' || current_schema())`;
const SERVER_NOW = `(extract(epoch FROM clock_timestamp()) * 1000)::bigint`;

/**
 * Exactly one keeper acting on Dhan, among several sharing a PostgreSQL database.
 *
 * Leadership is a session-level advisory lock held on a connection of its own: PostgreSQL
 * releases it when that session ends, however the keeper died. Each takeover bumps the epoch in
 * the `leadership` row; every swap commits only under the epoch it was started with (the fence),
 * so a leader that lost its session can never commit a token afterwards, even one whose Dhan
 * call was already in flight. Timing: see leadership-timing.ts.
 */
export class Leadership {
  readonly timing: LeadershipTiming;
  readonly #options: LeadershipOptions;
  readonly #clock: Clock;
  #client: pg.Client | undefined;
  #backendPid: number | undefined;
  #epoch: number | undefined;
  #since: number | undefined;
  #lastConfirmSentAt: number | undefined;
  #timer: Timer | undefined;
  #tick: Promise<void> | undefined;
  #stopped = true;
  #standBackUntil = 0;

  constructor(options: LeadershipOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.timing = leadershipTiming(options.takeoverAfterMs);
  }

  /** Tries at once, then every `timing.checkEveryMs`. Resolves after the first try. */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.#runTick();
  }

  /** Gives leadership up at once (a standby takes over on its next try) and stops trying. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    await this.#tick;
    const client = this.#client;
    if (client !== undefined && this.#epoch !== undefined) {
      await client.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`).catch(() => undefined);
    }
    this.#demote('stopped', false);
  }

  /** The fence for a swap while this keeper may act, else undefined: do not call Dhan. */
  fence(): LeaderFence | undefined {
    if (this.#epoch === undefined || !leaderMayAct(this.#lastConfirmSentAt, this.#clock.now(), this.timing))
      return undefined;
    return { epoch: this.#epoch };
  }

  isLeader(): boolean {
    return this.fence() !== undefined;
  }

  /** The server pid of the lock connection (what pg_terminate_backend takes), for tests and ops. */
  get backendPid(): number | undefined {
    return this.#backendPid;
  }

  /** The leader as the database records it, read on the lock connection. */
  async leader(): Promise<LeaderInfo | undefined> {
    const client = this.#client ?? (await this.#connect());
    const r = await client.query<LeaderInfo>(`SELECT epoch, host, pid, since FROM leadership WHERE id = 1`);
    return r.rows[0];
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimer(this.timing.checkEveryMs, () => void this.#runTick());
  }

  async #runTick(): Promise<void> {
    if (this.#tick !== undefined) return this.#tick;
    this.#tick = this.#check()
      .catch((err: unknown) => this.#demote(`lost the connection to PostgreSQL (${(err as Error).message})`, true))
      .finally(() => {
        this.#tick = undefined;
        this.#schedule();
      });
    return this.#tick;
  }

  async #check(): Promise<void> {
    if (this.#stopped) return;
    const client = this.#client ?? (await this.#connect());
    const sentAt = this.#clock.now();
    if (this.#epoch !== undefined) {
      // A heartbeat that commits proves the session, and so the lock, is still ours.
      const r = await client.query<{ epoch: number }>(
        `UPDATE leadership SET heartbeat_at = ${SERVER_NOW} WHERE id = 1 AND epoch = $1 RETURNING epoch`,
        [this.#epoch],
      );
      if (r.rows[0]?.epoch !== this.#epoch) {
        this.#demote('another keeper took over', true);
        return;
      }
      this.#lastConfirmSentAt = sentAt;
      return;
    }
    if (sentAt < this.#standBackUntil) return;
    if (!(await this.#tryLock(client))) {
      // A leader whose heartbeat stopped but whose session lives on (a paused process, a hung
      // event loop) would hold the lock forever: end its session, then try again at once.
      const stale = await client.query<{ backend_pid: number }>(
        `SELECT backend_pid FROM leadership WHERE id = 1 AND ${SERVER_NOW} - heartbeat_at > $1`,
        [this.timing.staleHeartbeatMs],
      );
      const victim = stale.rows[0]?.backend_pid;
      if (victim === undefined) return;
      await client.query('SELECT pg_terminate_backend($1, $2)', [victim, Math.floor(this.timing.queryTimeoutMs / 2)]);
      if (!(await this.#tryLock(client))) return;
    }
    const { host, pid } = this.#options.owner;
    const r = await client.query<{ epoch: number }>(
      `INSERT INTO leadership (id, epoch, host, pid, since, heartbeat_at, backend_pid) VALUES (1, 1, $1, $2, $3, ${SERVER_NOW}, pg_backend_pid())
       ON CONFLICT (id) DO UPDATE SET epoch = leadership.epoch + 1, host = excluded.host, pid = excluded.pid, since = excluded.since,
         heartbeat_at = excluded.heartbeat_at, backend_pid = excluded.backend_pid
       RETURNING epoch`,
      [host, pid, sentAt],
    );
    this.#epoch = r.rows[0]!.epoch;
    this.#since = sentAt;
    this.#lastConfirmSentAt = sentAt;
    this.#options.onChange?.({ role: 'leader', epoch: this.#epoch, since: this.#since });
  }

  async #tryLock(client: pg.Client): Promise<boolean> {
    const got = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(${LOCK_KEY}) AS ok`);
    return got.rows[0]?.ok === true;
  }

  async #connect(): Promise<pg.Client> {
    const t = this.timing;
    const settings = [
      this.#options.schema === undefined ? '' : `-c search_path=${this.#options.schema}`,
      // The server notices a silent leader within serverDropAfterMs and drops its lock.
      `-c tcp_keepalives_idle=${t.keepaliveIdleS}`,
      `-c tcp_keepalives_interval=${t.keepaliveIntervalS}`,
      `-c tcp_keepalives_count=${t.keepaliveCount}`,
    ];
    const client = new pg.Client({
      ...this.#options.connection,
      options: [this.#options.connection.options, ...settings].filter(Boolean).join(' '),
      query_timeout: t.queryTimeoutMs,
      connectionTimeoutMillis: t.queryTimeoutMs,
      keepAlive: true,
      types: pgTypes,
    });
    // A terminated session must demote at once, not at the next check.
    client.on('error', (err) => this.#lost(client, `lost the connection to PostgreSQL (${err.message})`));
    client.on('end', () => this.#lost(client, 'the connection to PostgreSQL ended'));
    try {
      await client.connect();
      const r = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      this.#backendPid = r.rows[0]?.pid;
    } catch (err) {
      client.end().catch(() => undefined);
      throw err;
    }
    this.#client = client;
    return client;
  }

  #lost(client: pg.Client, reason: string): void {
    if (this.#client === client) this.#demote(reason, true);
  }

  #demote(reason: string, notify: boolean): void {
    const client = this.#client;
    this.#client = undefined;
    this.#backendPid = undefined;
    const wasLeader = this.#epoch !== undefined;
    if (wasLeader && notify) this.#standBackUntil = this.#clock.now() + this.timing.standBackMs;
    this.#epoch = undefined;
    this.#since = undefined;
    this.#lastConfirmSentAt = undefined;
    client?.end().catch(() => undefined);
    if (notify && wasLeader) this.#options.onChange?.({ role: 'standby', reason });
  }
}
