import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Attention } from '../../src/attention.js';
import { KeeperError } from '../../src/errors.js';
import { SCHEMA_VERSION, Store } from '../../src/store/index.js';
import type { LeaseOwner, NewToken } from '../../src/store/index.js';

export interface StoreUnderTest {
  readonly store: Store;
  /** The database file. The suite also creates files of its own in the same folder. */
  readonly path: string;
  /** Opens another Store on the same file; close the first one first to act out a restart. */
  readonly reopen: () => Store;
}

const T0 = Date.UTC(2026, 6, 7, 2, 11, 12, 284);
const SEC = 1000;
const HOUR = 3600 * SEC;
const DAY = 24 * HOUR;
const ACC = '1000000001';
const OTHER = '1000000002';
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

export function describeStoreBehaviour(name: string, makeStore: () => StoreUnderTest): void {
  describe(`Store behaviour: ${name}`, () => {
    let sut: StoreUnderTest;
    let store: Store;
    const opened: Store[] = [];
    const rawOpened: Database.Database[] = [];
    const children: ChildProcess[] = [];

    const track = (s: Store): Store => {
      opened.push(s);
      return s;
    };
    const reopen = (): Store => track(sut.reopen());
    const openReader = (): Store => track(Store.open(sut.path, { readonly: true }));
    const raw = (path = sut.path, readonly = true): Database.Database => {
      const db = new Database(path, { readonly, fileMustExist: true });
      rawOpened.push(db);
      return db;
    };
    const sibling = (...parts: string[]): string => join(dirname(sut.path), ...parts);

    function seedAccounts(s: Store = store): void {
      s.upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' });
      s.upsertAccount({ clientId: OTHER, name: 'spare', mode: 'renew-only' });
    }

    async function holdWriteLock(holdMs: number): Promise<LockHolder> {
      const child = spawn(process.execPath, ['--input-type=module', '-e', LOCK_HOLDER, betterSqliteUrl, sut.path, String(holdMs)], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
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

    beforeEach(() => {
      sut = makeStore();
      store = track(sut.store);
    });

    afterEach(() => {
      for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill();
      for (const s of opened.splice(0)) s.close();
      for (const db of rawOpened.splice(0)) db.close();
    });

    describe('schema', () => {
      it('migrates a new file to the latest version', () => {
        const db = raw();
        expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
        const tables = db
          .prepare<[], { name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
          .all()
          .map((r) => r.name);
        expect(tables).toEqual(expect.arrayContaining(['accounts', 'events', 'lease', 'requests', 'tokens']));
      });

      it('migrates an existing empty file (user_version 0)', () => {
        const path = sibling('empty.db');
        fs.writeFileSync(path, '');
        expect(raw(path).pragma('user_version', { simple: true })).toBe(0);
        const s = track(Store.open(path));
        s.upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' });
        expect(raw(path).pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      });

      it('keeps every kind of data across a reopen', () => {
        seedAccounts();
        store.updateAccount(ACC, { attention: PIN_STOP, renewRefusedKinds: ['consumer:APP'], lastGenerateAt: T0 });
        const saved = store.saveToken(token(ACC, 1));
        const pending = store.beginEvent({ clientId: ACC, at: T0, kind: 'renew' });
        expect(store.acquireLease({ pid: 1, host: 'vps' }, T0, 30 * SEC)).toEqual({ ok: true });
        const req = store.enqueueRequest(ACC, 'renew', null, T0);
        store.close();

        const again = reopen();
        expect(raw().pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
        expect(again.getAccount(ACC)).toMatchObject({ attention: PIN_STOP, renewRefusedKinds: ['consumer:APP'], lastGenerateAt: T0 });
        expect(again.currentToken(ACC)).toEqual(saved);
        expect(again.pendingEvents(ACC).map((e) => e.id)).toEqual([pending]);
        expect(again.leaseHolder()).toMatchObject({ pid: 1, host: 'vps' });
        expect(again.getRequest(req)?.status).toBe('queued');
      });

      it('refuses a database written by a newer keeper, writer and reader alike', () => {
        store.close();
        const db = raw(sut.path, false);
        db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
        db.close();
        const err = expectKeeperError(() => Store.open(sut.path), 'store-too-new');
        expect(err.message).toContain(sut.path);
        expect(err.message).toContain(`version ${SCHEMA_VERSION + 1}`);
        expectKeeperError(() => Store.open(sut.path, { readonly: true }), 'store-too-new');
      });

      it('a reader refuses a database the keeper has not migrated yet', () => {
        const path = sibling('unmigrated.db');
        fs.writeFileSync(path, '');
        const err = expectKeeperError(() => Store.open(path, { readonly: true }), 'store-outdated');
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
        expect(track(Store.open(sut.path, { busyTimeoutMs: 250 })).settings().busyTimeoutMs).toBe(250);
        expectKeeperError(() => Store.open(sut.path, { busyTimeoutMs: -1 }), 'store-options');
      });

      it.skipIf(process.platform === 'win32')('creates the file 0600 (and its WAL) in a folder it creates 0700', () => {
        const path = sibling('deep', 'er', 'keeper.db');
        const s = track(Store.open(path));
        s.upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' });
        expect(fs.statSync(sibling('deep')).mode & 0o777).toBe(0o700);
        expect(fs.statSync(sibling('deep', 'er')).mode & 0o777).toBe(0o700);
        expect(fs.statSync(path).mode & 0o777).toBe(0o600);
        expect(fs.statSync(`${path}-wal`).mode & 0o777).toBe(0o600);
        expect(fs.statSync(sut.path).mode & 0o777).toBe(0o600);
      });

      it('a reader on a missing file says so clearly and creates nothing', () => {
        const path = sibling('nowhere', 'keeper.db');
        const err = expectKeeperError(() => Store.open(path, { readonly: true }), 'store-missing');
        expect(err.message).toBe(`no database at ${path} (has the keeper run yet?)`);
        expect(fs.existsSync(dirname(path))).toBe(false);
      });

      it('a reader cannot write', () => {
        expect(() => openReader().upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' })).toThrow(/readonly/);
      });
    });

    describe('accounts', () => {
      it('creates an account with nothing learned yet', () => {
        expect(store.upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' })).toEqual({
          clientId: ACC,
          name: 'main',
          mode: 'auto',
          attention: null,
          renewRefusedKinds: [],
          lastGenerateAt: null,
          consecutiveFailures: 0,
          lastSuccessAt: null,
          lastAttemptAt: null,
          lastResult: null,
          nextActionAt: null,
        });
        expect(store.getAccount(ACC)?.name).toBe('main');
        expect(store.getAccount('nobody')).toBeUndefined();
      });

      it('patches only the given fields; null clears', () => {
        seedAccounts();
        store.updateAccount(ACC, { attention: PIN_STOP, consecutiveFailures: 3 });
        expect(store.getAccount(ACC)?.attention).toEqual(PIN_STOP);
        const next = store.updateAccount(ACC, { attention: null, renewRefusedKinds: ['source:totp', 'consumer:APP'], lastResult: 'renew ok' });
        expect(next).toMatchObject({
          attention: null,
          consecutiveFailures: 3,
          renewRefusedKinds: ['source:totp', 'consumer:APP'],
          lastResult: 'renew ok',
        });
        expect(store.getAccount(ACC)).toEqual(next);
        expect(store.getAccount(OTHER)?.consecutiveFailures).toBe(0);
      });

      it('an upsert renames and changes mode but keeps learned state', () => {
        seedAccounts();
        store.updateAccount(ACC, { renewRefusedKinds: ['source:totp'], lastGenerateAt: T0, nextActionAt: T0 + HOUR });
        const again = store.upsertAccount({ clientId: ACC, name: 'renamed', mode: 'generate-only' });
        expect(again).toMatchObject({
          name: 'renamed',
          mode: 'generate-only',
          renewRefusedKinds: ['source:totp'],
          lastGenerateAt: T0,
          nextActionAt: T0 + HOUR,
        });
      });

      it('lists accounts by client id; updating an unknown one fails clearly', () => {
        store.upsertAccount({ clientId: OTHER, name: 'spare', mode: 'renew-only' });
        store.upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' });
        expect(store.listAccounts().map((a) => a.clientId)).toEqual([ACC, OTHER]);
        expectKeeperError(() => store.updateAccount('nobody', { lastResult: 'x' }), 'unknown-account');
      });
    });

    describe('tokens', () => {
      beforeEach(() => seedAccounts());

      it('the first token is current, even when its expiry has passed', () => {
        const t = store.saveToken(token(ACC, 1, { expiresAt: T0 - DAY, source: 'web' }));
        expect(t).toEqual({ id: t.id, ...token(ACC, 1, { expiresAt: T0 - DAY, source: 'web' }), supersededAt: null });
        expect(store.currentToken(ACC)).toEqual(t);
        expect(store.currentToken(OTHER)).toBeUndefined();
      });

      it('a new token supersedes the previous one at its obtainedAt', () => {
        const t1 = store.saveToken(token(ACC, 1));
        const o1 = store.saveToken(token(OTHER, 1));
        const t2 = store.saveToken(token(ACC, 2, { source: 'renew' }));
        expect(store.currentToken(ACC)).toEqual(t2);
        expect(store.listTokens(ACC, 10)).toEqual([t2, { ...t1, supersededAt: t2.obtainedAt }]);
        expect(store.listTokens(ACC, 1)).toEqual([t2]);
        expect(store.currentToken(OTHER)).toEqual(o1);
      });

      it('a failed save leaves the previous token current', () => {
        const t1 = store.saveToken(token(ACC, 1));
        // A source the schema rejects makes the insert fail after the supersede ran.
        expect(() => store.saveToken(token(ACC, 2, { source: 'bogus' as NewToken['source'] }))).toThrow(/CHECK/);
        expect(store.currentToken(ACC)).toEqual(t1);
        expect(store.listTokens(ACC, 10)).toEqual([t1]);
      });

      it('refuses unknown accounts and empty tokens', () => {
        expectKeeperError(() => store.saveToken(token('nobody', 1)), 'unknown-account');
        expectKeeperError(() => store.saveToken(token(ACC, 1, { accessToken: '' })), 'store-empty-token');
        expect(store.listTokens(ACC, 10)).toEqual([]);
      });

      it('a dead token is no longer current', () => {
        const t1 = store.saveToken(token(ACC, 1));
        expect(store.markTokenDead(t1.id, T0 + 5 * HOUR)).toBe(true);
        expect(store.markTokenDead(t1.id, T0 + 6 * HOUR)).toBe(false);
        expect(store.currentToken(ACC)).toBeUndefined();
        expect(store.listTokens(ACC, 10)).toEqual([{ ...t1, supersededAt: T0 + 5 * HOUR }]);
        const t2 = store.saveToken(token(ACC, 7));
        expect(store.currentToken(ACC)).toEqual(t2);
        expect(store.listTokens(ACC, 10)[1]?.supersededAt).toBe(T0 + 5 * HOUR);
      });

      it('prunes the secret of old superseded tokens only, and leaves no copy in the file', () => {
        const t1 = store.saveToken(token(ACC, 1));
        const t2 = store.saveToken(token(ACC, 2));
        const t3 = store.saveToken(token(ACC, 3));
        expect(store.pruneTokenSecrets(T0 + 2 * HOUR + 1)).toBe(1);
        expect(store.listTokens(ACC, 10).map((t) => t.accessToken)).toEqual([t3.accessToken, t2.accessToken, '']);
        // The current token is never pruned, however old.
        expect(store.pruneTokenSecrets(T0 + 100 * DAY)).toBe(1);
        expect(store.listTokens(ACC, 10).map((t) => t.accessToken)).toEqual([t3.accessToken, '', '']);
        expect(store.listTokens(ACC, 10)[2]).toMatchObject({ id: t1.id, obtainedAt: t1.obtainedAt, supersededAt: t2.obtainedAt });
        store.close();
        const bytes = Buffer.concat(
          [sut.path, `${sut.path}-wal`].filter((p) => fs.existsSync(p)).map((p) => fs.readFileSync(p)),
        );
        expect(bytes.includes(t1.accessToken)).toBe(false);
        expect(bytes.includes(t2.accessToken)).toBe(false);
        expect(bytes.includes(t3.accessToken)).toBe(true);
      });
    });

    describe('history', () => {
      it('adds an event and reads it back', () => {
        const e = store.addEvent({ clientId: ACC, at: T0, kind: 'sink', result: 'success', detail: { sink: 'file', n: 1 } });
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
        expect(store.getEvent(e.id)).toEqual(e);
        expect(store.addEvent({ clientId: null, at: T0, kind: 'start', result: 'info' }).clientId).toBeNull();
      });

      it('a pending row is finished once, keeping what was begun', () => {
        const id = store.beginEvent({ clientId: ACC, at: T0, kind: 'renew', expiryBefore: T0 + HOUR, detail: { attempt: 1 } });
        expect(store.pendingEvents(ACC)).toMatchObject([{ id, result: 'pending' }]);
        expect(
          store.finishEvent(id, { result: 'success', durationMs: 420, expiryAfter: T0 + DAY, message: 'renew ok', detail: { status: 200 } }),
        ).toBe(true);
        expect(store.getEvent(id)).toEqual({
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
        expect(store.pendingEvents(ACC)).toEqual([]);
        expect(store.finishEvent(id, { result: 'failure' })).toBe(false);
        expect(store.finishEvent(id + 100, { result: 'failure' })).toBe(false);
        expect(store.getEvent(id)?.result).toBe('success');
      });

      it('abandons leftover pending rows after a crash, per account or all', () => {
        const a1 = store.beginEvent({ clientId: ACC, at: T0, kind: 'renew', detail: { attempt: 2 } });
        const a2 = store.beginEvent({ clientId: ACC, at: T0 + 1, kind: 'generate' });
        const b1 = store.beginEvent({ clientId: OTHER, at: T0 + 2, kind: 'renew' });
        expect(store.pendingEvents().map((e) => e.id)).toEqual([a1, a2, b1]);
        store.close();

        const after = reopen();
        expect(after.abandonPending(ACC, T0 + HOUR, 'keeper stopped during the call')).toBe(2);
        expect(after.getEvent(a1)).toMatchObject({
          result: 'abandoned',
          at: T0,
          message: 'keeper stopped during the call',
          detail: { attempt: 2, abandonedAt: T0 + HOUR },
        });
        expect(after.getEvent(a2)?.detail).toEqual({ abandonedAt: T0 + HOUR });
        expect(after.pendingEvents().map((e) => e.id)).toEqual([b1]);
        expect(after.abandonPending(null, T0 + HOUR, 'gone')).toBe(1);
        expect(after.pendingEvents()).toEqual([]);
      });

      it('lists newest first by time then id, with limit and filters', () => {
        const at = [T0 + 2, T0 + 1, T0 + 3, T0 + 1];
        const ids = at.map((t, i) =>
          store.addEvent({ clientId: i === 2 ? OTHER : ACC, at: t, kind: i === 1 ? 'generate' : 'renew', result: 'success' }).id,
        );
        const [e0, e1, e2, e3] = ids;
        expect(store.listEvents().map((e) => e.id)).toEqual([e2, e0, e3, e1]);
        expect(store.listEvents({ limit: 2 }).map((e) => e.id)).toEqual([e2, e0]);
        expect(store.listEvents({ clientId: ACC }).map((e) => e.id)).toEqual([e0, e3, e1]);
        expect(store.listEvents({ kinds: ['generate'] }).map((e) => e.id)).toEqual([e1]);
        expect(store.listEvents({ clientId: OTHER, kinds: ['renew', 'generate'] }).map((e) => e.id)).toEqual([e2]);
        expect(store.listEvents({ kinds: [] })).toEqual([]);
      });

      it('lists at most 100 events by default', () => {
        store.transaction(() => {
          for (let i = 0; i < 105; i++) store.addEvent({ clientId: ACC, at: T0 + i, kind: 'probe', result: 'info' });
        });
        const events = store.listEvents();
        expect(events).toHaveLength(100);
        expect(events[0]?.at).toBe(T0 + 104);
      });

      it('pruning deletes old events but never a pending one', () => {
        const oldDone = store.addEvent({ clientId: ACC, at: T0, kind: 'renew', result: 'success' }).id;
        const oldPending = store.beginEvent({ clientId: ACC, at: T0, kind: 'renew' });
        const fresh = store.addEvent({ clientId: ACC, at: T0 + 30 * DAY, kind: 'renew', result: 'failure' }).id;
        expect(store.pruneHistory(T0 + DAY)).toBe(1);
        expect(store.getEvent(oldDone)).toBeUndefined();
        expect(store.listEvents().map((e) => e.id)).toEqual([fresh, oldPending]);
      });
    });

    describe('lease', () => {
      const A: LeaseOwner = { pid: 101, host: 'vps' };
      const B: LeaseOwner = { pid: 202, host: 'vps' };
      const ELSEWHERE: LeaseOwner = { pid: 303, host: 'laptop' };
      const TTL = 30 * SEC;

      it('is acquired when free and denied to others while live', () => {
        expect(store.leaseHolder()).toBeUndefined();
        expect(store.acquireLease(A, T0, TTL)).toEqual({ ok: true });
        const holder = { ...A, acquiredAt: T0, heartbeatAt: T0, expiresAt: T0 + TTL };
        expect(store.leaseHolder()).toEqual(holder);
        expect(store.acquireLease(B, T0 + SEC, TTL)).toEqual({ ok: false, holder });
        const alive = vi.fn(() => false);
        expect(store.acquireLease(B, T0 + SEC, TTL, alive)).toEqual({ ok: false, holder });
        expect(alive).toHaveBeenCalledWith(A.pid);
      });

      it('never asks about a pid on another host', () => {
        store.acquireLease(A, T0, TTL);
        const steal = vi.fn(() => true);
        expect(store.acquireLease(ELSEWHERE, T0 + SEC, TTL, steal).ok).toBe(false);
        expect(steal).not.toHaveBeenCalled();
      });

      it('the holder may acquire again, keeping acquiredAt', () => {
        store.acquireLease(A, T0, TTL);
        expect(store.acquireLease(A, T0 + 10 * SEC, TTL)).toEqual({ ok: true });
        expect(store.leaseHolder()).toEqual({ ...A, acquiredAt: T0, heartbeatAt: T0 + 10 * SEC, expiresAt: T0 + 10 * SEC + TTL });
      });

      it('expires at heartbeat + ttl', () => {
        store.acquireLease(A, T0, TTL);
        expect(store.acquireLease(ELSEWHERE, T0 + TTL - 1, TTL).ok).toBe(false);
        expect(store.acquireLease(ELSEWHERE, T0 + TTL, TTL)).toEqual({ ok: true });
        expect(store.leaseHolder()).toMatchObject({ ...ELSEWHERE, acquiredAt: T0 + TTL });
      });

      it('a heartbeat extends it; a lost lease reports false', () => {
        store.acquireLease(A, T0, TTL);
        expect(store.heartbeatLease(A, T0 + 20 * SEC)).toBe(true);
        expect(store.acquireLease(B, T0 + TTL, TTL).ok).toBe(false);
        expect(store.acquireLease(B, T0 + 20 * SEC + TTL, TTL)).toEqual({ ok: true });
        expect(store.heartbeatLease(A, T0 + 51 * SEC)).toBe(false);
        expect(store.releaseLease(A)).toBe(false);
        expect(store.leaseHolder()).toMatchObject(B);
      });

      it('is taken over from a dead pid on the same host', () => {
        store.acquireLease(A, T0, TTL);
        const dead = vi.fn((pid: number) => pid === A.pid);
        expect(store.acquireLease(B, T0 + SEC, TTL, dead)).toEqual({ ok: true });
        expect(store.leaseHolder()).toEqual({ ...B, acquiredAt: T0 + SEC, heartbeatAt: T0 + SEC, expiresAt: T0 + SEC + TTL });
        expect(store.heartbeatLease(A, T0 + 2 * SEC)).toBe(false);
      });

      it('is released by its holder only', () => {
        store.acquireLease(A, T0, TTL);
        expect(store.releaseLease(B)).toBe(false);
        expect(store.releaseLease(A)).toBe(true);
        expect(store.leaseHolder()).toBeUndefined();
        expect(store.acquireLease(B, T0 + SEC, TTL)).toEqual({ ok: true });
      });

      it('one winner between two connections', () => {
        const second = reopen();
        expect(store.acquireLease(A, T0, TTL)).toEqual({ ok: true });
        expect(second.acquireLease(B, T0, TTL).ok).toBe(false);
        expect(openReader().leaseHolder()).toMatchObject(A);
      });
    });

    describe('requests', () => {
      const PAYLOAD = JSON.stringify({ accessToken: 'eyJ.imported-secret', source: 'web' });

      it('are taken exactly once, oldest first, and the payload leaves the database', () => {
        const cli = reopen();
        const r1 = cli.enqueueRequest(ACC, 'import', PAYLOAD, T0);
        const r2 = cli.enqueueRequest(OTHER, 'renew', null, T0 + 1);
        expect(r2).toBeGreaterThan(r1);
        expect(cli.getRequest(r1)).toEqual({
          id: r1,
          clientId: ACC,
          action: 'import',
          createdAt: T0,
          payload: PAYLOAD,
          status: 'queued',
          result: null,
        });

        const taken = store.takeRequests();
        expect(taken).toEqual([
          { id: r1, clientId: ACC, action: 'import', createdAt: T0, payload: PAYLOAD, status: 'taken', result: null },
          { id: r2, clientId: OTHER, action: 'renew', createdAt: T0 + 1, payload: null, status: 'taken', result: null },
        ]);
        expect(store.takeRequests()).toEqual([]);
        expect(cli.takeRequests()).toEqual([]);
        expect(cli.getRequest(r1)).toMatchObject({ status: 'taken', payload: null });
        expect(raw().prepare('SELECT count(*) FROM requests WHERE payload IS NOT NULL').pluck().get()).toBe(0);
      });

      it('are completed once, and only after being taken', () => {
        const id = store.enqueueRequest(ACC, 'renew', null, T0);
        expect(store.completeRequest(id, 'done', 'renewed')).toBe(false);
        store.takeRequests();
        expect(store.completeRequest(id, 'failed', 'DH-905: invalid input')).toBe(true);
        expect(store.completeRequest(id, 'done', 'again')).toBe(false);
        expect(store.getRequest(id)).toMatchObject({ status: 'failed', result: 'DH-905: invalid input' });
        expect(store.getRequest(id + 100)).toBeUndefined();
      });

      it('a request nobody took can be cancelled, dropping its payload', () => {
        const id = store.enqueueRequest(ACC, 'import', PAYLOAD, T0);
        expect(store.cancelRequest(id, 'no keeper is running')).toBe(true);
        expect(store.getRequest(id)).toMatchObject({ status: 'failed', payload: null, result: 'no keeper is running' });
        expect(store.takeRequests()).toEqual([]);
        const taken = store.enqueueRequest(ACC, 'renew', null, T0);
        store.takeRequests();
        expect(store.cancelRequest(taken, 'too late')).toBe(false);
      });
    });

    describe('transactions', () => {
      beforeEach(() => seedAccounts());

      it('commit all writes together or none', () => {
        const t1 = store.saveToken(token(ACC, 1));
        expect(() =>
          store.transaction(() => {
            store.saveToken(token(ACC, 2));
            store.addEvent({ clientId: ACC, at: T0, kind: 'renew', result: 'success' });
            throw new Error('sink exploded');
          }),
        ).toThrow('sink exploded');
        expect(store.currentToken(ACC)).toEqual(t1);
        expect(store.listEvents()).toEqual([]);
        const id = store.transaction(() => {
          store.saveToken(token(ACC, 3));
          return store.beginEvent({ clientId: ACC, at: T0, kind: 'renew' });
        });
        expect(store.getEvent(id)?.result).toBe('pending');
        expect(store.currentToken(ACC)?.accessToken).toBe(token(ACC, 3).accessToken);
      });

      it('refuse an async function and roll back what it wrote', () => {
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

    describe('readers beside a writer', () => {
      beforeEach(() => seedAccounts());

      it('a readonly Store sees committed state only, without waiting', () => {
        const t1 = store.saveToken(token(ACC, 1));
        const reader = openReader();
        store.transaction(() => {
          store.saveToken(token(ACC, 2));
          store.beginEvent({ clientId: ACC, at: T0, kind: 'renew' });
          expect(reader.currentToken(ACC)).toEqual(t1);
          expect(reader.pendingEvents()).toEqual([]);
        });
        expect(reader.currentToken(ACC)?.accessToken).toBe(token(ACC, 2).accessToken);
        expect(reader.pendingEvents()).toHaveLength(1);
      });

      it('reads work while another process holds a write transaction', async () => {
        const t1 = store.saveToken(token(ACC, 1));
        const reader = openReader();
        const holder = await holdWriteLock(60_000);

        expect(reader.currentToken(ACC)).toEqual(t1);
        expect(reader.listEvents()).toEqual([]);
        expect(store.currentToken(ACC)).toEqual(t1);
        expect(store.listAccounts()).toHaveLength(2);
        const impatient = track(Store.open(sut.path, { busyTimeoutMs: 0 }));
        expect(caught(() => impatient.addEvent({ clientId: ACC, at: T0, kind: 'probe', result: 'info' }))).toMatchObject({
          code: 'SQLITE_BUSY',
        });

        await holder.commit();
        expect(reader.listEvents().map((e) => e.message)).toEqual(['from the child']);
      });

      it('a write waits (busy_timeout) for another process to commit', async () => {
        const holder = await holdWriteLock(1000);
        const impatient = track(Store.open(sut.path, { busyTimeoutMs: 0 }));
        expect(() => impatient.addEvent({ clientId: ACC, at: T0, kind: 'probe', result: 'info' })).toThrow();
        const mine = store.addEvent({ clientId: ACC, at: T0 + 1, kind: 'probe', result: 'info', message: 'mine' });
        await holder.exited;
        expect(store.listEvents().map((e) => e.message)).toEqual(['mine', 'from the child']);
        expect(mine.id).toBeGreaterThan(store.listEvents()[1]!.id);
      });
    });
  });
}
