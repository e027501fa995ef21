import type { StoredToken } from '../tokens.js';
import { KeeperError } from '../errors.js';
import type { AsyncConsentStore, AsyncStore } from './contract.js';
import type { ConsentRecord, LoginRequest } from './consents.js';
import type { LeaderFence } from './postgres/leadership.js';
import type { EventQuery, LeaseResult, NewAccount, RekeyResult, Store } from './store.js';
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
} from './records.js';

/** What a store and the transaction views made from it share: the one connection's queue. */
interface Connection {
  readonly store: Store;
  /** Settles when the transaction under way ends; only one runs at a time. */
  busy: Promise<void> | undefined;
}

/**
 * The SQLite `Store` behind the async contract. One connection serves every caller, so while a
 * transaction spans awaits, calls from outside it wait until it ends (otherwise they would
 * silently join it); calls through the transaction's own view (the `tx` its function is
 * given) run at once.
 *
 * The view is passed explicitly rather than found through an AsyncLocalStorage: on Node 20 a
 * storage switches async hooks on while it runs, for every async resource and promise in the
 * process, so each transaction (the scheduler writes one whenever plans change, every swap is
 * one) made every request answered meanwhile pay for hooks it has no use for.
 */
export class SqliteAsyncStore implements AsyncStore {
  readonly #connection: Connection;
  /** Transactions this view is inside: 0 for the store itself. */
  readonly #depth: number;

  readonly consents: AsyncConsentStore;

  constructor(store: Store);
  constructor(store: Store, connection: Connection, depth: number);
  constructor(store: Store, connection?: Connection, depth = 0) {
    this.#connection = connection ?? { store, busy: undefined };
    this.#depth = depth;
    this.consents = this.#consents();
  }

  get #store(): Store {
    return this.#connection.store;
  }

  get location(): string {
    return this.#store.path;
  }

  get keyId(): string | undefined {
    return this.#store.keyId;
  }

  /** The synchronous store underneath, for callers not converted yet. */
  get sync(): Store {
    return this.#store;
  }

  async #call<T>(fn: () => T): Promise<T> {
    if (this.#depth === 0) while (this.#connection.busy) await this.#connection.busy;
    return fn();
  }

  async close(): Promise<void> {
    while (this.#connection.busy) await this.#connection.busy;
    this.#store.close();
  }

  async transaction<T>(fn: (tx: AsyncStore) => Promise<T>): Promise<T> {
    if (this.#depth > 0) return this.#spanning(fn);
    const connection = this.#connection;
    while (connection.busy) await connection.busy;
    let release!: () => void;
    connection.busy = new Promise((resolve) => (release = resolve));
    try {
      return await this.#spanning(fn);
    } finally {
      connection.busy = undefined;
      release();
    }
  }

  async #spanning<T>(fn: (tx: AsyncStore) => Promise<T>): Promise<T> {
    const depth = this.#depth;
    this.#store.beginSpanning(depth);
    let result: T;
    try {
      result = await fn(new SqliteAsyncStore(this.#store, this.#connection, depth + 1));
    } catch (err) {
      this.#store.endSpanning(depth, false);
      throw err;
    }
    this.#store.endSpanning(depth, true);
    return result;
  }

  upsertAccount(account: NewAccount): Promise<AccountRecord> {
    return this.#call(() => this.#store.upsertAccount(account));
  }
  getAccount(clientId: string): Promise<AccountRecord | undefined> {
    return this.#call(() => this.#store.getAccount(clientId));
  }
  listAccounts(): Promise<AccountRecord[]> {
    return this.#call(() => this.#store.listAccounts());
  }
  updateAccount(clientId: string, patch: AccountPatch): Promise<AccountRecord> {
    return this.#call(() => this.#store.updateAccount(clientId, patch));
  }

  saveToken(t: NewToken, fence?: LeaderFence): Promise<StoredToken> {
    if (fence !== undefined) {
      return Promise.reject(
        new KeeperError(
          'store-no-leadership',
          'SQLite has one keeper per file (the lease): leadership fences need PostgreSQL',
        ),
      );
    }
    return this.#call(() => this.#store.saveToken(t));
  }
  currentToken(clientId: string): Promise<StoredToken | undefined> {
    return this.#call(() => this.#store.currentToken(clientId));
  }
  currentTokens(): Promise<StoredToken[]> {
    return this.#call(() => this.#store.currentTokens());
  }
  markTokenDead(tokenId: number, at: number): Promise<boolean> {
    return this.#call(() => this.#store.markTokenDead(tokenId, at));
  }
  listTokens(clientId: string, limit?: number): Promise<StoredToken[]> {
    return this.#call(() => this.#store.listTokens(clientId, limit));
  }
  pruneTokenSecrets(olderThan: number): Promise<number> {
    return this.#call(() => this.#store.pruneTokenSecrets(olderThan));
  }

  addEvent(e: NewEvent): Promise<HistoryEvent> {
    return this.#call(() => this.#store.addEvent(e));
  }
  beginEvent(e: Omit<NewEvent, 'result'>): Promise<number> {
    return this.#call(() => this.#store.beginEvent(e));
  }
  finishEvent(id: number, outcome: EventOutcome): Promise<boolean> {
    return this.#call(() => this.#store.finishEvent(id, outcome));
  }
  getEvent(id: number): Promise<HistoryEvent | undefined> {
    return this.#call(() => this.#store.getEvent(id));
  }
  listEvents(query?: EventQuery): Promise<HistoryEvent[]> {
    return this.#call(() => this.#store.listEvents(query));
  }
  pendingEvents(clientId?: string): Promise<HistoryEvent[]> {
    return this.#call(() => this.#store.pendingEvents(clientId));
  }
  abandonPending(clientId: string | null, at: number, message: string): Promise<number> {
    return this.#call(() => this.#store.abandonPending(clientId, at, message));
  }
  pruneHistory(olderThan: number): Promise<number> {
    return this.#call(() => this.#store.pruneHistory(olderThan));
  }

  acquireLease(
    owner: LeaseOwner,
    now: number,
    ttlMs: number,
    canStealFromSameHost?: (pid: number) => boolean,
  ): Promise<LeaseResult> {
    return this.#call(() => this.#store.acquireLease(owner, now, ttlMs, canStealFromSameHost));
  }
  heartbeatLease(owner: LeaseOwner, now: number): Promise<boolean> {
    return this.#call(() => this.#store.heartbeatLease(owner, now));
  }
  releaseLease(owner: LeaseOwner): Promise<boolean> {
    return this.#call(() => this.#store.releaseLease(owner));
  }
  leaseHolder(): Promise<LeaseHolder | undefined> {
    return this.#call(() => this.#store.leaseHolder());
  }

  enqueueRequest(clientId: string, action: RequestAction, payload: string | null, now: number): Promise<number> {
    return this.#call(() => this.#store.enqueueRequest(clientId, action, payload, now));
  }
  takeRequests(): Promise<KeeperRequest[]> {
    return this.#call(() => this.#store.takeRequests());
  }
  completeRequest(id: number, status: 'done' | 'failed', result: string): Promise<boolean> {
    return this.#call(() => this.#store.completeRequest(id, status, result));
  }
  cancelRequest(id: number, result: string): Promise<boolean> {
    return this.#call(() => this.#store.cancelRequest(id, result));
  }
  getRequest(id: number): Promise<KeeperRequest | undefined> {
    return this.#call(() => this.#store.getRequest(id));
  }

  failAbandonedRequests(result: string): Promise<number> {
    return this.#call(() => this.#store.failAbandonedRequests(result));
  }

  #consents(): AsyncConsentStore {
    const c = this.#store.consents;
    return {
      start: (r) => this.#call(() => c.start(r)),
      get: (id) => this.#call(() => c.get(id)),
      byConsentAppId: (appId) => this.#call(() => c.byConsentAppId(appId)),
      byTokenIdHash: (hash) => this.#call(() => c.byTokenIdHash(hash)),
      newestOpen: (since, clientId) => this.#call((): ConsentRecord | undefined => c.newestOpen(since, clientId)),
      claim: (id, hash) => this.#call(() => c.claim(id, hash)),
      reopen: (id) => this.#call(() => c.reopen(id)),
      finish: (id, status, at, message) => this.#call(() => c.finish(id, status, at, message)),
      recent: (clientId, limit) => this.#call(() => c.recent(clientId, limit)),
      countStartedSince: (clientId, since) => this.#call(() => c.countStartedSince(clientId, since)),
      requestLogin: (r: LoginRequest) => this.#call(() => c.requestLogin(r)),
      loginRequest: (clientId) => this.#call(() => c.loginRequest(clientId)),
      loginRequests: () => this.#call(() => c.loginRequests()),
      clearLoginRequest: (clientId) => this.#call(() => c.clearLoginRequest(clientId)),
    };
  }

  rotateKey(next: Buffer): Promise<RekeyResult> {
    return this.#call(() => this.#store.rotateKey(next));
  }
}
