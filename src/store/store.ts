import fs from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { parseAttention } from '../attention.js';
import { parseGenerationAttempts } from '../generation-attempt.js';
import { KeeperError } from '../errors.js';
import type { AccountMode, StoredToken, TokenSource } from '../tokens.js';
import { ConsentStore } from './consents.js';
import { checkReadable, migrate } from './migrations.js';
import { isSealed, requestBinding, TokenSeal, tokenBinding } from './token-seal.js';
import type {
  AccountPatch,
  AccountRecord,
  EventKind,
  EventOutcome,
  EventResult,
  HistoryEvent,
  KeeperRequest,
  LeaseHolder,
  LeaseOwner,
  NewEvent,
  NewToken,
  RequestAction,
} from './records.js';

export interface StoreOptions {
  /** For CLI readers beside a running daemon: never creates, migrates or writes anything. */
  readonly readonly?: boolean;
  /** How long a write waits for another process's write lock before failing. */
  readonly busyTimeoutMs?: number;
  /**
   * The 32-byte key that seals access tokens (and queued import payloads) at rest. Opening a
   * database with sealed rows without it, or with another key, fails with `store-key-missing` or
   * `store-key-wrong`; the first writer opened with a key seals the plaintext rows it finds.
   */
  readonly key?: Buffer | undefined;
  /**
   * For readers that print no token (status, history): without a key, sealed token text comes
   * back as '' instead of the open failing. Default 'refuse'; a writer always refuses.
   */
  readonly withoutKey?: 'refuse' | 'hide-tokens';
}

/** What `rotateKey` re-sealed. */
export interface RekeyResult {
  readonly tokens: number;
  readonly requests: number;
}

/** The connection settings that durability and concurrency depend on, for checks and tests. */
export interface StoreSettings {
  readonly readonly: boolean;
  readonly journalMode: string;
  /** 2 is FULL. */
  readonly synchronous: number;
  readonly foreignKeys: boolean;
  readonly secureDelete: boolean;
  readonly busyTimeoutMs: number;
}

export interface NewAccount {
  readonly clientId: string;
  readonly name: string;
  readonly mode: AccountMode;
}

export interface EventQuery {
  /** Only this account's events (events without an account, like `start`, are left out). */
  readonly clientId?: string;
  /** Default 100. */
  readonly limit?: number;
  /** Only these kinds; an empty list matches nothing. */
  readonly kinds?: readonly EventKind[];
}

export type LeaseResult = { readonly ok: true } | { readonly ok: false; readonly holder: LeaseHolder };

export const DEFAULT_BUSY_TIMEOUT_MS = 5000;
export const DEFAULT_EVENT_LIMIT = 100;
export const DEFAULT_TOKEN_LIMIT = 20;

/**
 * Everything the keeper persists, behind one narrow contract, so that a
 * shared behaviour suite (test/helpers/store-behaviour.ts) can run against every implementation. One Store per
 * process and connection; several processes may open the same file: the daemon writes,
 * CLI commands read (WAL lets them read while it writes) and enqueue requests.
 *
 * Every write method runs in its own BEGIN IMMEDIATE transaction, or inside the caller's
 * `transaction()` when there is one. Times are epoch ms, given by the caller (the store
 * has no clock). The store never logs.
 */
export class Store {
  readonly path: string;
  readonly readonly: boolean;
  readonly #db: Database.Database;
  readonly #sql: Statements;
  #seal: TokenSeal | undefined;
  readonly #hideSealed: boolean;
  /** The API-key login's consents and login requests; joins this store's transactions. */
  readonly consents: ConsentStore;
  #tokenWrites = 0;

  private constructor(
    db: Database.Database,
    path: string,
    readonly: boolean,
    seal: TokenSeal | undefined,
    hideSealed: boolean,
  ) {
    this.#db = db;
    this.path = path;
    this.readonly = readonly;
    this.#sql = prepareStatements(db);
    this.#seal = seal;
    this.#hideSealed = hideSealed;
    this.consents = new ConsentStore(db);
  }

  /** The id of the key tokens are sealed with, or undefined when they are stored as plaintext. */
  get keyId(): string | undefined {
    return this.#seal?.keyId;
  }

  static open(path: string, options: StoreOptions = {}): Store {
    const readonly = options.readonly ?? false;
    const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
      throw new KeeperError('store-options', `busyTimeoutMs must be a whole number of ms >= 0, got ${busyTimeoutMs}`);
    }
    const db = readonly ? openReader(path) : openWriter(path);
    try {
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      // A renewal kills the old token at once, so the new one must survive a power cut the
      // moment saveToken returns: FULL syncs the WAL on every commit (NORMAL in WAL mode
      // may lose the last commits, and with them the only live token).
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      if (readonly) {
        checkReadable(db, path);
      } else {
        // WAL lets `status`, `token` and `history` read while the daemon writes.
        const mode = db.pragma('journal_mode = WAL', { simple: true });
        if (mode !== 'wal') {
          throw new KeeperError('store-no-wal', `cannot switch ${path} to WAL journaling (got ${String(mode)})`, {
            hint: 'put the database on a local filesystem (WAL does not work on network filesystems)',
          });
        }
        // Pruned token text and cleared import payloads are overwritten, not left in free pages.
        db.pragma('secure_delete = ON');
        migrate(db, path);
      }
      const seal = options.key === undefined ? undefined : new TokenSeal(options.key);
      // Only a reader may go without the key: a writer would add plaintext rows to a sealed database.
      const store = new Store(db, path, readonly, seal, readonly && options.withoutKey === 'hide-tokens');
      store.#checkKey();
      return store;
    } catch (err) {
      db.close();
      throw err;
    }
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  settings(): StoreSettings {
    const db = this.#db;
    return {
      readonly: this.readonly,
      journalMode: String(db.pragma('journal_mode', { simple: true })),
      synchronous: Number(db.pragma('synchronous', { simple: true })),
      foreignKeys: Number(db.pragma('foreign_keys', { simple: true })) === 1,
      secureDelete: Number(db.pragma('secure_delete', { simple: true })) === 1,
      busyTimeoutMs: Number(db.pragma('busy_timeout', { simple: true })),
    };
  }

  /**
   * Runs `fn` in one BEGIN IMMEDIATE transaction: all its writes commit together or not at
   * all, and what it reads cannot change before it commits (so a worker re-reads the
   * current token in the same transaction that claims the work, and skips work another process did). IMMEDIATE takes the write
   * lock up front, so a read-then-write never fails halfway on a lock upgrade. Nested
   * calls become savepoints. `fn` must be synchronous.
   */
  transaction<T>(fn: () => T): T {
    return this.#db
      .transaction(() => {
        const result = fn();
        if (isThenable(result)) {
          // Throwing here rolls back; returning would commit before the promise settles.
          throw new KeeperError('store-async-transaction', 'a store transaction must be synchronous');
        }
        return result;
      })
      .immediate();
  }

  /**
   * Refuses a key that did not seal this database, and a missing key when it has sealed rows
   * (serving a sealed value as a token would publish garbage). A writer given a key for the
   * first time seals every plaintext row in one transaction, then truncates the WAL so that no
   * earlier frame keeps a plaintext copy.
   */
  #checkKey(): void {
    const check = this.#sql.getMeta.get('key_check')?.value;
    const seal = this.#seal;
    if (seal === undefined) {
      const sealed = check !== undefined || this.#sql.anySealedToken.get() !== undefined;
      if (sealed && !this.#hideSealed) throw keyMissing(this.path);
      return;
    }
    if (check !== undefined) {
      if (!seal.verifies(check)) throw keyWrong(this.path, check);
      return;
    }
    if (this.readonly) return;
    this.transaction(() => {
      this.#resealAll(seal);
      this.#sql.putMeta.run({ key: 'key_check', value: seal.keyCheck() });
    });
    this.#db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /**
   * Re-seals every stored token and queued payload with `next`, in one transaction, and makes
   * `next` this store's key. The caller must make sure no other keeper writes meanwhile: one
   * still holding the old key would seal new rows with it.
   */
  rotateKey(next: Buffer): RekeyResult {
    const seal = new TokenSeal(next);
    const result = this.transaction(() => {
      const counts = this.#resealAll(seal);
      this.#sql.putMeta.run({ key: 'key_check', value: seal.keyCheck() });
      return counts;
    });
    this.#seal = seal;
    this.#db.pragma('wal_checkpoint(TRUNCATE)');
    return result;
  }

  /** Opens each row with the current key (plaintext passes through) and seals it with `seal`. */
  #resealAll(seal: TokenSeal): RekeyResult {
    let tokens = 0;
    for (const row of this.#sql.allTokenTexts.all()) {
      if (row.access_token === '') continue;
      const binding = tokenBinding(row.id, row.client_id);
      const plain = this.#openText(row.access_token, binding);
      this.#sql.setTokenText.run({ id: row.id, text: seal.seal(plain, binding) });
      tokens++;
    }
    let requests = 0;
    for (const row of this.#sql.allPayloads.all()) {
      const binding = requestBinding(row.id, row.client_id);
      const plain = this.#openText(row.payload, binding);
      this.#sql.setPayload.run({ id: row.id, payload: seal.seal(plain, binding) });
      requests++;
    }
    return { tokens, requests };
  }

  #openText(value: string, binding: string): string {
    if (!isSealed(value)) return value;
    if (this.#seal === undefined) {
      if (this.#hideSealed) return '';
      throw keyMissing(this.path);
    }
    return this.#seal.open(value, binding);
  }

  #sealText(value: string, binding: string): string {
    return this.#seal === undefined ? value : this.#seal.seal(value, binding);
  }

  #token(r: TokenRow): StoredToken {
    return toToken({ ...r, access_token: this.#openText(r.access_token, tokenBinding(r.id, r.client_id)) });
  }

  #request(r: RequestRow): KeeperRequest {
    return toRequest(
      r.payload === null ? r : { ...r, payload: this.#openText(r.payload, requestBinding(r.id, r.client_id)) },
    );
  }

  /**
   * For SqliteAsyncStore only: a BEGIN IMMEDIATE transaction (or, inside one, a savepoint) that
   * may span awaits. Until it ends, every call on this connection is part of it, so the adapter
   * keeps other callers out meanwhile.
   */
  beginSpanning(depth: number): void {
    this.#db.exec(depth === 0 ? 'BEGIN IMMEDIATE' : `SAVEPOINT spanning_${depth}`);
  }

  endSpanning(depth: number, commit: boolean): void {
    if (depth === 0) {
      if (this.#db.inTransaction) this.#db.exec(commit ? 'COMMIT' : 'ROLLBACK');
    } else {
      this.#db.exec(commit ? `RELEASE spanning_${depth}` : `ROLLBACK TO spanning_${depth}; RELEASE spanning_${depth}`);
    }
  }

  // ---- accounts ----

  /** Creates the account, or updates its name and mode while keeping everything it learned. */
  upsertAccount(account: NewAccount): AccountRecord {
    return toAccount(this.#sql.upsertAccount.get(account)!);
  }

  getAccount(clientId: string): AccountRecord | undefined {
    const row = this.#sql.getAccount.get(clientId);
    return row === undefined ? undefined : toAccount(row);
  }

  listAccounts(): AccountRecord[] {
    return this.#sql.listAccounts.all().map(toAccount);
  }

  /** Fields left out (or undefined) keep their value; null clears a nullable field. */
  updateAccount(clientId: string, patch: AccountPatch): AccountRecord {
    return this.transaction(() => {
      const current = this.getAccount(clientId);
      if (current === undefined) throw unknownAccount(clientId);
      const next: AccountRecord = { ...applyPatch(current, patch), clientId };
      return toAccount(this.#sql.updateAccount.get(accountParams(next))!);
    });
  }

  // ---- tokens ----

  /**
   * Makes `t` the account's current token and marks the previous one superseded at
   * `t.obtainedAt`, atomically: a reader sees either the old token or the new one,
   * never both or neither.
   */
  saveToken(t: NewToken): StoredToken {
    if (t.accessToken === '') {
      // '' marks a pruned secret; storing it as live would publish nothing.
      throw new KeeperError('store-empty-token', `refusing to store an empty access token for ${t.clientId}`);
    }
    this.#tokenWrites++;
    return this.transaction(() => {
      if (this.#sql.getAccount.get(t.clientId) === undefined) throw unknownAccount(t.clientId);
      this.#sql.supersedeCurrent.run({ clientId: t.clientId, at: t.obtainedAt });
      // The id is chosen before the insert because the sealed text is bound to it; the write
      // lock this transaction holds keeps it ours.
      const id = this.#sql.nextTokenId.get()!.id;
      const accessToken = this.#sealText(t.accessToken, tokenBinding(id, t.clientId));
      return this.#token(this.#sql.insertToken.get({ ...t, id, accessToken })!);
    });
  }

  /**
   * Goes up whenever this connection may have changed an account's current token (a save or a
   * token declared dead). Readers that keep current tokens in memory compare it instead of
   * reading the database per request; only the lease holder writes tokens, so this connection
   * sees every change.
   */
  get tokenWrites(): number {
    return this.#tokenWrites;
  }

  /** The newest token not superseded, even if its expiry has passed: callers judge liveness. */
  currentToken(clientId: string): StoredToken | undefined {
    const row = this.#sql.currentToken.get(clientId);
    return row === undefined ? undefined : this.#token(row);
  }

  /** Every account's `currentToken`, for the accounts that have one (see AsyncStore.currentTokens). */
  currentTokens(): StoredToken[] {
    return this.#sql.currentTokens.all().map((r) => this.#token(r));
  }

  /** For a token Dhan declared dead. False if it was already superseded or does not exist. */
  markTokenDead(tokenId: number, at: number): boolean {
    this.#tokenWrites++;
    return this.#sql.markTokenDead.run({ id: tokenId, at }).changes === 1;
  }

  /** Newest first, superseded ones included (pruned ones have an empty accessToken). */
  listTokens(clientId: string, limit: number = DEFAULT_TOKEN_LIMIT): StoredToken[] {
    return this.#sql.listTokens.all({ clientId, limit }).map((r) => this.#token(r));
  }

  /**
   * Blanks the secret of tokens superseded before `olderThan`. The rows stay as history;
   * we never need a dead token's secret, and one less copy of it cannot leak.
   * Returns how many were blanked.
   */
  pruneTokenSecrets(olderThan: number): number {
    return this.#sql.pruneTokenSecrets.run(olderThan).changes;
  }

  // ---- history ----

  addEvent(e: NewEvent): HistoryEvent {
    return toEvent(this.#sql.insertEvent.get(eventParams(e))!);
  }

  /**
   * Writes a `pending` row before a Dhan call, so that a crash during the call leaves a
   * trace that the next start finds (pendingEvents) and closes (abandonPending).
   */
  beginEvent(e: Omit<NewEvent, 'result'>): number {
    return this.#sql.insertEvent.get(eventParams({ ...e, result: 'pending' }))!.id;
  }

  /**
   * Closes a pending row. Fields left out keep what beginEvent wrote; `detail` is merged
   * over the begun one. False if the row does not exist or is no longer pending.
   */
  finishEvent(id: number, outcome: EventOutcome): boolean {
    return this.transaction(() => {
      const current = this.getEvent(id);
      if (current === undefined || current.result !== 'pending') return false;
      const detail =
        outcome.detail === undefined || outcome.detail === null || current.detail === null
          ? (outcome.detail ?? current.detail)
          : { ...current.detail, ...outcome.detail };
      const next: HistoryEvent = { ...applyPatch(current, outcome), id, detail };
      this.#sql.updateEvent.run({ ...eventParams(next), id });
      return true;
    });
  }

  getEvent(id: number): HistoryEvent | undefined {
    const row = this.#sql.getEvent.get(id);
    return row === undefined ? undefined : toEvent(row);
  }

  /** Newest first (by `at`, then by id for events at the same ms). */
  listEvents(query: EventQuery = {}): HistoryEvent[] {
    const params = {
      limit: query.limit ?? DEFAULT_EVENT_LIMIT,
      kinds: query.kinds === undefined ? null : JSON.stringify(query.kinds),
    };
    const rows =
      query.clientId === undefined
        ? this.#sql.listEvents.all(params)
        : this.#sql.listEventsFor.all({ ...params, clientId: query.clientId });
    return rows.map(toEvent);
  }

  /** Oldest first: the order in which they were begun. */
  pendingEvents(clientId?: string): HistoryEvent[] {
    const rows = clientId === undefined ? this.#sql.pendingEvents.all() : this.#sql.pendingEventsFor.all(clientId);
    return rows.map(toEvent);
  }

  /**
   * Marks leftover pending rows `abandoned` (their process died mid-call), recording
   * `at` as detail.abandonedAt. `clientId` null closes every account's rows: right for a
   * daemon that has just won the lease, since no one else can have a call in flight.
   */
  abandonPending(clientId: string | null, at: number, message: string): number {
    return this.#sql.abandonPending.run({ clientId, at, message }).changes;
  }

  /** Deletes events older than `olderThan`, except pending ones (recovery still needs them). */
  pruneHistory(olderThan: number): number {
    return this.#sql.pruneHistory.run(olderThan).changes;
  }

  // ---- single-instance lease ----

  /**
   * Takes the lease if it is free: no holder, the holder's lease expired (its last
   * heartbeat plus the ttl it took the lease with), the holder is `owner` itself, or the
   * holder runs on this host and `canStealFromSameHost(holder.pid)` says so (the daemon
   * passes "that pid no longer runs", so a crashed keeper does not block a restart for a
   * whole ttl). Checked and written under one BEGIN IMMEDIATE lock, so two contenders
   * cannot both win.
   */
  acquireLease(
    owner: LeaseOwner,
    now: number,
    ttlMs: number,
    canStealFromSameHost?: (pid: number) => boolean,
  ): LeaseResult {
    return this.transaction((): LeaseResult => {
      const row = this.#sql.getLease.get();
      const same = row !== undefined && row.pid === owner.pid && row.host === owner.host;
      if (row !== undefined && !same && row.expires_at > now) {
        const stealable = row.host === owner.host && canStealFromSameHost?.(row.pid) === true;
        if (!stealable) return { ok: false, holder: toLeaseHolder(row) };
      }
      this.#sql.putLease.run({
        pid: owner.pid,
        host: owner.host,
        acquiredAt: same ? row.acquired_at : now,
        heartbeatAt: now,
        ttlMs,
        expiresAt: now + ttlMs,
      });
      return { ok: true };
    });
  }

  /** Extends the lease by its ttl. False if `owner` no longer holds it: stop acting at once. */
  heartbeatLease(owner: LeaseOwner, now: number): boolean {
    // A heartbeat lost to a power cut only makes the lease look older, which is the truth:
    // the keeper died with the power. So it is the one write that skips the fsync (WAL with
    // synchronous=NORMAL: durable at the next FULL commit or checkpoint, in order), instead of
    // syncing the disk every few seconds of a quiet day. Inside a caller's transaction the
    // setting cannot change, so there it commits like everything else.
    if (this.#db.inTransaction)
      return this.#sql.heartbeatLease.run({ pid: owner.pid, host: owner.host, now }).changes === 1;
    this.#db.pragma('synchronous = NORMAL');
    try {
      return this.#sql.heartbeatLease.run({ pid: owner.pid, host: owner.host, now }).changes === 1;
    } finally {
      this.#db.pragma('synchronous = FULL');
    }
  }

  /** Gives the lease up if `owner` still holds it (never someone else's). */
  releaseLease(owner: LeaseOwner): boolean {
    return this.#sql.releaseLease.run({ pid: owner.pid, host: owner.host }).changes === 1;
  }

  leaseHolder(): LeaseHolder | undefined {
    const row = this.#sql.getLease.get();
    return row === undefined ? undefined : toLeaseHolder(row);
  }

  // ---- requests to a running daemon ----

  enqueueRequest(clientId: string, action: RequestAction, payload: string | null, now: number): number {
    return this.transaction(() => {
      const id = this.#sql.nextRequestId.get()!.id;
      const sealed = payload === null ? null : this.#sealText(payload, requestBinding(id, clientId));
      return this.#sql.enqueueRequest.get({ id, clientId, action, payload: sealed, now })!.id;
    });
  }

  /**
   * Hands every queued request to the caller exactly once, oldest first, with payloads.
   * The same transaction marks them taken and NULLs the payload column: an import
   * payload holds a token, and the database must not keep a second copy of it.
   */
  takeRequests(): KeeperRequest[] {
    // The daemon polls several times a second: a plain read first, so that an empty queue never
    // takes the write lock that CLI writers would have to wait for.
    if (this.#sql.anyQueued.get() === undefined) return [];
    return this.transaction(() => {
      const rows = this.#sql.queuedRequests.all();
      if (rows.length === 0) return [];
      this.#sql.takeQueued.run();
      return rows.map((r) => ({ ...this.#request(r), status: 'taken' as const }));
    });
  }

  /** False unless the request was taken and not yet completed. */
  completeRequest(id: number, status: 'done' | 'failed', result: string): boolean {
    return this.#sql.completeRequest.run({ id, status, result }).changes === 1;
  }

  /**
   * For a CLI that gave up waiting: fails a request no daemon took, and drops its payload
   * so that an imported token does not linger. False if a daemon took it meanwhile.
   */
  cancelRequest(id: number, result: string): boolean {
    return this.#sql.cancelRequest.run({ id, result }).changes === 1;
  }

  /**
   * For a daemon at start: requests a previous daemon took but never completed (it died while
   * carrying them out) are failed with `result`, so that no row stays `taken` forever.
   */
  failAbandonedRequests(result: string): number {
    return this.#sql.failAbandonedRequests.run({ result }).changes;
  }

  getRequest(id: number): KeeperRequest | undefined {
    const row = this.#sql.getRequest.get(id);
    return row === undefined ? undefined : this.#request(row);
  }
}

// ---- opening ----

function openWriter(path: string): Database.Database {
  fs.mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // Created by us with 0600 before SQLite touches it, so the file holding tokens is never
  // readable by others, not even for an instant; SQLite gives -wal and -shm the same mode.
  fs.closeSync(fs.openSync(path, 'a', 0o600));
  return new Database(path);
}

function openReader(path: string): Database.Database {
  try {
    return new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    if (!fs.existsSync(path)) {
      throw new KeeperError('store-missing', `no database at ${path} (has the keeper run yet?)`, {
        hint: 'start the keeper (`dhan-token-keeper run`), or check `store.path` in the config',
        cause: err,
      });
    }
    throw err;
  }
}

// ---- rows ----

export interface AccountRow {
  client_id: string;
  name: string;
  mode: string;
  attention_state: string | null;
  renew_refused_kinds: string;
  last_generate_at: number | null;
  last_totp_step: number | null;
  generation_attempts: string;
  consecutive_failures: number;
  last_success_at: number | null;
  last_attempt_at: number | null;
  last_result: string | null;
  next_action_at: number | null;
}

export interface TokenRow {
  id: number;
  client_id: string;
  access_token: string;
  source: string;
  obtained_at: number;
  expires_at: number;
  expiry_time: string;
  superseded_at: number | null;
}

export interface EventRow {
  id: number;
  client_id: string | null;
  at: number;
  kind: string;
  result: string;
  error_kind: string | null;
  error_code: string | null;
  message: string | null;
  duration_ms: number | null;
  expiry_before: number | null;
  expiry_after: number | null;
  detail: string | null;
}

export interface LeaseRow {
  pid: number;
  host: string;
  acquired_at: number;
  heartbeat_at: number;
  ttl_ms: number;
  expires_at: number;
}

export interface RequestRow {
  id: number;
  client_id: string;
  action: string;
  created_at: number;
  payload: string | null;
  status: string;
  result: string | null;
}

export type AccountParams = Omit<AccountRecord, 'renewRefusedKinds' | 'attention' | 'generationAttempts'> & {
  renewRefusedKinds: string;
  attention: string | null;
  generationAttempts: string;
};
export type EventParams = Omit<HistoryEvent, 'id' | 'detail'> & { detail: string | null };

// The casts from TEXT to union types below are safe: CHECK constraints admit only their members.

export function toAccount(r: AccountRow): AccountRecord {
  return {
    clientId: r.client_id,
    name: r.name,
    mode: r.mode as AccountMode,
    attention: parseAttention(r.attention_state),
    renewRefusedKinds: JSON.parse(r.renew_refused_kinds) as string[],
    lastGenerateAt: r.last_generate_at,
    lastTotpStep: r.last_totp_step,
    generationAttempts: parseGenerationAttempts(r.generation_attempts),
    consecutiveFailures: r.consecutive_failures,
    lastSuccessAt: r.last_success_at,
    lastAttemptAt: r.last_attempt_at,
    lastResult: r.last_result,
    nextActionAt: r.next_action_at,
  };
}

export function accountParams(a: AccountRecord): AccountParams {
  return {
    ...a,
    renewRefusedKinds: JSON.stringify(a.renewRefusedKinds),
    attention: a.attention === null ? null : JSON.stringify(a.attention),
    generationAttempts: JSON.stringify(a.generationAttempts),
  };
}

export function toToken(r: TokenRow): StoredToken {
  return {
    id: r.id,
    clientId: r.client_id,
    accessToken: r.access_token,
    source: r.source as TokenSource,
    obtainedAt: r.obtained_at,
    expiresAt: r.expires_at,
    expiryTime: r.expiry_time,
    supersededAt: r.superseded_at,
  };
}

export function toEvent(r: EventRow): HistoryEvent {
  return {
    id: r.id,
    clientId: r.client_id,
    at: r.at,
    kind: r.kind as EventKind,
    result: r.result as EventResult,
    errorKind: r.error_kind,
    errorCode: r.error_code,
    message: r.message,
    durationMs: r.duration_ms,
    expiryBefore: r.expiry_before,
    expiryAfter: r.expiry_after,
    detail: r.detail === null ? null : (JSON.parse(r.detail) as Record<string, unknown>),
  };
}

/** better-sqlite3 cannot bind undefined: every optional field becomes an explicit null. */
export function eventParams(e: NewEvent): EventParams {
  return {
    clientId: e.clientId,
    at: e.at,
    kind: e.kind,
    result: e.result,
    errorKind: e.errorKind ?? null,
    errorCode: e.errorCode ?? null,
    message: e.message ?? null,
    durationMs: e.durationMs ?? null,
    expiryBefore: e.expiryBefore ?? null,
    expiryAfter: e.expiryAfter ?? null,
    detail: e.detail === undefined || e.detail === null ? null : JSON.stringify(e.detail),
  };
}

export function toLeaseHolder(r: LeaseRow): LeaseHolder {
  return { pid: r.pid, host: r.host, acquiredAt: r.acquired_at, heartbeatAt: r.heartbeat_at, expiresAt: r.expires_at };
}

export function toRequest(r: RequestRow): KeeperRequest {
  return {
    id: r.id,
    clientId: r.client_id,
    action: r.action as RequestAction,
    createdAt: r.created_at,
    payload: r.payload,
    status: r.status as KeeperRequest['status'],
    result: r.result,
  };
}

/** Undefined means "not given" (exactOptionalPropertyTypes aside, callers may still pass it). */
export function applyPatch<T extends object>(current: T, patch: object): T {
  const next = { ...current } as Record<string, unknown>;
  for (const [key, value] of Object.entries(patch)) {
    if (value !== undefined && key in current) next[key] = value;
  }
  return next as T;
}

export function keyMissing(path: string): KeeperError {
  return new KeeperError('store-key-missing', `the tokens in ${path} are sealed, and no encryption key was given`, {
    hint: 'set storage.encryptionKeyFile to the key the database was sealed with',
  });
}

export function keyWrong(path: string, check: string): KeeperError {
  const kid = check.split(':')[2] ?? '?';
  return new KeeperError(
    'store-key-wrong',
    `the tokens in ${path} are sealed with another encryption key (key id ${kid})`,
    {
      hint: 'point storage.encryptionKeyFile at the key the database was sealed with (or rotate-key from it)',
    },
  );
}

export function unknownAccount(clientId: string): KeeperError {
  return new KeeperError('unknown-account', `no account ${clientId} in the database`, {
    hint: 'the keeper adds accounts from the config when it starts; check the client id',
  });
}

function isThenable(value: unknown): boolean {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

// ---- statements ----

type Statements = ReturnType<typeof prepareStatements>;

const ACCOUNT_VALUES = `@clientId, @name, @mode, @attention, @renewRefusedKinds,
  @lastGenerateAt, @lastTotpStep, @generationAttempts, @consecutiveFailures, @lastSuccessAt, @lastAttemptAt, @lastResult,
  @nextActionAt`;
const EVENT_COLUMNS = `client_id, at, kind, result, error_kind, error_code, message, duration_ms,
  expiry_before, expiry_after, detail`;
const EVENT_VALUES = `@clientId, @at, @kind, @result, @errorKind, @errorCode, @message, @durationMs,
  @expiryBefore, @expiryAfter, @detail`;
const KIND_FILTER = `(@kinds IS NULL OR kind IN (SELECT value FROM json_each(@kinds)))`;

/** Prepared once per connection, not per call; a reader prepares writes too, harmlessly. */
function prepareStatements(db: Database.Database) {
  return {
    upsertAccount: db.prepare<NewAccount, AccountRow>(
      `INSERT INTO accounts (client_id, name, mode) VALUES (@clientId, @name, @mode)
       ON CONFLICT (client_id) DO UPDATE SET name = excluded.name, mode = excluded.mode
       RETURNING *`,
    ),
    getAccount: db.prepare<[string], AccountRow>(`SELECT * FROM accounts WHERE client_id = ?`),
    listAccounts: db.prepare<[], AccountRow>(`SELECT * FROM accounts ORDER BY client_id`),
    updateAccount: db.prepare<AccountParams, AccountRow>(
      `UPDATE accounts SET (client_id, name, mode, attention_state, renew_refused_kinds,
         last_generate_at, last_totp_step, generation_attempts, consecutive_failures, last_success_at, last_attempt_at,
         last_result, next_action_at)
       = (${ACCOUNT_VALUES})
       WHERE client_id = @clientId RETURNING *`,
    ),

    supersedeCurrent: db.prepare<{ clientId: string; at: number }>(
      `UPDATE tokens SET superseded_at = @at WHERE client_id = @clientId AND superseded_at IS NULL`,
    ),
    nextTokenId: db.prepare<[], { id: number }>(`SELECT coalesce(max(id), 0) + 1 AS id FROM tokens`),
    insertToken: db.prepare<NewToken & { id: number }, TokenRow>(
      `INSERT INTO tokens (id, client_id, access_token, source, obtained_at, expires_at, expiry_time)
       VALUES (@id, @clientId, @accessToken, @source, @obtainedAt, @expiresAt, @expiryTime) RETURNING *`,
    ),
    allTokenTexts: db.prepare<[], { id: number; client_id: string; access_token: string }>(
      `SELECT id, client_id, access_token FROM tokens ORDER BY id`,
    ),
    setTokenText: db.prepare<{ id: number; text: string }>(`UPDATE tokens SET access_token = @text WHERE id = @id`),
    anySealedToken: db.prepare<[], { one: number }>(
      `SELECT 1 AS one FROM tokens WHERE substr(access_token, 1, 11) = 'dtk-sealed:' LIMIT 1`,
    ),
    getMeta: db.prepare<[string], { value: string }>(`SELECT value FROM meta WHERE key = ?`),
    putMeta: db.prepare<{ key: string; value: string }>(
      `INSERT OR REPLACE INTO meta (key, value) VALUES (@key, @value)`,
    ),
    currentToken: db.prepare<[string], TokenRow>(
      `SELECT * FROM tokens WHERE client_id = ? AND superseded_at IS NULL ORDER BY id DESC LIMIT 1`,
    ),
    // No grouping: tokens_one_current, a unique index over the rows with superseded_at IS NULL,
    // allows one such row per account. The plan scans that index (current rows only), not the
    // superseded history, which grows by a row per account and day.
    currentTokens: db.prepare<[], TokenRow>(`SELECT * FROM tokens WHERE superseded_at IS NULL`),
    markTokenDead: db.prepare<{ id: number; at: number }>(
      `UPDATE tokens SET superseded_at = @at WHERE id = @id AND superseded_at IS NULL`,
    ),
    listTokens: db.prepare<{ clientId: string; limit: number }, TokenRow>(
      `SELECT * FROM tokens WHERE client_id = @clientId ORDER BY id DESC LIMIT @limit`,
    ),
    pruneTokenSecrets: db.prepare<[number]>(
      `UPDATE tokens SET access_token = '' WHERE superseded_at IS NOT NULL AND superseded_at < ? AND access_token <> ''`,
    ),

    insertEvent: db.prepare<EventParams, EventRow>(
      `INSERT INTO events (${EVENT_COLUMNS}) VALUES (${EVENT_VALUES}) RETURNING *`,
    ),
    updateEvent: db.prepare<EventParams & { id: number }>(
      `UPDATE events SET (${EVENT_COLUMNS}) = (${EVENT_VALUES}) WHERE id = @id`,
    ),
    getEvent: db.prepare<[number], EventRow>(`SELECT * FROM events WHERE id = ?`),
    listEvents: db.prepare<{ limit: number; kinds: string | null }, EventRow>(
      `SELECT * FROM events WHERE ${KIND_FILTER} ORDER BY at DESC, id DESC LIMIT @limit`,
    ),
    listEventsFor: db.prepare<{ clientId: string; limit: number; kinds: string | null }, EventRow>(
      `SELECT * FROM events WHERE client_id = @clientId AND ${KIND_FILTER} ORDER BY at DESC, id DESC LIMIT @limit`,
    ),
    pendingEvents: db.prepare<[], EventRow>(`SELECT * FROM events WHERE result = 'pending' ORDER BY at, id`),
    pendingEventsFor: db.prepare<[string], EventRow>(
      `SELECT * FROM events WHERE result = 'pending' AND client_id = ? ORDER BY at, id`,
    ),
    abandonPending: db.prepare<{ clientId: string | null; at: number; message: string }>(
      `UPDATE events SET result = 'abandoned', message = @message,
         detail = json_set(coalesce(detail, '{}'), '$.abandonedAt', @at)
       WHERE result = 'pending' AND (@clientId IS NULL OR client_id = @clientId)`,
    ),
    pruneHistory: db.prepare<[number]>(`DELETE FROM events WHERE at < ? AND result <> 'pending'`),

    getLease: db.prepare<[], LeaseRow>(`SELECT * FROM lease WHERE id = 1`),
    putLease: db.prepare<LeaseHolder & { ttlMs: number }>(
      `INSERT OR REPLACE INTO lease (id, pid, host, acquired_at, heartbeat_at, ttl_ms, expires_at)
       VALUES (1, @pid, @host, @acquiredAt, @heartbeatAt, @ttlMs, @expiresAt)`,
    ),
    heartbeatLease: db.prepare<{ pid: number; host: string; now: number }>(
      `UPDATE lease SET heartbeat_at = @now, expires_at = @now + ttl_ms WHERE pid = @pid AND host = @host`,
    ),
    releaseLease: db.prepare<{ pid: number; host: string }>(`DELETE FROM lease WHERE pid = @pid AND host = @host`),

    nextRequestId: db.prepare<[], { id: number }>(`SELECT coalesce(max(id), 0) + 1 AS id FROM requests`),
    enqueueRequest: db.prepare<
      { id: number; clientId: string; action: RequestAction; payload: string | null; now: number },
      { id: number }
    >(
      `INSERT INTO requests (id, client_id, action, created_at, payload) VALUES (@id, @clientId, @action, @now, @payload)
       RETURNING id`,
    ),
    allPayloads: db.prepare<[], { id: number; client_id: string; payload: string }>(
      `SELECT id, client_id, payload FROM requests WHERE payload IS NOT NULL ORDER BY id`,
    ),
    setPayload: db.prepare<{ id: number; payload: string }>(`UPDATE requests SET payload = @payload WHERE id = @id`),
    queuedRequests: db.prepare<[], RequestRow>(`SELECT * FROM requests WHERE status = 'queued' ORDER BY id`),
    anyQueued: db.prepare<[], { one: number }>(`SELECT 1 AS one FROM requests WHERE status = 'queued' LIMIT 1`),
    takeQueued: db.prepare<[]>(`UPDATE requests SET status = 'taken', payload = NULL WHERE status = 'queued'`),
    completeRequest: db.prepare<{ id: number; status: 'done' | 'failed'; result: string }>(
      `UPDATE requests SET status = @status, result = @result, payload = NULL WHERE id = @id AND status = 'taken'`,
    ),
    cancelRequest: db.prepare<{ id: number; result: string }>(
      `UPDATE requests SET status = 'failed', result = @result, payload = NULL WHERE id = @id AND status = 'queued'`,
    ),
    getRequest: db.prepare<[number], RequestRow>(`SELECT * FROM requests WHERE id = ?`),
    failAbandonedRequests: db.prepare<{ result: string }>(
      `UPDATE requests SET status = 'failed', result = @result, payload = NULL WHERE status = 'taken'`,
    ),
  };
}
