import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Attention } from '../../src/attention.js';
import type { GenerationAttempt } from '../../src/generation-attempt.js';
import { KeeperError } from '../../src/errors.js';
import { SCHEMA_VERSION, Store } from '../../src/store/index.js';
import type { LeaseOwner, NewToken } from '../../src/store/index.js';
import type { AsyncStore } from '../../src/store/contract.js';
import type { StoredToken } from '../../src/tokens.js';

/**
 * A store behind the async contract, with what the suite needs to look at its database from
 * outside. The same assertions run against every implementation; a synchronous result awaited
 * is the result itself.
 */
export interface StoreUnderTest {
  readonly store: AsyncStore;
  /**
   * Opens another store on the same database; close the first one first to act out a restart.
   * With a key, tokens are sealed with it (the plaintext rows found are sealed at the open).
   */
  readonly reopen: (key?: Buffer) => Promise<AsyncStore>;
  /** A read-only store on the same database (the CLI's readers). */
  readonly openReader: () => Promise<AsyncStore>;
  /** The schema version recorded in the database. */
  readonly schemaVersion: () => Promise<number>;
  readonly schemaVersionExpected: number;
  readonly tables: () => Promise<string[]>;
  /** One value from raw SQL, bypassing the store. */
  readonly scalar: (sql: string) => Promise<unknown>;
  /** For the SQLite-only part of the suite (files, pragmas, other processes holding the lock). */
  readonly sqlite?: SqliteUnderTest;
}

export interface SqliteUnderTest {
  /** The database file. The suite also creates files of its own in the same folder. */
  readonly path: string;
  /** The synchronous Store under the adapter. */
  readonly sync: Store;
}

const T0 = Date.UTC(2026, 6, 7, 2, 11, 12, 284);
/** The TOTP step (30 s) containing T0. */
const STEP0 = Math.floor(T0 / 30_000);
const SEC = 1000;
const HOUR = 3600 * SEC;
const DAY = 24 * HOUR;
const ACC = '1000000001';
const OTHER = '1000000002';
/** A credential budget's record: a refusal, a rate-limit answer, and an attempt still in flight. */
const ATTEMPTS: readonly GenerationAttempt[] = [
  {
    at: T0,
    endedAt: T0 + 700,
    totpStep: STEP0,
    outcome: 'credentials-refused',
    answer: 'HTTP 200: Invalid Pin',
    retryAfterMs: null,
  },
  {
    at: T0 + 60 * SEC,
    endedAt: T0 + 61 * SEC,
    totpStep: STEP0 + 2,
    outcome: 'rate-limited',
    answer: 'HTTP 200: Token can be generated once every 2 minutes.',
    retryAfterMs: 120 * SEC,
  },
  { at: T0 + 200 * SEC, endedAt: null, totpStep: STEP0 + 6, outcome: 'pending', answer: null, retryAfterMs: null },
];
const PIN_STOP: Attention = {
  scope: 'generation',
  cause: 'credentials-refused',
  reason: 'wrong PIN',
  wayOut: 'fix the PIN',
  since: T0,
  credentialsFingerprint: 'fp1',
};

function token(clientId: string, n: number, over: Partial<NewToken> = {}): NewToken {
  return {
    clientId,
    accessToken: `eyJ.secret-${clientId}-${n}`,
    source: 'totp',
    obtainedAt: T0 + n * HOUR,
    expiresAt: T0 + n * HOUR + DAY,
    expiryTime: '2026-07-08T07:41:12.284',
    ...over,
  };
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

function expectKeeperError(fn: () => unknown, code: string): KeeperError {
  const err = caught(fn);
  expect(err).toBeInstanceOf(KeeperError);
  expect((err as KeeperError).code).toBe(code);
  return err as KeeperError;
}

async function rejected(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

async function expectRejectedKeeperError(promise: Promise<unknown>, code: string): Promise<KeeperError> {
  const err = await rejected(promise);
  expect(err).toBeInstanceOf(KeeperError);
  expect((err as KeeperError).code).toBe(code);
  return err as KeeperError;
}

const betterSqliteUrl = pathToFileURL(createRequire(import.meta.url).resolve('better-sqlite3')).href;

/**
 * Another process that takes the write lock, inserts an event and holds the transaction
 * open until told to commit (a line on stdin) or until holdMs pass.
 */
const LOCK_HOLDER = `
const [url, path, holdMs] = process.argv.slice(1);
const { default: Database } = await import(url);
const db = new Database(path);
db.pragma('busy_timeout = 5000');
db.exec('BEGIN IMMEDIATE');
db.prepare("INSERT INTO events (client_id, at, kind, result, message) VALUES ('${ACC}', ${T0}, 'probe', 'info', 'from the child')").run();
let done = false;
const commit = () => {
  if (done) return;
  done = true;
  db.exec('COMMIT');
  db.close();
  process.exit(0);
};
process.stdin.on('data', commit);
setTimeout(commit, Number(holdMs));
process.stdout.write('locked\\n');
`;

interface LockHolder {
  /** Asks the child to commit and resolves once it has exited cleanly. */
  commit(): Promise<void>;
  readonly exited: Promise<void>;
}

export function describeStoreBehaviour(name: string, makeStore: () => Promise<StoreUnderTest>): void {
  describe(`Store behaviour: ${name}`, () => {
    let sut: StoreUnderTest;
    let store: AsyncStore;
    const opened: AsyncStore[] = [];

    const track = (s: AsyncStore): AsyncStore => {
      opened.push(s);
      return s;
    };
    const reopen = async (key?: Buffer): Promise<AsyncStore> => track(await sut.reopen(key));
    const openReader = async (): Promise<AsyncStore> => track(await sut.openReader());

    async function seedAccounts(s: AsyncStore = store): Promise<void> {
      await s.upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' });
      await s.upsertAccount({ clientId: OTHER, name: 'spare', mode: 'renew-only' });
    }

    beforeEach(async () => {
      sut = await makeStore();
      store = track(sut.store);
    });

    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
    });

    describe('schema', () => {
      it('migrates a new database to the latest version', async () => {
        expect(await sut.schemaVersion()).toBe(sut.schemaVersionExpected);
        expect(await sut.tables()).toEqual(
          expect.arrayContaining(['accounts', 'events', 'lease', 'requests', 'tokens']),
        );
      });

      it('keeps every kind of data across a reopen', async () => {
        await seedAccounts();
        await store.updateAccount(ACC, {
          attention: PIN_STOP,
          renewRefusedKinds: ['consumer:APP'],
          lastGenerateAt: T0,
          lastTotpStep: STEP0,
          generationAttempts: ATTEMPTS,
        });
        const saved = await store.saveToken(token(ACC, 1));
        const pending = await store.beginEvent({ clientId: ACC, at: T0, kind: 'renew' });
        expect(await store.acquireLease({ pid: 1, host: 'vps' }, T0, 30 * SEC)).toEqual({ ok: true });
        const req = await store.enqueueRequest(ACC, 'renew', null, T0);
        await store.close();

        const again = await reopen();
        expect(await sut.schemaVersion()).toBe(sut.schemaVersionExpected);
        expect(await again.getAccount(ACC)).toMatchObject({
          attention: PIN_STOP,
          renewRefusedKinds: ['consumer:APP'],
          lastGenerateAt: T0,
          lastTotpStep: STEP0,
          generationAttempts: ATTEMPTS,
        });
        expect(await again.currentToken(ACC)).toEqual(saved);
        expect((await again.pendingEvents(ACC)).map((e) => e.id)).toEqual([pending]);
        expect(await again.leaseHolder()).toMatchObject({ pid: 1, host: 'vps' });
        expect((await again.getRequest(req))?.status).toBe('queued');
      });
    });

    describe('accounts', () => {
      it('creates an account with nothing learned yet', async () => {
        expect(await store.upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' })).toEqual({
          clientId: ACC,
          name: 'main',
          mode: 'auto',
          attention: null,
          renewRefusedKinds: [],
          lastGenerateAt: null,
          lastTotpStep: null,
          generationAttempts: [],
          consecutiveFailures: 0,
          lastSuccessAt: null,
          lastAttemptAt: null,
          lastResult: null,
          nextActionAt: null,
        });
        expect((await store.getAccount(ACC))?.name).toBe('main');
        expect(await store.getAccount('nobody')).toBeUndefined();
      });

      it('patches only the given fields; null clears', async () => {
        await seedAccounts();
        await store.updateAccount(ACC, { attention: PIN_STOP, consecutiveFailures: 3 });
        expect((await store.getAccount(ACC))?.attention).toEqual(PIN_STOP);
        const next = await store.updateAccount(ACC, {
          attention: null,
          renewRefusedKinds: ['source:totp', 'consumer:APP'],
          lastResult: 'renew ok',
        });
        expect(next).toMatchObject({
          attention: null,
          consecutiveFailures: 3,
          renewRefusedKinds: ['source:totp', 'consumer:APP'],
          lastResult: 'renew ok',
        });
        expect(await store.getAccount(ACC)).toEqual(next);
        expect((await store.getAccount(OTHER))?.consecutiveFailures).toBe(0);
      });

      it('an upsert renames and changes mode but keeps learned state', async () => {
        await seedAccounts();
        await store.updateAccount(ACC, {
          renewRefusedKinds: ['source:totp'],
          lastGenerateAt: T0,
          lastTotpStep: STEP0,
          nextActionAt: T0 + HOUR,
        });
        const again = await store.upsertAccount({ clientId: ACC, name: 'renamed', mode: 'generate-only' });
        expect(again).toMatchObject({
          name: 'renamed',
          mode: 'generate-only',
          renewRefusedKinds: ['source:totp'],
          lastGenerateAt: T0,
          lastTotpStep: STEP0,
          nextActionAt: T0 + HOUR,
        });
      });

      it('the last TOTP step is written with lastGenerateAt and stays when lastGenerateAt is rolled back', async () => {
        await seedAccounts();
        // As the worker does: both before the call, then only lastGenerateAt back after Dhan's refusal.
        expect(await store.updateAccount(ACC, { lastGenerateAt: T0, lastTotpStep: STEP0 })).toMatchObject({
          lastGenerateAt: T0,
          lastTotpStep: STEP0,
        });
        expect(await store.updateAccount(ACC, { lastGenerateAt: null })).toMatchObject({
          lastGenerateAt: null,
          lastTotpStep: STEP0,
        });
        await store.close();
        const again = await reopen();
        expect(await again.getAccount(ACC)).toMatchObject({ lastGenerateAt: null, lastTotpStep: STEP0 });
        expect(await again.updateAccount(ACC, { lastTotpStep: STEP0 + 1 })).toMatchObject({ lastTotpStep: STEP0 + 1 });
        expect((await again.getAccount(OTHER))?.lastTotpStep).toBeNull();
        expect(await sut.scalar(`SELECT last_totp_step FROM accounts WHERE client_id = '${ACC}'`)).toBe(STEP0 + 1);
      });

      it('keeps the credential budget: written whole, kept by other patches and upserts, cleared by []', async () => {
        await seedAccounts();
        const one = ATTEMPTS.slice(0, 1);
        expect(await store.updateAccount(ACC, { generationAttempts: one, lastGenerateAt: T0 })).toMatchObject({
          generationAttempts: one,
        });
        await store.updateAccount(ACC, { generationAttempts: ATTEMPTS });
        await store.updateAccount(ACC, { lastResult: 'generate failed', consecutiveFailures: 2 });
        await store.upsertAccount({ clientId: ACC, name: 'renamed', mode: 'auto' });
        expect((await store.getAccount(ACC))?.generationAttempts).toEqual(ATTEMPTS);
        expect((await store.getAccount(OTHER))?.generationAttempts).toEqual([]);
        // Written and read in one transaction with the rest of the row, as a stop is.
        await store.transaction(async (tx) => {
          await tx.updateAccount(ACC, { attention: PIN_STOP });
          expect((await tx.getAccount(ACC))?.generationAttempts).toEqual(ATTEMPTS);
        });
        await store.close();
        const again = await reopen();
        expect((await again.listAccounts()).find((a) => a.clientId === ACC)?.generationAttempts).toEqual(ATTEMPTS);
        expect(await again.updateAccount(ACC, { generationAttempts: [] })).toMatchObject({ generationAttempts: [] });
        expect(
          JSON.parse(String(await sut.scalar(`SELECT generation_attempts FROM accounts WHERE client_id = '${ACC}'`))),
        ).toEqual([]);
      });

      it('lists accounts by client id; updating an unknown one fails clearly', async () => {
        await store.upsertAccount({ clientId: OTHER, name: 'spare', mode: 'renew-only' });
        await store.upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' });
        expect((await store.listAccounts()).map((a) => a.clientId)).toEqual([ACC, OTHER]);
        await expectRejectedKeeperError(store.updateAccount('nobody', { lastResult: 'x' }), 'unknown-account');
      });
    });

    describe('tokens', () => {
      beforeEach(() => seedAccounts());

      it('the first token is current, even when its expiry has passed', async () => {
        const t = await store.saveToken(token(ACC, 1, { expiresAt: T0 - DAY, source: 'web' }));
        expect(t).toEqual({ id: t.id, ...token(ACC, 1, { expiresAt: T0 - DAY, source: 'web' }), supersededAt: null });
        expect(await store.currentToken(ACC)).toEqual(t);
        expect(await store.currentToken(OTHER)).toBeUndefined();
      });

      it('a new token supersedes the previous one at its obtainedAt', async () => {
        const t1 = await store.saveToken(token(ACC, 1));
        const o1 = await store.saveToken(token(OTHER, 1));
        const t2 = await store.saveToken(token(ACC, 2, { source: 'renew' }));
        expect(await store.currentToken(ACC)).toEqual(t2);
        expect(await store.listTokens(ACC, 10)).toEqual([t2, { ...t1, supersededAt: t2.obtainedAt }]);
        expect(await store.listTokens(ACC, 1)).toEqual([t2]);
        expect(await store.currentToken(OTHER)).toEqual(o1);
      });

      it('a failed save leaves the previous token current', async () => {
        const t1 = await store.saveToken(token(ACC, 1));
        // A source the schema rejects makes the insert fail after the supersede ran.
        expect(
          String(await rejected(store.saveToken(token(ACC, 2, { source: 'bogus' as NewToken['source'] })))),
        ).toMatch(/CHECK/i);
        expect(await store.currentToken(ACC)).toEqual(t1);
        expect(await store.listTokens(ACC, 10)).toEqual([t1]);
      });

      it('refuses unknown accounts and empty tokens', async () => {
        await expectRejectedKeeperError(store.saveToken(token('nobody', 1)), 'unknown-account');
        await expectRejectedKeeperError(store.saveToken(token(ACC, 1, { accessToken: '' })), 'store-empty-token');
        expect(await store.listTokens(ACC, 10)).toEqual([]);
      });

      it('a dead token is no longer current', async () => {
        const t1 = await store.saveToken(token(ACC, 1));
        expect(await store.markTokenDead(t1.id, T0 + 5 * HOUR)).toBe(true);
        expect(await store.markTokenDead(t1.id, T0 + 6 * HOUR)).toBe(false);
        expect(await store.currentToken(ACC)).toBeUndefined();
        expect(await store.listTokens(ACC, 10)).toEqual([{ ...t1, supersededAt: T0 + 5 * HOUR }]);
        const t2 = await store.saveToken(token(ACC, 7));
        expect(await store.currentToken(ACC)).toEqual(t2);
        expect((await store.listTokens(ACC, 10))[1]?.supersededAt).toBe(T0 + 5 * HOUR);
      });

      /** What a keeper would read account by account, to hold `currentTokens()` against. */
      async function currentOneByOne(s: AsyncStore): Promise<StoredToken[]> {
        const tokens: StoredToken[] = [];
        for (const account of await s.listAccounts()) {
          const t = await s.currentToken(account.clientId);
          if (t !== undefined) tokens.push(t);
        }
        return tokens;
      }
      const byId = (tokens: StoredToken[]): StoredToken[] => [...tokens].sort((a, b) => a.id - b.id);

      it('currentTokens gives each account its currentToken: the newest, none once dead or never saved', async () => {
        expect(await store.currentTokens()).toEqual([]);
        const NONE = '1000000003';
        const DEAD = '1000000004';
        const REVIVED = '1000000005';
        for (const clientId of [NONE, DEAD, REVIVED])
          await store.upsertAccount({ clientId, name: clientId, mode: 'auto' });
        const t1 = await store.saveToken(token(ACC, 1));
        const o1 = await store.saveToken(token(OTHER, 1));
        const t2 = await store.saveToken(token(ACC, 2, { source: 'renew' }));
        const d1 = await store.saveToken(token(DEAD, 1));
        expect(await store.markTokenDead(d1.id, T0 + 3 * HOUR)).toBe(true);
        const r1 = await store.saveToken(token(REVIVED, 1));
        const t3 = await store.saveToken(token(ACC, 3));
        expect(await store.markTokenDead(r1.id, T0 + 3 * HOUR)).toBe(true);
        const r2 = await store.saveToken(token(REVIVED, 4));

        const all = await store.currentTokens();
        expect(byId(all)).toEqual(byId(await currentOneByOne(store)));
        expect(byId(all)).toEqual([o1, t3, r2]);
        expect((await store.listTokens(ACC, 10)).map((t) => t.id)).toEqual([t3.id, t2.id, t1.id]);
      });

      it('currentTokens opens sealed tokens as currentToken does', async () => {
        await store.saveToken(token(ACC, 1));
        await store.close();
        const sealed = await reopen(randomBytes(32));
        const t2 = await sealed.saveToken(token(ACC, 2));
        const o1 = await sealed.saveToken(token(OTHER, 1));
        expect(await sut.scalar(`SELECT access_token FROM tokens WHERE id = ${o1.id}`)).toMatch(/^dtk-sealed:/);
        const all = byId(await sealed.currentTokens());
        expect(all).toEqual(byId(await currentOneByOne(sealed)));
        expect(all.map((t) => t.accessToken)).toEqual([token(ACC, 2).accessToken, token(OTHER, 1).accessToken]);
        expect(all).toEqual([t2, o1]);
      });

      it('prunes the secret of old superseded tokens only', async () => {
        const t1 = await store.saveToken(token(ACC, 1));
        const t2 = await store.saveToken(token(ACC, 2));
        const t3 = await store.saveToken(token(ACC, 3));
        expect(await store.pruneTokenSecrets(T0 + 2 * HOUR + 1)).toBe(1);
        expect((await store.listTokens(ACC, 10)).map((t) => t.accessToken)).toEqual([
          t3.accessToken,
          t2.accessToken,
          '',
        ]);
        // The current token is never pruned, however old.
        expect(await store.pruneTokenSecrets(T0 + 100 * DAY)).toBe(1);
        expect((await store.listTokens(ACC, 10)).map((t) => t.accessToken)).toEqual([t3.accessToken, '', '']);
        expect((await store.listTokens(ACC, 10))[2]).toMatchObject({
          id: t1.id,
          obtainedAt: t1.obtainedAt,
          supersededAt: t2.obtainedAt,
        });
        expect(await sut.scalar(`SELECT count(*) FROM tokens WHERE access_token = ''`)).toBe(2);
      });
    });

    describe('history', () => {
      it('adds an event and reads it back', async () => {
        const e = await store.addEvent({
          clientId: ACC,
          at: T0,
          kind: 'sink',
          result: 'success',
          detail: { sink: 'file', n: 1 },
        });
        expect(e).toEqual({
          id: e.id,
          clientId: ACC,
          at: T0,
          kind: 'sink',
          result: 'success',
          errorKind: null,
          errorCode: null,
          message: null,
          durationMs: null,
          expiryBefore: null,
          expiryAfter: null,
          detail: { sink: 'file', n: 1 },
        });
        expect(await store.getEvent(e.id)).toEqual(e);
        expect((await store.addEvent({ clientId: null, at: T0, kind: 'start', result: 'info' })).clientId).toBeNull();
      });

      it('a pending row is finished once, keeping what was begun', async () => {
        const id = await store.beginEvent({
          clientId: ACC,
          at: T0,
          kind: 'renew',
          expiryBefore: T0 + HOUR,
          detail: { attempt: 1 },
        });
        expect(await store.pendingEvents(ACC)).toMatchObject([{ id, result: 'pending' }]);
        expect(
          await store.finishEvent(id, {
            result: 'success',
            durationMs: 420,
            expiryAfter: T0 + DAY,
            message: 'renew ok',
            detail: { status: 200 },
          }),
        ).toBe(true);
        expect(await store.getEvent(id)).toEqual({
          id,
          clientId: ACC,
          at: T0,
          kind: 'renew',
          result: 'success',
          errorKind: null,
          errorCode: null,
          message: 'renew ok',
          durationMs: 420,
          expiryBefore: T0 + HOUR,
          expiryAfter: T0 + DAY,
          detail: { attempt: 1, status: 200 },
        });
        expect(await store.pendingEvents(ACC)).toEqual([]);
        expect(await store.finishEvent(id, { result: 'failure' })).toBe(false);
        expect(await store.finishEvent(id + 100, { result: 'failure' })).toBe(false);
        expect((await store.getEvent(id))?.result).toBe('success');
      });

      it('abandons leftover pending rows after a crash, per account or all', async () => {
        const a1 = await store.beginEvent({ clientId: ACC, at: T0, kind: 'renew', detail: { attempt: 2 } });
        const a2 = await store.beginEvent({ clientId: ACC, at: T0 + 1, kind: 'generate' });
        const b1 = await store.beginEvent({ clientId: OTHER, at: T0 + 2, kind: 'renew' });
        expect((await store.pendingEvents()).map((e) => e.id)).toEqual([a1, a2, b1]);
        await store.close();

        const after = await reopen();
        expect(await after.abandonPending(ACC, T0 + HOUR, 'keeper stopped during the call')).toBe(2);
        expect(await after.getEvent(a1)).toMatchObject({
          result: 'abandoned',
          at: T0,
          message: 'keeper stopped during the call',
          detail: { attempt: 2, abandonedAt: T0 + HOUR },
        });
        expect((await after.getEvent(a2))?.detail).toEqual({ abandonedAt: T0 + HOUR });
        expect((await after.pendingEvents()).map((e) => e.id)).toEqual([b1]);
        expect(await after.abandonPending(null, T0 + HOUR, 'gone')).toBe(1);
        expect(await after.pendingEvents()).toEqual([]);
      });

      it('lists newest first by time then id, with limit and filters', async () => {
        const at = [T0 + 2, T0 + 1, T0 + 3, T0 + 1];
        const ids: number[] = [];
        for (const [i, t] of at.entries()) {
          ids.push(
            (
              await store.addEvent({
                clientId: i === 2 ? OTHER : ACC,
                at: t,
                kind: i === 1 ? 'generate' : 'renew',
                result: 'success',
              })
            ).id,
          );
        }
        const [e0, e1, e2, e3] = ids;
        expect((await store.listEvents()).map((e) => e.id)).toEqual([e2, e0, e3, e1]);
        expect((await store.listEvents({ limit: 2 })).map((e) => e.id)).toEqual([e2, e0]);
        expect((await store.listEvents({ clientId: ACC })).map((e) => e.id)).toEqual([e0, e3, e1]);
        expect((await store.listEvents({ kinds: ['generate'] })).map((e) => e.id)).toEqual([e1]);
        expect((await store.listEvents({ clientId: OTHER, kinds: ['renew', 'generate'] })).map((e) => e.id)).toEqual([
          e2,
        ]);
        expect(await store.listEvents({ kinds: [] })).toEqual([]);
      });

      it('lists at most 100 events by default', async () => {
        await store.transaction(async (tx) => {
          for (let i = 0; i < 105; i++) await tx.addEvent({ clientId: ACC, at: T0 + i, kind: 'probe', result: 'info' });
        });
        const events = await store.listEvents();
        expect(events).toHaveLength(100);
        expect(events[0]?.at).toBe(T0 + 104);
      });

      it('pruning deletes old events but never a pending one', async () => {
        const oldDone = (await store.addEvent({ clientId: ACC, at: T0, kind: 'renew', result: 'success' })).id;
        const oldPending = await store.beginEvent({ clientId: ACC, at: T0, kind: 'renew' });
        const fresh = (await store.addEvent({ clientId: ACC, at: T0 + 30 * DAY, kind: 'renew', result: 'failure' })).id;
        expect(await store.pruneHistory(T0 + DAY)).toBe(1);
        expect(await store.getEvent(oldDone)).toBeUndefined();
        expect((await store.listEvents()).map((e) => e.id)).toEqual([fresh, oldPending]);
      });
    });

    describe('lease', () => {
      const A: LeaseOwner = { pid: 101, host: 'vps' };
      const B: LeaseOwner = { pid: 202, host: 'vps' };
      const ELSEWHERE: LeaseOwner = { pid: 303, host: 'laptop' };
      const TTL = 30 * SEC;

      it('is acquired when free and denied to others while live', async () => {
        expect(await store.leaseHolder()).toBeUndefined();
        expect(await store.acquireLease(A, T0, TTL)).toEqual({ ok: true });
        const holder = { ...A, acquiredAt: T0, heartbeatAt: T0, expiresAt: T0 + TTL };
        expect(await store.leaseHolder()).toEqual(holder);
        expect(await store.acquireLease(B, T0 + SEC, TTL)).toEqual({ ok: false, holder });
        const alive = vi.fn(() => false);
        expect(await store.acquireLease(B, T0 + SEC, TTL, alive)).toEqual({ ok: false, holder });
        expect(alive).toHaveBeenCalledWith(A.pid);
      });

      it('never asks about a pid on another host', async () => {
        await store.acquireLease(A, T0, TTL);
        const steal = vi.fn(() => true);
        expect((await store.acquireLease(ELSEWHERE, T0 + SEC, TTL, steal)).ok).toBe(false);
        expect(steal).not.toHaveBeenCalled();
      });

      it('the holder may acquire again, keeping acquiredAt', async () => {
        await store.acquireLease(A, T0, TTL);
        expect(await store.acquireLease(A, T0 + 10 * SEC, TTL)).toEqual({ ok: true });
        expect(await store.leaseHolder()).toEqual({
          ...A,
          acquiredAt: T0,
          heartbeatAt: T0 + 10 * SEC,
          expiresAt: T0 + 10 * SEC + TTL,
        });
      });

      it('expires at heartbeat + ttl', async () => {
        await store.acquireLease(A, T0, TTL);
        expect((await store.acquireLease(ELSEWHERE, T0 + TTL - 1, TTL)).ok).toBe(false);
        expect(await store.acquireLease(ELSEWHERE, T0 + TTL, TTL)).toEqual({ ok: true });
        expect(await store.leaseHolder()).toMatchObject({ ...ELSEWHERE, acquiredAt: T0 + TTL });
      });

      it('a heartbeat extends it; a lost lease reports false', async () => {
        await store.acquireLease(A, T0, TTL);
        expect(await store.heartbeatLease(A, T0 + 20 * SEC)).toBe(true);
        expect((await store.acquireLease(B, T0 + TTL, TTL)).ok).toBe(false);
        expect(await store.acquireLease(B, T0 + 20 * SEC + TTL, TTL)).toEqual({ ok: true });
        expect(await store.heartbeatLease(A, T0 + 51 * SEC)).toBe(false);
        expect(await store.releaseLease(A)).toBe(false);
        expect(await store.leaseHolder()).toMatchObject(B);
      });

      it('is taken over from a dead pid on the same host', async () => {
        await store.acquireLease(A, T0, TTL);
        const dead = vi.fn((pid: number) => pid === A.pid);
        expect(await store.acquireLease(B, T0 + SEC, TTL, dead)).toEqual({ ok: true });
        expect(await store.leaseHolder()).toEqual({
          ...B,
          acquiredAt: T0 + SEC,
          heartbeatAt: T0 + SEC,
          expiresAt: T0 + SEC + TTL,
        });
        expect(await store.heartbeatLease(A, T0 + 2 * SEC)).toBe(false);
      });

      it('is released by its holder only', async () => {
        await store.acquireLease(A, T0, TTL);
        expect(await store.releaseLease(B)).toBe(false);
        expect(await store.releaseLease(A)).toBe(true);
        expect(await store.leaseHolder()).toBeUndefined();
        expect(await store.acquireLease(B, T0 + SEC, TTL)).toEqual({ ok: true });
      });

      it('one winner between two connections', async () => {
        const second = await reopen();
        expect(await store.acquireLease(A, T0, TTL)).toEqual({ ok: true });
        expect((await second.acquireLease(B, T0, TTL)).ok).toBe(false);
        expect(await (await openReader()).leaseHolder()).toMatchObject(A);
      });

      it('one winner when two connections try at the same moment', async () => {
        const second = await reopen();
        const results = await Promise.all([store.acquireLease(A, T0, TTL), second.acquireLease(B, T0, TTL)]);
        expect(results.filter((r) => r.ok)).toHaveLength(1);
      });
    });

    describe('requests', () => {
      const PAYLOAD = JSON.stringify({ accessToken: 'eyJ.imported-secret', source: 'web' });

      it('are taken exactly once, oldest first, and the payload leaves the database', async () => {
        const cli = await reopen();
        const r1 = await cli.enqueueRequest(ACC, 'import', PAYLOAD, T0);
        const r2 = await cli.enqueueRequest(OTHER, 'renew', null, T0 + 1);
        expect(r2).toBeGreaterThan(r1);
        expect(await cli.getRequest(r1)).toEqual({
          id: r1,
          clientId: ACC,
          action: 'import',
          createdAt: T0,
          payload: PAYLOAD,
          status: 'queued',
          result: null,
        });

        const taken = await store.takeRequests();
        expect(taken).toEqual([
          { id: r1, clientId: ACC, action: 'import', createdAt: T0, payload: PAYLOAD, status: 'taken', result: null },
          { id: r2, clientId: OTHER, action: 'renew', createdAt: T0 + 1, payload: null, status: 'taken', result: null },
        ]);
        expect(await store.takeRequests()).toEqual([]);
        expect(await cli.takeRequests()).toEqual([]);
        expect(await cli.getRequest(r1)).toMatchObject({ status: 'taken', payload: null });
        expect(await sut.scalar('SELECT count(*) FROM requests WHERE payload IS NOT NULL')).toBe(0);
      });

      it('are completed once, and only after being taken', async () => {
        const id = await store.enqueueRequest(ACC, 'renew', null, T0);
        expect(await store.completeRequest(id, 'done', 'renewed')).toBe(false);
        await store.takeRequests();
        expect(await store.completeRequest(id, 'failed', 'DH-905: invalid input')).toBe(true);
        expect(await store.completeRequest(id, 'done', 'again')).toBe(false);
        expect(await store.getRequest(id)).toMatchObject({ status: 'failed', result: 'DH-905: invalid input' });
        expect(await store.getRequest(id + 100)).toBeUndefined();
      });

      it('a request nobody took can be cancelled, dropping its payload', async () => {
        const id = await store.enqueueRequest(ACC, 'import', PAYLOAD, T0);
        expect(await store.cancelRequest(id, 'no keeper is running')).toBe(true);
        expect(await store.getRequest(id)).toMatchObject({
          status: 'failed',
          payload: null,
          result: 'no keeper is running',
        });
        expect(await store.takeRequests()).toEqual([]);
        const taken = await store.enqueueRequest(ACC, 'renew', null, T0);
        await store.takeRequests();
        expect(await store.cancelRequest(taken, 'too late')).toBe(false);
      });

      it('two takers at the same moment get each request once between them', async () => {
        const other = await reopen();
        const ids: number[] = [];
        for (let i = 0; i < 20; i++) ids.push(await store.enqueueRequest(ACC, 'renew', null, T0 + i));
        const [a, b] = await Promise.all([store.takeRequests(), other.takeRequests()]);
        expect([...a, ...b].map((r) => r.id).sort((x, y) => x - y)).toEqual(ids);
      });
    });

    describe('abandoned requests', () => {
      it('a taken request nobody finished fails with the given result; queued and finished ones stay', async () => {
        const PAYLOAD = JSON.stringify({ accessToken: 'eyJ.imported-secret', source: 'web' });
        const finished = await store.enqueueRequest(ACC, 'renew', null, T0);
        await store.takeRequests();
        await store.completeRequest(finished, 'done', 'renewed');
        const abandoned = await store.enqueueRequest(ACC, 'import', PAYLOAD, T0 + 1);
        await store.takeRequests();
        const queued = await store.enqueueRequest(OTHER, 'renew', null, T0 + 2);

        const next = await reopen();
        expect(await next.failAbandonedRequests('the keeper stopped before finishing it')).toBe(1);
        expect(await next.getRequest(abandoned)).toMatchObject({
          status: 'failed',
          payload: null,
          result: 'the keeper stopped before finishing it',
        });
        expect(await next.getRequest(finished)).toMatchObject({ status: 'done', result: 'renewed' });
        expect(await next.getRequest(queued)).toMatchObject({ status: 'queued' });
        expect(await next.failAbandonedRequests('again')).toBe(0);
      });
    });

    describe('consents and login requests', () => {
      const APIKEY = '1000000003';
      const LOGIN_URL = 'https://auth.example/login/consent?consentAppId=app-1';

      beforeEach(() => store.upsertAccount({ clientId: APIKEY, name: 'apikey', mode: 'consent' }));

      it('a consent starts open, is found by id and app id, and keeps what it was given', async () => {
        const c = await store.consents.start({
          clientId: APIKEY,
          consentAppId: 'app-1',
          loginUrl: LOGIN_URL,
          startedAt: T0,
        });
        expect(c).toEqual({
          id: c.id,
          clientId: APIKEY,
          consentAppId: 'app-1',
          loginUrl: LOGIN_URL,
          startedAt: T0,
          status: 'open',
          finishedAt: null,
          message: null,
        });
        expect(await store.consents.get(c.id)).toEqual(c);
        expect(await store.consents.byConsentAppId('app-1')).toEqual(c);
        expect(await store.consents.get(c.id + 100)).toBeUndefined();
        expect(await store.consents.byConsentAppId('app-unknown')).toBeUndefined();
        await expect(
          store.consents.start({ clientId: APIKEY, consentAppId: 'app-1', loginUrl: LOGIN_URL, startedAt: T0 + 1 }),
        ).rejects.toThrow();
        await expect(
          store.consents.start({ clientId: '9999999999', consentAppId: 'app-2', loginUrl: LOGIN_URL, startedAt: T0 }),
        ).rejects.toThrow();
      });

      it('a tokenId is claimed once: claim, replay by hash, reopen, finish', async () => {
        const c = await store.consents.start({
          clientId: APIKEY,
          consentAppId: 'app-1',
          loginUrl: LOGIN_URL,
          startedAt: T0,
        });
        expect(await store.consents.claim(c.id, 'hash-1')).toBe(true);
        expect(await store.consents.claim(c.id, 'hash-2')).toBe(false);
        expect(await store.consents.get(c.id)).toMatchObject({ status: 'consuming' });
        expect((await store.consents.byTokenIdHash('hash-1'))?.id).toBe(c.id);
        expect(await store.consents.byTokenIdHash('hash-2')).toBeUndefined();

        await store.consents.reopen(c.id);
        expect(await store.consents.get(c.id)).toMatchObject({ status: 'open' });
        expect(await store.consents.byTokenIdHash('hash-1')).toBeUndefined();
        expect(await store.consents.claim(c.id, 'hash-3')).toBe(true);
        await store.consents.finish(c.id, 'done', T0 + 5 * SEC, 'token saved');
        expect(await store.consents.get(c.id)).toMatchObject({
          status: 'done',
          finishedAt: T0 + 5 * SEC,
          message: 'token saved',
        });
        // A finished consent is not reopened, nor claimed again.
        await store.consents.reopen(c.id);
        expect(await store.consents.get(c.id)).toMatchObject({ status: 'done' });
        expect(await store.consents.claim(c.id, 'hash-4')).toBe(false);
      });

      it('one winner when two connections claim the same consent at the same moment', async () => {
        const c = await store.consents.start({
          clientId: APIKEY,
          consentAppId: 'app-1',
          loginUrl: LOGIN_URL,
          startedAt: T0,
        });
        const other = await reopen();
        const results = await Promise.all([store.consents.claim(c.id, 'hash-a'), other.consents.claim(c.id, 'hash-b')]);
        expect(results.filter(Boolean)).toHaveLength(1);
      });

      it('newest open consent since a time, per account or any; recent and counts', async () => {
        await store.upsertAccount({ clientId: OTHER, name: 'spare', mode: 'consent' });
        const a = await store.consents.start({
          clientId: APIKEY,
          consentAppId: 'app-1',
          loginUrl: LOGIN_URL,
          startedAt: T0,
        });
        const b = await store.consents.start({
          clientId: APIKEY,
          consentAppId: 'app-2',
          loginUrl: LOGIN_URL,
          startedAt: T0 + 10 * SEC,
        });
        const o = await store.consents.start({
          clientId: OTHER,
          consentAppId: 'app-3',
          loginUrl: LOGIN_URL,
          startedAt: T0 + 20 * SEC,
        });
        expect((await store.consents.newestOpen(T0))?.id).toBe(o.id);
        expect((await store.consents.newestOpen(T0, APIKEY))?.id).toBe(b.id);
        await store.consents.finish(b.id, 'failed', T0 + 11 * SEC, 'expired');
        expect((await store.consents.newestOpen(T0, APIKEY))?.id).toBe(a.id);
        expect(await store.consents.newestOpen(T0 + 1, APIKEY)).toBeUndefined();
        expect((await store.consents.recent(APIKEY)).map((r) => r.id)).toEqual([b.id, a.id]);
        expect((await store.consents.recent(APIKEY, 1)).map((r) => r.id)).toEqual([b.id]);
        expect(await store.consents.countStartedSince(APIKEY, T0)).toBe(2);
        expect(await store.consents.countStartedSince(APIKEY, T0 + 1)).toBe(1);
        expect(await store.consents.countStartedSince('9999999999', T0)).toBe(0);
      });

      it('a login request keeps its first since, updates reason and deadline, and is cleared once', async () => {
        await store.upsertAccount({ clientId: OTHER, name: 'spare', mode: 'consent' });
        expect(
          await store.consents.requestLogin({ clientId: APIKEY, since: T0, reason: 'no token', deadline: null }),
        ).toEqual({
          clientId: APIKEY,
          since: T0,
          reason: 'no token',
          deadline: null,
        });
        expect(
          await store.consents.requestLogin({
            clientId: APIKEY,
            since: T0 + HOUR,
            reason: 'token dies soon',
            deadline: T0 + DAY,
          }),
        ).toEqual({
          clientId: APIKEY,
          since: T0,
          reason: 'token dies soon',
          deadline: T0 + DAY,
        });
        await store.consents.requestLogin({ clientId: OTHER, since: T0 + 1, reason: 'no token', deadline: null });
        expect((await store.consents.loginRequests()).map((r) => r.clientId)).toEqual([OTHER, APIKEY].sort());
        expect(await store.consents.loginRequest(APIKEY)).toMatchObject({ since: T0, deadline: T0 + DAY });
        expect(await store.consents.clearLoginRequest(APIKEY)).toBe(true);
        expect(await store.consents.clearLoginRequest(APIKEY)).toBe(false);
        expect(await store.consents.loginRequest(APIKEY)).toBeUndefined();
        await expect(
          store.consents.requestLogin({ clientId: '9999999999', since: T0, reason: 'x', deadline: null }),
        ).rejects.toThrow();
      });

      it('join the store transaction: rolled back with it, invisible to others until commit', async () => {
        const reader = await openReader();
        await rejected(
          store.transaction(async (tx) => {
            await tx.consents.start({ clientId: APIKEY, consentAppId: 'app-1', loginUrl: LOGIN_URL, startedAt: T0 });
            await tx.consents.requestLogin({ clientId: APIKEY, since: T0, reason: 'no token', deadline: null });
            throw new Error('rolled back');
          }),
        );
        expect(await store.consents.byConsentAppId('app-1')).toBeUndefined();
        expect(await store.consents.loginRequests()).toEqual([]);

        await store.transaction(async (tx) => {
          const c = await tx.consents.start({
            clientId: APIKEY,
            consentAppId: 'app-2',
            loginUrl: LOGIN_URL,
            startedAt: T0,
          });
          expect(await tx.consents.claim(c.id, 'hash-1')).toBe(true);
          expect(await reader.consents.byConsentAppId('app-2')).toBeUndefined();
        });
        expect(await reader.consents.byConsentAppId('app-2')).toMatchObject({ status: 'consuming' });
      });

      it('are kept across a reopen and seen by a reader', async () => {
        const c = await store.consents.start({
          clientId: APIKEY,
          consentAppId: 'app-1',
          loginUrl: LOGIN_URL,
          startedAt: T0,
        });
        await store.consents.requestLogin({ clientId: APIKEY, since: T0, reason: 'no token', deadline: T0 + DAY });
        await store.close();
        const again = await reopen();
        expect(await again.consents.get(c.id)).toEqual(c);
        const reader = await openReader();
        expect(await reader.consents.loginRequests()).toEqual([
          { clientId: APIKEY, since: T0, reason: 'no token', deadline: T0 + DAY },
        ]);
      });
    });

    describe('transactions', () => {
      beforeEach(() => seedAccounts());

      it('commit all writes together or none', async () => {
        const t1 = await store.saveToken(token(ACC, 1));
        const failed = await rejected(
          store.transaction(async (tx) => {
            await tx.saveToken(token(ACC, 2));
            await tx.addEvent({ clientId: ACC, at: T0, kind: 'renew', result: 'success' });
            throw new Error('sink exploded');
          }),
        );
        expect(failed).toMatchObject({ message: 'sink exploded' });
        expect(await store.currentToken(ACC)).toEqual(t1);
        expect(await store.listEvents()).toEqual([]);
        const id = await store.transaction(async (tx) => {
          await tx.saveToken(token(ACC, 3));
          return tx.beginEvent({ clientId: ACC, at: T0, kind: 'renew' });
        });
        expect((await store.getEvent(id))?.result).toBe('pending');
        expect((await store.currentToken(ACC))?.accessToken).toBe(token(ACC, 3).accessToken);
      });

      it('a nested transaction rolls back alone', async () => {
        await store.transaction(async (tx) => {
          await tx.addEvent({ clientId: ACC, at: T0, kind: 'probe', result: 'info', message: 'outer' });
          await rejected(
            tx.transaction(async (inner) => {
              await inner.addEvent({ clientId: ACC, at: T0 + 1, kind: 'probe', result: 'info', message: 'inner' });
              throw new Error('inner failed');
            }),
          );
        });
        expect((await store.listEvents()).map((e) => e.message)).toEqual(['outer']);
      });

      it('calls from outside a running transaction neither join it nor see its writes', async () => {
        let inside!: () => void;
        const entered = new Promise<void>((resolve) => (inside = resolve));
        let finish!: () => void;
        const gate = new Promise<void>((resolve) => (finish = resolve));
        const tx = store.transaction(async (view) => {
          await view.addEvent({ clientId: ACC, at: T0, kind: 'probe', result: 'info', message: 'in tx' });
          inside();
          await gate;
          throw new Error('rolled back');
        });
        await entered;
        const outside = store.addEvent({
          clientId: ACC,
          at: T0 + 1,
          kind: 'probe',
          result: 'info',
          message: 'outside',
        });
        try {
          const reader = await openReader();
          expect((await reader.listEvents()).map((e) => e.message)).not.toContain('in tx');
        } finally {
          finish();
        }
        await rejected(tx);
        await outside;
        expect((await store.listEvents()).map((e) => e.message)).toEqual(['outside']);
      });
    });

    describe('readers beside a writer', () => {
      beforeEach(() => seedAccounts());

      it('a reader sees committed state only, without waiting', async () => {
        const t1 = await store.saveToken(token(ACC, 1));
        const reader = await openReader();
        await store.transaction(async (tx) => {
          await tx.saveToken(token(ACC, 2));
          await tx.beginEvent({ clientId: ACC, at: T0, kind: 'renew' });
          expect(await reader.currentToken(ACC)).toEqual(t1);
          expect(await reader.pendingEvents()).toEqual([]);
        });
        expect((await reader.currentToken(ACC))?.accessToken).toBe(token(ACC, 2).accessToken);
        expect(await reader.pendingEvents()).toHaveLength(1);
      });
    });

    // Registered for every store; it skips itself unless the store under test is a SQLite file.
    describeSqliteOnly(() => sut);
  });
}

function describeSqliteOnly(getSut: () => StoreUnderTest): void {
  describe('SQLite file, pragmas and other processes', () => {
    let path: string;
    let store: Store;
    const opened: Store[] = [];
    const rawOpened: Database.Database[] = [];
    const children: ChildProcess[] = [];

    const track = (s: Store): Store => {
      opened.push(s);
      return s;
    };
    const openReader = (): Store => track(Store.open(path, { readonly: true }));
    const raw = (file = path, readonly = true): Database.Database => {
      const db = new Database(file, { readonly, fileMustExist: true });
      rawOpened.push(db);
      return db;
    };
    const sibling = (...parts: string[]): string => join(dirname(path), ...parts);

    function seedAccounts(s: Store = store): void {
      s.upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' });
      s.upsertAccount({ clientId: OTHER, name: 'spare', mode: 'renew-only' });
    }

    async function holdWriteLock(holdMs: number): Promise<LockHolder> {
      const child = spawn(
        process.execPath,
        ['--input-type=module', '-e', LOCK_HOLDER, betterSqliteUrl, path, String(holdMs)],
        {
          stdio: ['pipe', 'pipe', 'pipe'],
        },
      );
      children.push(child);
      let out = '';
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<void>((resolve, reject) => {
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`lock holder exited ${code}: ${err}`))));
      });
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('locked\n')) resolve();
        });
        exited.then(() => reject(new Error('lock holder exited before taking the lock')), reject);
      });
      return {
        exited,
        commit: () => {
          child.stdin.write('commit\n');
          return exited;
        },
      };
    }

    beforeEach((ctx) => {
      const sqlite = getSut().sqlite;
      if (sqlite === undefined) {
        ctx.skip();
        return;
      }
      path = sqlite.path;
      store = sqlite.sync;
    });

    afterEach(() => {
      for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill();
      for (const s of opened.splice(0)) s.close();
      for (const db of rawOpened.splice(0)) db.close();
    });

    describe('schema', () => {
      it('records the version in user_version', () => {
        const db = raw();
        expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      });

      it('migrates an existing empty file (user_version 0)', () => {
        const file = sibling('empty.db');
        fs.writeFileSync(file, '');
        expect(raw(file).pragma('user_version', { simple: true })).toBe(0);
        const s = track(Store.open(file));
        s.upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' });
        expect(raw(file).pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      });

      it('refuses a database written by a newer keeper, writer and reader alike', () => {
        store.close();
        const db = raw(path, false);
        db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
        db.close();
        const err = expectKeeperError(() => Store.open(path), 'store-too-new');
        expect(err.message).toContain(path);
        expect(err.message).toContain(`version ${SCHEMA_VERSION + 1}`);
        expectKeeperError(() => Store.open(path, { readonly: true }), 'store-too-new');
      });

      it('a reader refuses a database the keeper has not migrated yet', () => {
        const file = sibling('unmigrated.db');
        fs.writeFileSync(file, '');
        const err = expectKeeperError(() => Store.open(file, { readonly: true }), 'store-outdated');
        expect(err.hint).toMatch(/run/);
      });
    });

    describe('durability and files', () => {
      it('commits durably in WAL mode (synchronous FULL)', () => {
        expect(store.settings()).toEqual({
          readonly: false,
          journalMode: 'wal',
          synchronous: 2,
          foreignKeys: true,
          secureDelete: true,
          busyTimeoutMs: 5000,
        });
        // WAL is a property of the file, so every later connection gets it too.
        expect(raw().pragma('journal_mode', { simple: true })).toBe('wal');
        expect(openReader().settings()).toMatchObject({ readonly: true, journalMode: 'wal', synchronous: 2 });
      });

      it('honours busyTimeoutMs', () => {
        expect(track(Store.open(path, { busyTimeoutMs: 250 })).settings().busyTimeoutMs).toBe(250);
        expectKeeperError(() => Store.open(path, { busyTimeoutMs: -1 }), 'store-options');
      });

      it.skipIf(process.platform === 'win32')('creates the file 0600 (and its WAL) in a folder it creates 0700', () => {
        const file = sibling('deep', 'er', 'keeper.db');
        const s = track(Store.open(file));
        s.upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' });
        expect(fs.statSync(sibling('deep')).mode & 0o777).toBe(0o700);
        expect(fs.statSync(sibling('deep', 'er')).mode & 0o777).toBe(0o700);
        expect(fs.statSync(file).mode & 0o777).toBe(0o600);
        expect(fs.statSync(`${file}-wal`).mode & 0o777).toBe(0o600);
        expect(fs.statSync(path).mode & 0o777).toBe(0o600);
      });

      it('a reader on a missing file says so clearly and creates nothing', () => {
        const file = sibling('nowhere', 'keeper.db');
        const err = expectKeeperError(() => Store.open(file, { readonly: true }), 'store-missing');
        expect(err.message).toBe(`no database at ${file} (has the keeper run yet?)`);
        expect(fs.existsSync(dirname(file))).toBe(false);
      });

      it('a reader cannot write', () => {
        expect(() => openReader().upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' })).toThrow(/readonly/);
      });

      it('a pruned secret leaves no copy in the file', () => {
        seedAccounts();
        const t1 = store.saveToken(token(ACC, 1));
        const t2 = store.saveToken(token(ACC, 2));
        const t3 = store.saveToken(token(ACC, 3));
        store.pruneTokenSecrets(T0 + 100 * DAY);
        store.close();
        const bytes = Buffer.concat(
          [path, `${path}-wal`].filter((p) => fs.existsSync(p)).map((p) => fs.readFileSync(p)),
        );
        expect(bytes.includes(t1.accessToken)).toBe(false);
        expect(bytes.includes(t2.accessToken)).toBe(false);
        expect(bytes.includes(t3.accessToken)).toBe(true);
      });
    });

    describe('synchronous transactions', () => {
      it('refuse an async function and roll back what it wrote', () => {
        seedAccounts();
        expectKeeperError(
          () =>
            store.transaction(async () => {
              store.addEvent({ clientId: ACC, at: T0, kind: 'renew', result: 'success' });
              await Promise.resolve();
            }),
          'store-async-transaction',
        );
        expect(store.listEvents()).toEqual([]);
      });
    });

    describe('other processes', () => {
      beforeEach(() => seedAccounts());

      it('reads work while another process holds a write transaction', async () => {
        const t1 = store.saveToken(token(ACC, 1));
        const reader = openReader();
        const holder = await holdWriteLock(60_000);

        expect(reader.currentToken(ACC)).toEqual(t1);
        expect(reader.listEvents()).toEqual([]);
        expect(store.currentToken(ACC)).toEqual(t1);
        expect(store.listAccounts()).toHaveLength(2);
        const impatient = track(Store.open(path, { busyTimeoutMs: 0 }));
        expect(
          caught(() => impatient.addEvent({ clientId: ACC, at: T0, kind: 'probe', result: 'info' })),
        ).toMatchObject({
          code: 'SQLITE_BUSY',
        });

        await holder.commit();
        expect(reader.listEvents().map((e) => e.message)).toEqual(['from the child']);
      });

      it('a write waits (busy_timeout) for another process to commit', async () => {
        const holder = await holdWriteLock(1000);
        const impatient = track(Store.open(path, { busyTimeoutMs: 0 }));
        expect(() => impatient.addEvent({ clientId: ACC, at: T0, kind: 'probe', result: 'info' })).toThrow();
        const mine = store.addEvent({ clientId: ACC, at: T0 + 1, kind: 'probe', result: 'info', message: 'mine' });
        await holder.exited;
        expect(store.listEvents().map((e) => e.message)).toEqual(['mine', 'from the child']);
        expect(mine.id).toBeGreaterThan(store.listEvents()[1]!.id);
      });
    });
  });
}
