import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { KeeperError } from '../../src/errors.js';
import { SCHEMA_VERSION, Store } from '../../src/store/index.js';
import { SqliteAsyncStore } from '../../src/store/sqlite-async-store.js';
import { MIGRATIONS, migrate, type Migration } from '../../src/store/migrations.js';
import { describeStoreBehaviour } from '../helpers/store-behaviour.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

describeStoreBehaviour('SQLite file in a temporary folder', async () => {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'dtk-store-'));
  dirs.push(dir);
  // A folder that does not exist yet: opening must create it.
  const path = join(dir, 'state', 'keeper.db');
  const sync = Store.open(path);
  const query = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  return {
    store: new SqliteAsyncStore(sync),
    reopen: async (key) => new SqliteAsyncStore(Store.open(path, { key })),
    openReader: async () => new SqliteAsyncStore(Store.open(path, { readonly: true })),
    schemaVersion: async () => query((db) => db.pragma('user_version', { simple: true }) as number),
    schemaVersionExpected: SCHEMA_VERSION,
    tables: async () =>
      query((db) =>
        db.prepare<[], string>(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).pluck().all(),
      ),
    scalar: async (sql) => query((db) => db.prepare(sql).pluck().get()),
    sqlite: { path, sync },
  };
});

describe('migrate()', () => {
  let db: Database.Database;
  afterEach(() => db.close());

  const tables = (): string[] =>
    db.prepare<[], string>(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).pluck().all();
  const version = (): unknown => db.pragma('user_version', { simple: true });

  function steps(applied: number[], failAt?: number): Migration[] {
    return [1, 2, 3].map((v) => ({
      version: v,
      description: `step ${v}`,
      up: (d) => {
        applied.push(v);
        d.exec(`CREATE TABLE t${v} (x INTEGER)`);
        if (v === failAt) throw new Error(`step ${v} broke`);
      },
    }));
  }

  it('applies every step in order from an empty database, then nothing', () => {
    db = new Database(':memory:');
    const applied: number[] = [];
    expect(migrate(db, 'mem', steps(applied))).toBe(3);
    expect(applied).toEqual([1, 2, 3]);
    expect(tables()).toEqual(['t1', 't2', 't3']);
    expect(migrate(db, 'mem', steps(applied))).toBe(3);
    expect(applied).toEqual([1, 2, 3]);
  });

  it('starts after the recorded user_version', () => {
    db = new Database(':memory:');
    db.pragma('user_version = 1');
    const applied: number[] = [];
    expect(migrate(db, 'mem', steps(applied))).toBe(3);
    expect(applied).toEqual([2, 3]);
  });

  it('a failing step rolls back, leaving the previous version', () => {
    db = new Database(':memory:');
    expect(() => migrate(db, 'mem', steps([], 2))).toThrow('step 2 broke');
    expect(version()).toBe(1);
    expect(tables()).toEqual(['t1']);
  });

  it('refuses a database newer than the list, and a list out of order', () => {
    db = new Database(':memory:');
    db.pragma('user_version = 4');
    const err = (() => {
      try {
        migrate(db, '/var/lib/keeper.db', steps([]));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(KeeperError);
    expect(err).toMatchObject({ code: 'store-too-new' });
    expect((err as Error).message).toContain('/var/lib/keeper.db');
    db.pragma('user_version = 0');
    const [a, b] = steps([]);
    expect(() => migrate(db, 'mem', [b!, a!])).toThrow(/migration list is broken/);
  });
});

describe('migration 2: attention as one typed value, learned refusals by token kind', () => {
  it('keeps a credentials stop with its fingerprint, lifts older account-wide stops, maps learned sources to kinds', () => {
    const dir = fs.mkdtempSync(join(os.tmpdir(), 'dtk-store-m2-'));
    dirs.push(dir);
    const path = join(dir, 'keeper.db');
    const db = new Database(path);
    migrate(db, path, MIGRATIONS.slice(0, 1));
    const insert = db.prepare(
      `INSERT INTO accounts (client_id, name, mode, attention, attention_fingerprint, renew_refused_sources, last_attempt_at)
       VALUES (?, ?, 'auto', ?, ?, ?, ?)`,
    );
    insert.run('1000000001', 'pin', 'Dhan refused token generation 2 times', 'fp-1', '["totp"]', 1234);
    insert.run('1000000002', 'dh905', 'Dhan refused the token renewal (DH-905)', null, '[]', null);
    insert.run('1000000003', 'fine', null, null, '["totp","web"]', null);
    db.close();

    const store = Store.open(path);
    try {
      expect(store.getAccount('1000000001')).toMatchObject({
        attention: {
          scope: 'generation',
          cause: 'credentials-refused',
          reason: 'Dhan refused token generation 2 times',
          since: 1234,
          credentialsFingerprint: 'fp-1',
        },
        renewRefusedKinds: ['source:totp'],
      });
      expect(store.getAccount('1000000002')).toMatchObject({ attention: null, renewRefusedKinds: [] });
      expect(store.getAccount('1000000003')).toMatchObject({
        attention: null,
        renewRefusedKinds: ['source:totp', 'source:web'],
      });
    } finally {
      store.close();
    }
  });
});

describe('migration 4: the key check of sealed tokens, after the typed-attention and consent migrations', () => {
  it('brings a database at version 2, with plaintext tokens and a typed attention, to the latest; a key then seals its tokens', () => {
    const dir = fs.mkdtempSync(join(os.tmpdir(), 'dtk-store-m3-'));
    dirs.push(dir);
    const path = join(dir, 'keeper.db');
    const db = new Database(path);
    migrate(db, path, MIGRATIONS.slice(0, 2));
    const attention = JSON.stringify({
      scope: 'account',
      cause: 'import-needed',
      reason: 'no live token',
      wayOut: 'import one',
      since: 1,
    });
    db.prepare(
      `INSERT INTO accounts (client_id, name, mode, attention_state, renew_refused_kinds) VALUES ('1000000001', 'main', 'auto', ?, '["consumer:APP"]')`,
    ).run(attention);
    db.prepare(
      `INSERT INTO tokens (client_id, access_token, source, obtained_at, expires_at, expiry_time)
       VALUES ('1000000001', 'eyJ.plaintext-before-sealing', 'totp', 1, 2, '2026-07-08T07:41:12')`,
    ).run();
    db.close();

    const key = Buffer.alloc(32, 7);
    const store = Store.open(path, { key });
    try {
      expect(store.getAccount('1000000001')).toMatchObject({
        attention: { scope: 'account', cause: 'import-needed', reason: 'no live token' },
        renewRefusedKinds: ['consumer:APP'],
      });
      expect(store.currentToken('1000000001')?.accessToken).toBe('eyJ.plaintext-before-sealing');
    } finally {
      store.close();
    }
    const after = new Database(path, { readonly: true });
    try {
      expect(after.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect(after.prepare('SELECT access_token FROM tokens').pluck().get()).not.toContain('plaintext-before-sealing');
    } finally {
      after.close();
    }
  });
});
