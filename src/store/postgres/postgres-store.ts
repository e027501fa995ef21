import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import type { PoolClient, PoolConfig, QueryResultRow } from 'pg';
import { KeeperError } from '../../errors.js';
import type { StoredToken } from '../../tokens.js';
import type { AsyncConsentStore, AsyncStore } from '../contract.js';
import {
  accountParams,
  applyPatch,
  DEFAULT_EVENT_LIMIT,
  DEFAULT_TOKEN_LIMIT,
  eventParams,
  keyMissing,
  keyWrong,
  toAccount,
  toEvent,
  toLeaseHolder,
  toRequest,
  toToken,
  unknownAccount,
  type AccountRow,
  type EventParams,
  type EventQuery,
  type EventRow,
  type LeaseResult,
  type LeaseRow,
  type NewAccount,
  type RekeyResult,
  type RequestRow,
  type TokenRow,
} from '../store.js';
import { isSealed, requestBinding, TokenSeal, tokenBinding } from '../token-seal.js';
import type {
  AccountPatch,
  AccountRecord,
  EventOutcome,
  HistoryEvent,
  KeeperRequest,
  LeaseHolder,
  LeaseOwner,
  NewEvent,
  NewToken,
  RequestAction,
} from '../records.js';
import type { LeaderFence, LeaderInfo } from './leadership.js';
import { pgCheckReadable, pgMigrate } from './migrations.js';
import { PgConsentStore } from './pg-consents.js';
import { pgTypes } from './pg-types.js';
import { redactUrl, SCHEMA_NAME, SCHEMA_NAME_RULE } from './connection.js';
import { REQUEST_CHANNEL } from './request-listener.js';
import { SWAP_CHANNEL } from './swap-listener.js';

export interface PostgresStoreOptions {
  /** node-postgres connection settings: a connectionString, and TLS (`ssl`) as it takes them. */
  readonly connection: PoolConfig;
  /** A schema to work in (created by a writer if missing); default: the server's search_path. */
  readonly schema?: string | undefined;
  /** Never creates, migrates or writes anything (every transaction is read-only). */
  readonly readonly?: boolean;
  /** See StoreOptions.key: the same sealing as SQLite's. */
  readonly key?: Buffer | undefined;
  readonly withoutKey?: 'refuse' | 'hide-tokens';
  /** Connections in the pool. Default 4. */
  readonly maxConnections?: number;
}

type Queryable = Pick<PoolClient, 'query'>;

export { redactUrl };

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Everything the keeper persists, in PostgreSQL, behind the same contract as SQLite (the same
 * behaviour suite runs against both). Every write commits with synchronous_commit on before
 * its promise resolves. Queries are parameterised and named, so each connection prepares them
 * once. Tokens are sealed with the same TokenSeal as SQLite's.
 */
export class PostgresStore implements AsyncStore {
  readonly location: string;
  readonly readonly: boolean;
  readonly #pool: pg.Pool;
  readonly #tx = new AsyncLocalStorage<{ client: PoolClient; depth: number }>();
  /** Outermost transactions running now (they may overlap: each has its own pooled connection). */
  #open = 0;
  #seal: TokenSeal | undefined;
  readonly #hideSealed: boolean;
  readonly consents: AsyncConsentStore;

  private constructor(
    pool: pg.Pool,
    location: string,
    readonly: boolean,
    seal: TokenSeal | undefined,
    hideSealed: boolean,
  ) {
    this.#pool = pool;
    this.location = location;
    this.readonly = readonly;
    this.#seal = seal;
    this.#hideSealed = hideSealed;
    this.consents = new PgConsentStore((name, text, values) => this.#q(name, text, values));
  }

  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const readonly = options.readonly ?? false;
    if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
      throw new KeeperError('store-options', `schema "${options.schema}" must be ${SCHEMA_NAME_RULE}`);
    }
    const location =
      redactUrl(options.connection.connectionString) +
      (options.schema === undefined ? '' : ` (schema ${options.schema})`);
    const settings = ['-c synchronous_commit=on'];
    if (options.schema !== undefined) settings.push(`-c search_path=${options.schema}`);
    if (readonly) settings.push('-c default_transaction_read_only=on');
    const pool = new pg.Pool({
      ...options.connection,
      max: options.maxConnections ?? 4,
      options: [options.connection.options, ...settings].filter(Boolean).join(' '),
      types: pgTypes,
    });
    // An idle connection cut by the server (a restart, pg_terminate_backend) must not crash the
    // process: the pool drops it and the next query opens a new one.
    pool.on('error', () => undefined);
    try {
      const client = await pool.connect();
      try {
        if (readonly) {
          await pgCheckReadable(client, location);
        } else {
          await pgMigrate(client, location, options.schema === undefined ? undefined : quoteIdent(options.schema));
        }
      } finally {
        client.release();
      }
      const seal = options.key === undefined ? undefined : new TokenSeal(options.key);
      // Only a reader may go without the key: a writer would add plaintext rows to a sealed database.
      const store = new PostgresStore(pool, location, readonly, seal, readonly && options.withoutKey === 'hide-tokens');
      await store.#checkKey();
      return store;
    } catch (err) {
      await pool.end();
      throw err;
    }
  }

  get keyId(): string | undefined {
    return this.#seal?.keyId;
  }

  /** Waits for the queries in flight; closing twice is harmless, like SQLite's. */
  async close(): Promise<void> {
    if (this.#pool.ended || this.#pool.ending) return;
    await this.#pool.end();
  }

  /** A server setting as this store's connections see it, for checks and tests. */
  async setting(name: string): Promise<string | undefined> {
    return (await this.#one<{ v: string }>('show-setting', 'SELECT current_setting($1) AS v', [name]))?.v;
  }

  async #q<R extends QueryResultRow>(name: string, text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    const db: Queryable = this.#tx.getStore()?.client ?? this.#pool;
    return db.query<R>({ name, text, values });
  }

  async #rows<R extends QueryResultRow>(name: string, text: string, values: unknown[] = []): Promise<R[]> {
    return (await this.#q<R>(name, text, values)).rows;
  }

  async #one<R extends QueryResultRow>(name: string, text: string, values: unknown[] = []): Promise<R | undefined> {
    return (await this.#q<R>(name, text, values)).rows[0];
  }

  async #count(name: string, text: string, values: unknown[] = []): Promise<number> {
    return (await this.#q(name, text, values)).rowCount ?? 0;
  }

  /**
   * `tx` is this store itself: its queries find the transaction's connection through an
   * AsyncLocalStorage, so calls on the store from inside fn join the transaction too. (The
   * SQLite store passes a view instead, and needs no async context.)
   */
  async transaction<T>(fn: (tx: AsyncStore) => Promise<T>): Promise<T> {
    const outer = this.#tx.getStore();
    if (outer !== undefined) {
      const sp = `sp_${outer.depth}`;
      await outer.client.query(`SAVEPOINT ${sp}`);
      try {
        const result = await this.#tx.run({ client: outer.client, depth: outer.depth + 1 }, () => fn(this));
        await outer.client.query(`RELEASE SAVEPOINT ${sp}`);
        return result;
      } catch (err) {
        await outer.client.query(`ROLLBACK TO SAVEPOINT ${sp}`);
        throw err;
      }
    }
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    this.#open++;
    try {
      await client.query('BEGIN');
      let result: T;
      try {
        result = await this.#tx.run({ client, depth: 1 }, () => fn(this));
      } catch (err) {
        await client.query('ROLLBACK').catch((e: unknown) => (broken = e instanceof Error ? e : new Error(String(e))));
        throw err;
      }
      await client.query('COMMIT');
      return result;
    } catch (err) {
      // A connection that failed mid-transaction is not reused.
      if (isConnectionError(err)) broken = err as Error;
      throw err;
    } finally {
      client.release(broken);
      // On Node 20 an AsyncLocalStorage, once run, keeps an async hook on every async resource
      // and promise in the process for good (the token API paid about a tenth of its CPU per
      // request for it). With no transaction open the context has nothing to carry; the next
      // run() enables it again.
      if (--this.#open === 0) this.#tx.disable();
    }
  }

  // ---- sealing ----

  async #checkKey(): Promise<void> {
    const check = (
      await this.#one<{ value: string }>('get-meta', `SELECT value FROM meta WHERE key = $1`, ['key_check'])
    )?.value;
    const seal = this.#seal;
    if (seal === undefined) {
      const anySealed = await this.#one(
        'any-sealed',
        `SELECT 1 FROM tokens WHERE left(access_token, 11) = 'dtk-sealed:' LIMIT 1`,
      );
      if ((check !== undefined || anySealed !== undefined) && !this.#hideSealed) throw keyMissing(this.location);
      return;
    }
    if (check !== undefined) {
      if (!seal.verifies(check)) throw keyWrong(this.location, check);
      return;
    }
    if (this.readonly) return;
    await this.transaction(async () => {
      // Two keepers given the key at once: the second waits here, then finds the check.
      await this.#q('lock-meta', 'LOCK TABLE meta IN EXCLUSIVE MODE');
      const again = await this.#one<{ value: string }>('get-meta', `SELECT value FROM meta WHERE key = $1`, [
        'key_check',
      ]);
      if (again !== undefined) {
        if (!seal.verifies(again.value)) throw keyWrong(this.location, again.value);
        return;
      }
      await this.#resealAll(seal);
      await this.#putMeta('key_check', seal.keyCheck());
    });
  }

  async #putMeta(key: string, value: string): Promise<void> {
    await this.#q(
      'put-meta',
      `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      [key, value],
    );
  }

  async rotateKey(next: Buffer): Promise<RekeyResult> {
    const seal = new TokenSeal(next);
    const result = await this.transaction(async () => {
      await this.#q('lock-meta', 'LOCK TABLE meta IN EXCLUSIVE MODE');
      const counts = await this.#resealAll(seal);
      await this.#putMeta('key_check', seal.keyCheck());
      return counts;
    });
    this.#seal = seal;
    return result;
  }

  async #resealAll(seal: TokenSeal): Promise<RekeyResult> {
    let tokens = 0;
    const tokenRows = await this.#rows<{ id: number; client_id: string; access_token: string }>(
      'all-token-texts',
      `SELECT id, client_id, access_token FROM tokens WHERE access_token <> '' ORDER BY id FOR UPDATE`,
    );
    for (const row of tokenRows) {
      const binding = tokenBinding(row.id, row.client_id);
      await this.#q('set-token-text', `UPDATE tokens SET access_token = $2 WHERE id = $1`, [
        row.id,
        seal.seal(this.#openText(row.access_token, binding), binding),
      ]);
      tokens++;
    }
    let requests = 0;
    const payloads = await this.#rows<{ id: number; client_id: string; payload: string }>(
      'all-payloads',
      `SELECT id, client_id, payload FROM requests WHERE payload IS NOT NULL ORDER BY id FOR UPDATE`,
    );
    for (const row of payloads) {
      const binding = requestBinding(row.id, row.client_id);
      await this.#q('set-payload', `UPDATE requests SET payload = $2 WHERE id = $1`, [
        row.id,
        seal.seal(this.#openText(row.payload, binding), binding),
      ]);
      requests++;
    }
    return { tokens, requests };
  }

  #openText(value: string, binding: string): string {
    if (!isSealed(value)) return value;
    if (this.#seal === undefined) {
      if (this.#hideSealed) return '';
      throw keyMissing(this.location);
    }
    return this.#seal.open(value, binding);
  }

  #token(r: TokenRow): StoredToken {
    return toToken({ ...r, access_token: this.#openText(r.access_token, tokenBinding(r.id, r.client_id)) });
  }

  #request(r: RequestRow): KeeperRequest {
    return toRequest(
      r.payload === null ? r : { ...r, payload: this.#openText(r.payload, requestBinding(r.id, r.client_id)) },
    );
  }

  // ---- accounts ----

  async upsertAccount(a: NewAccount): Promise<AccountRecord> {
    const row = await this.#one<AccountRow>(
      'upsert-account',
      `INSERT INTO accounts (client_id, name, mode) VALUES ($1, $2, $3)
       ON CONFLICT (client_id) DO UPDATE SET name = excluded.name, mode = excluded.mode RETURNING *`,
      [a.clientId, a.name, a.mode],
    );
    return toAccount(row!);
  }

  async getAccount(clientId: string): Promise<AccountRecord | undefined> {
    const row = await this.#one<AccountRow>('get-account', `SELECT * FROM accounts WHERE client_id = $1`, [clientId]);
    return row === undefined ? undefined : toAccount(row);
  }

  async listAccounts(): Promise<AccountRecord[]> {
    return (await this.#rows<AccountRow>('list-accounts', `SELECT * FROM accounts ORDER BY client_id COLLATE "C"`)).map(
      toAccount,
    );
  }

  async updateAccount(clientId: string, patch: AccountPatch): Promise<AccountRecord> {
    return this.transaction(async () => {
      const row = await this.#one<AccountRow>(
        'get-account-for-update',
        `SELECT * FROM accounts WHERE client_id = $1 FOR UPDATE`,
        [clientId],
      );
      if (row === undefined) throw unknownAccount(clientId);
      const p = accountParams({ ...applyPatch(toAccount(row), patch), clientId });
      const updated = await this.#one<AccountRow>(
        'update-account',
        `UPDATE accounts SET name = $2, mode = $3, attention_state = $4, renew_refused_kinds = $5,
           last_generate_at = $6, consecutive_failures = $7, last_success_at = $8, last_attempt_at = $9, last_result = $10,
           next_action_at = $11, last_totp_step = $12, generation_attempts = $13
         WHERE client_id = $1 RETURNING *`,
        [
          p.clientId,
          p.name,
          p.mode,
          p.attention,
          p.renewRefusedKinds,
          p.lastGenerateAt,
          p.consecutiveFailures,
          p.lastSuccessAt,
          p.lastAttemptAt,
          p.lastResult,
          p.nextActionAt,
          p.lastTotpStep,
          p.generationAttempts,
        ],
      );
      return toAccount(updated!);
    });
  }

  // ---- tokens ----

  /**
   * With a fence (see leadership.ts), the swap commits only if the leadership epoch is still the
   * fence's: FOR SHARE holds the epoch row until commit, so a takeover (which updates that row)
   * waits for a swap in progress, and a swap after a takeover sees the new epoch and is refused.
   */
  async checkFence(fence: LeaderFence): Promise<void> {
    const row = await this.#one<LeaderInfo>(
      'check-fence',
      `SELECT epoch, host, pid, since FROM leadership WHERE id = 1 FOR SHARE`,
    );
    if (row?.epoch !== fence.epoch) {
      const now =
        row === undefined ? 'no keeper leads' : `keeper pid ${row.pid} on ${row.host} leads with epoch ${row.epoch}`;
      throw new KeeperError('not-leader', `refusing to commit for leadership epoch ${fence.epoch}: ${now}`, {
        hint: 'this keeper lost its leadership; the new leader re-checks the stored token and finishes the refresh',
      });
    }
  }

  /**
   * The leader as the database records it, with how long ago (on the server's clock) it last
   * confirmed its lock: the CLI hands commands to it while it is fresh, `status` shows it.
   */
  async leader(): Promise<(LeaderInfo & { readonly heartbeatAgeMs: number }) | undefined> {
    return this.#one<LeaderInfo & { heartbeatAgeMs: number }>(
      'leader',
      `SELECT epoch, host, pid, since, (extract(epoch FROM clock_timestamp()) * 1000)::bigint - heartbeat_at AS "heartbeatAgeMs" FROM leadership WHERE id = 1`,
    );
  }

  async saveToken(t: NewToken, fence?: LeaderFence): Promise<StoredToken> {
    if (t.accessToken === '') {
      throw new KeeperError('store-empty-token', `refusing to store an empty access token for ${t.clientId}`);
    }
    return this.transaction(async () => {
      if (fence !== undefined) await this.checkFence(fence);
      // Locks the account row: two saves for one account queue instead of both superseding.
      const account = await this.#one('lock-account', `SELECT 1 FROM accounts WHERE client_id = $1 FOR UPDATE`, [
        t.clientId,
      ]);
      if (account === undefined) throw unknownAccount(t.clientId);
      await this.#q(
        'supersede-current',
        `UPDATE tokens SET superseded_at = $2 WHERE client_id = $1 AND superseded_at IS NULL`,
        [t.clientId, t.obtainedAt],
      );
      const id = (await this.#one<{ id: number }>('next-token-id', `SELECT nextval('tokens_id_seq') AS id`))!.id;
      const text =
        this.#seal === undefined ? t.accessToken : this.#seal.seal(t.accessToken, tokenBinding(id, t.clientId));
      const row = await this.#one<TokenRow>(
        'insert-token',
        `INSERT INTO tokens (id, client_id, access_token, source, obtained_at, expires_at, expiry_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
        [id, t.clientId, text, t.source, t.obtainedAt, t.expiresAt, t.expiryTime],
      );
      // Delivered to the standbys' listeners at commit, never before (swap-listener.ts).
      await this.#q(
        'notify-swap',
        `SELECT pg_notify($1, json_build_object('schema', current_schema(), 'clientId', $2::text, 'tokenId', $3::bigint)::text)`,
        [SWAP_CHANNEL, t.clientId, id],
      );
      return this.#token(row!);
    });
  }

  async currentToken(clientId: string): Promise<StoredToken | undefined> {
    const row = await this.#one<TokenRow>(
      'current-token',
      `SELECT * FROM tokens WHERE client_id = $1 AND superseded_at IS NULL ORDER BY id DESC LIMIT 1`,
      [clientId],
    );
    return row === undefined ? undefined : this.#token(row);
  }

  async currentTokens(): Promise<StoredToken[]> {
    // One row per account without grouping: tokens_one_current, unique over the rows with
    // superseded_at IS NULL, allows no more, and with its predicate the planner reads the current
    // rows through that index instead of the whole history. Unordered: at 10,000 accounts a sort
    // spilled to disk and took most of the query's time, for an order no caller needs.
    const rows = await this.#rows<TokenRow>('current-tokens', `SELECT * FROM tokens WHERE superseded_at IS NULL`);
    return rows.map((r) => this.#token(r));
  }

  async markTokenDead(tokenId: number, at: number): Promise<boolean> {
    return (
      (await this.#count(
        'mark-token-dead',
        `UPDATE tokens SET superseded_at = $2 WHERE id = $1 AND superseded_at IS NULL`,
        [tokenId, at],
      )) === 1
    );
  }

  async listTokens(clientId: string, limit: number = DEFAULT_TOKEN_LIMIT): Promise<StoredToken[]> {
    const rows = await this.#rows<TokenRow>(
      'list-tokens',
      `SELECT * FROM tokens WHERE client_id = $1 ORDER BY id DESC LIMIT $2`,
      [clientId, limit],
    );
    return rows.map((r) => this.#token(r));
  }

  async pruneTokenSecrets(olderThan: number): Promise<number> {
    return this.#count(
      'prune-token-secrets',
      `UPDATE tokens SET access_token = '' WHERE superseded_at IS NOT NULL AND superseded_at < $1 AND access_token <> ''`,
      [olderThan],
    );
  }

  // ---- history ----

  async #insertEvent(p: EventParams): Promise<EventRow> {
    const row = await this.#one<EventRow>(
      'insert-event',
      `INSERT INTO events (client_id, at, kind, result, error_kind, error_code, message, duration_ms, expiry_before, expiry_after, detail)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
      [
        p.clientId,
        p.at,
        p.kind,
        p.result,
        p.errorKind,
        p.errorCode,
        p.message,
        p.durationMs,
        p.expiryBefore,
        p.expiryAfter,
        p.detail,
      ],
    );
    return row!;
  }

  async addEvent(e: NewEvent): Promise<HistoryEvent> {
    return toEvent(await this.#insertEvent(eventParams(e)));
  }

  async beginEvent(e: Omit<NewEvent, 'result'>): Promise<number> {
    return (await this.#insertEvent(eventParams({ ...e, result: 'pending' }))).id;
  }

  async finishEvent(id: number, outcome: EventOutcome): Promise<boolean> {
    return this.transaction(async () => {
      const row = await this.#one<EventRow>('get-event-for-update', `SELECT * FROM events WHERE id = $1 FOR UPDATE`, [
        id,
      ]);
      if (row === undefined || row.result !== 'pending') return false;
      const current = toEvent(row);
      const detail =
        outcome.detail === undefined || outcome.detail === null || current.detail === null
          ? (outcome.detail ?? current.detail)
          : { ...current.detail, ...outcome.detail };
      const p = eventParams({ ...applyPatch(current, outcome), detail });
      await this.#q(
        'update-event',
        `UPDATE events SET result = $2, error_kind = $3, error_code = $4, message = $5, duration_ms = $6,
           expiry_before = $7, expiry_after = $8, detail = $9 WHERE id = $1`,
        [id, p.result, p.errorKind, p.errorCode, p.message, p.durationMs, p.expiryBefore, p.expiryAfter, p.detail],
      );
      return true;
    });
  }

  async getEvent(id: number): Promise<HistoryEvent | undefined> {
    const row = await this.#one<EventRow>('get-event', `SELECT * FROM events WHERE id = $1`, [id]);
    return row === undefined ? undefined : toEvent(row);
  }

  async listEvents(query: EventQuery = {}): Promise<HistoryEvent[]> {
    const limit = query.limit ?? DEFAULT_EVENT_LIMIT;
    const kinds = query.kinds === undefined ? null : [...query.kinds];
    const rows = await this.#rows<EventRow>(
      'list-events',
      `SELECT * FROM events WHERE ($1::text IS NULL OR client_id = $1) AND ($2::text[] IS NULL OR kind = ANY ($2))
       ORDER BY at DESC, id DESC LIMIT $3`,
      [query.clientId ?? null, kinds, limit],
    );
    return rows.map(toEvent);
  }

  async pendingEvents(clientId?: string): Promise<HistoryEvent[]> {
    const rows = await this.#rows<EventRow>(
      'pending-events',
      `SELECT * FROM events WHERE result = 'pending' AND ($1::text IS NULL OR client_id = $1) ORDER BY at, id`,
      [clientId ?? null],
    );
    return rows.map(toEvent);
  }

  async abandonPending(clientId: string | null, at: number, message: string): Promise<number> {
    return this.#count(
      'abandon-pending',
      `UPDATE events SET result = 'abandoned', message = $3,
         detail = (coalesce(detail, '{}')::jsonb || jsonb_build_object('abandonedAt', $2::bigint))::text
       WHERE result = 'pending' AND ($1::text IS NULL OR client_id = $1)`,
      [clientId, at, message],
    );
  }

  async pruneHistory(olderThan: number): Promise<number> {
    return this.#count('prune-history', `DELETE FROM events WHERE at < $1 AND result <> 'pending'`, [olderThan]);
  }

  // ---- single-instance lease (the leadership of several keepers is src/store/postgres/leadership.ts) ----

  async acquireLease(
    owner: LeaseOwner,
    now: number,
    ttlMs: number,
    canStealFromSameHost?: (pid: number) => boolean,
  ): Promise<LeaseResult> {
    return this.transaction(async (): Promise<LeaseResult> => {
      // The row may not exist yet, so lock the table: two contenders cannot both see it free.
      await this.#q('lock-lease', 'LOCK TABLE lease IN EXCLUSIVE MODE');
      const row = await this.#one<LeaseRow>('get-lease', `SELECT * FROM lease WHERE id = 1`);
      const same = row !== undefined && row.pid === owner.pid && row.host === owner.host;
      if (row !== undefined && !same && row.expires_at > now) {
        const stealable = row.host === owner.host && canStealFromSameHost?.(row.pid) === true;
        if (!stealable) return { ok: false, holder: toLeaseHolder(row) };
      }
      await this.#q(
        'put-lease',
        `INSERT INTO lease (id, pid, host, acquired_at, heartbeat_at, ttl_ms, expires_at) VALUES (1, $1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, host = excluded.host, acquired_at = excluded.acquired_at,
           heartbeat_at = excluded.heartbeat_at, ttl_ms = excluded.ttl_ms, expires_at = excluded.expires_at`,
        [owner.pid, owner.host, same ? row.acquired_at : now, now, ttlMs, now + ttlMs],
      );
      return { ok: true };
    });
  }

  async heartbeatLease(owner: LeaseOwner, now: number): Promise<boolean> {
    return (
      (await this.#count(
        'heartbeat-lease',
        `UPDATE lease SET heartbeat_at = $3, expires_at = $3 + ttl_ms WHERE pid = $1 AND host = $2`,
        [owner.pid, owner.host, now],
      )) === 1
    );
  }

  async releaseLease(owner: LeaseOwner): Promise<boolean> {
    return (
      (await this.#count('release-lease', `DELETE FROM lease WHERE pid = $1 AND host = $2`, [
        owner.pid,
        owner.host,
      ])) === 1
    );
  }

  async leaseHolder(): Promise<LeaseHolder | undefined> {
    const row = await this.#one<LeaseRow>('get-lease', `SELECT * FROM lease WHERE id = 1`);
    return row === undefined ? undefined : toLeaseHolder(row);
  }

  // ---- requests to a running daemon ----

  async enqueueRequest(clientId: string, action: RequestAction, payload: string | null, now: number): Promise<number> {
    return this.transaction(async () => {
      const id = (await this.#one<{ id: number }>('next-request-id', `SELECT nextval('requests_id_seq') AS id`))!.id;
      const sealed =
        payload === null || this.#seal === undefined ? payload : this.#seal.seal(payload, requestBinding(id, clientId));
      await this.#q(
        'enqueue-request',
        `INSERT INTO requests (id, client_id, action, created_at, payload) VALUES ($1, $2, $3, $4, $5)`,
        [id, clientId, action, now, sealed],
      );
      // Wakes the running keeper (request-listener.ts) at commit, when the row is there to take.
      await this.#q('notify-request', `SELECT pg_notify($1, current_schema())`, [REQUEST_CHANNEL]);
      return id;
    });
  }

  async takeRequests(): Promise<KeeperRequest[]> {
    if ((await this.#one('any-queued', `SELECT 1 FROM requests WHERE status = 'queued' LIMIT 1`)) === undefined)
      return [];
    // The CTE reads the payloads as they were; the update empties them in the same statement.
    const rows = await this.#rows<RequestRow>(
      'take-requests',
      `WITH queued AS (SELECT * FROM requests WHERE status = 'queued' ORDER BY id FOR UPDATE SKIP LOCKED),
            taken AS (UPDATE requests r SET status = 'taken', payload = NULL FROM queued WHERE r.id = queued.id)
       SELECT * FROM queued ORDER BY id`,
    );
    return rows.map((r) => ({ ...this.#request(r), status: 'taken' as const }));
  }

  async completeRequest(id: number, status: 'done' | 'failed', result: string): Promise<boolean> {
    return (
      (await this.#count(
        'complete-request',
        `UPDATE requests SET status = $2, result = $3, payload = NULL WHERE id = $1 AND status = 'taken'`,
        [id, status, result],
      )) === 1
    );
  }

  async cancelRequest(id: number, result: string): Promise<boolean> {
    return (
      (await this.#count(
        'cancel-request',
        `UPDATE requests SET status = 'failed', result = $2, payload = NULL WHERE id = $1 AND status = 'queued'`,
        [id, result],
      )) === 1
    );
  }

  async failAbandonedRequests(result: string): Promise<number> {
    return this.#count(
      'fail-abandoned-requests',
      `UPDATE requests SET status = 'failed', result = $1, payload = NULL WHERE status = 'taken'`,
      [result],
    );
  }

  async getRequest(id: number): Promise<KeeperRequest | undefined> {
    const row = await this.#one<RequestRow>('get-request', `SELECT * FROM requests WHERE id = $1`, [id]);
    return row === undefined ? undefined : this.#request(row);
  }
}

/** Whether the connection may be unusable after `err`: anything but our own errors and plain SQL errors. */
function isConnectionError(err: unknown): boolean {
  if (err instanceof KeeperError) return false;
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true;
  return code.startsWith('08') || code.startsWith('57P');
}
