import type { StoredToken } from '../tokens.js';
import type { ConsentRecord, LoginRequest } from './consents.js';
import type { LeaderFence } from './postgres/leadership.js';
import type { EventQuery, LeaseResult, NewAccount, RekeyResult } from './store.js';
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

/**
 * The store's contract, whichever database is behind it (SQLite on one machine, PostgreSQL
 * shared by several keepers). Every method answers with a Promise, because a network database
 * cannot answer synchronously; the SQLite `Store` is wrapped by `SqliteAsyncStore`.
 *
 * The promises of `Store` hold for every implementation: a write has committed durably when
 * its promise resolves (a renewal kills the old token at once, so the new one must survive a
 * crash the moment `saveToken` returns); `transaction(fn)` commits all of fn's writes or none,
 * and what fn reads cannot change before it commits. Calls made through `tx`, the view fn is
 * given, are part of the transaction; calls on the store itself are not (on SQLite they wait
 * until it ends, so fn must never make one). Times are epoch ms, given by the
 * caller; stored tokens are sealed with the store's key, when it has one.
 */
export interface AsyncStore {
  /** Where the data lives, safe to print (a PostgreSQL URL comes without its password). */
  readonly location: string;
  /** The id of the key tokens are sealed with, or undefined when they are stored as plaintext. */
  readonly keyId: string | undefined;
  close(): Promise<void>;
  transaction<T>(fn: (tx: AsyncStore) => Promise<T>): Promise<T>;

  upsertAccount(account: NewAccount): Promise<AccountRecord>;
  getAccount(clientId: string): Promise<AccountRecord | undefined>;
  listAccounts(): Promise<AccountRecord[]>;
  updateAccount(clientId: string, patch: AccountPatch): Promise<AccountRecord>;

  /**
   * With a fence, commits only while the leadership epoch is the fence's (several keepers on
   * PostgreSQL); SQLite has one keeper per file and refuses a fence.
   */
  saveToken(t: NewToken, fence?: LeaderFence): Promise<StoredToken>;
  currentToken(clientId: string): Promise<StoredToken | undefined>;
  /**
   * Every account's current token, as `currentToken` gives it, for the accounts that have one,
   * in no particular order. A keeper starting with thousands of accounts reads them all at once:
   * one query instead of one per account (on PostgreSQL, a round trip each).
   */
  currentTokens(): Promise<StoredToken[]>;
  markTokenDead(tokenId: number, at: number): Promise<boolean>;
  listTokens(clientId: string, limit?: number): Promise<StoredToken[]>;
  pruneTokenSecrets(olderThan: number): Promise<number>;

  addEvent(e: NewEvent): Promise<HistoryEvent>;
  beginEvent(e: Omit<NewEvent, 'result'>): Promise<number>;
  finishEvent(id: number, outcome: EventOutcome): Promise<boolean>;
  getEvent(id: number): Promise<HistoryEvent | undefined>;
  listEvents(query?: EventQuery): Promise<HistoryEvent[]>;
  pendingEvents(clientId?: string): Promise<HistoryEvent[]>;
  abandonPending(clientId: string | null, at: number, message: string): Promise<number>;
  pruneHistory(olderThan: number): Promise<number>;

  acquireLease(
    owner: LeaseOwner,
    now: number,
    ttlMs: number,
    canStealFromSameHost?: (pid: number) => boolean,
  ): Promise<LeaseResult>;
  heartbeatLease(owner: LeaseOwner, now: number): Promise<boolean>;
  releaseLease(owner: LeaseOwner): Promise<boolean>;
  leaseHolder(): Promise<LeaseHolder | undefined>;

  enqueueRequest(clientId: string, action: RequestAction, payload: string | null, now: number): Promise<number>;
  takeRequests(): Promise<KeeperRequest[]>;
  completeRequest(id: number, status: 'done' | 'failed', result: string): Promise<boolean>;
  cancelRequest(id: number, result: string): Promise<boolean>;
  getRequest(id: number): Promise<KeeperRequest | undefined>;
  /** Commands a previous keeper took and never finished get their end (at a start or a takeover). */
  failAbandonedRequests(result: string): Promise<number>;

  /** The API-key login's consents and login requests; they join this store's transactions. */
  readonly consents: AsyncConsentStore;

  /** Re-seals every stored token with `next` in one transaction; see `Store.rotateKey`. */
  rotateKey(next: Buffer): Promise<RekeyResult>;
}

/** The API-key login's durable state (see ConsentStore for what each call means). */
export interface AsyncConsentStore {
  start(c: { clientId: string; consentAppId: string; loginUrl: string; startedAt: number }): Promise<ConsentRecord>;
  get(id: number): Promise<ConsentRecord | undefined>;
  byConsentAppId(consentAppId: string): Promise<ConsentRecord | undefined>;
  byTokenIdHash(hash: string): Promise<ConsentRecord | undefined>;
  newestOpen(since: number, clientId?: string): Promise<ConsentRecord | undefined>;
  claim(id: number, tokenIdHash: string): Promise<boolean>;
  reopen(id: number): Promise<void>;
  finish(id: number, status: 'done' | 'failed', at: number, message: string): Promise<void>;
  recent(clientId: string, limit?: number): Promise<ConsentRecord[]>;
  countStartedSince(clientId: string, since: number): Promise<number>;
  requestLogin(r: LoginRequest): Promise<LoginRequest>;
  loginRequest(clientId: string): Promise<LoginRequest | undefined>;
  loginRequests(): Promise<LoginRequest[]>;
  clearLoginRequest(clientId: string): Promise<boolean>;
}
