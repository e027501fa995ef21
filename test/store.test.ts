import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { KeeperError } from '../src/errors.js';
import { SCHEMA_VERSION, Store } from '../src/store/index.js';
import { SqliteAsyncStore } from '../src/store/sqlite-async-store.js';
import { migrate, type Migration } from '../src/store/migrations.js';
import { describeStoreBehaviour } from './store.behaviour.js';

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
    reopen: async () => new SqliteAsyncStore(Store.open(path)),
    openReader: async () => new SqliteAsyncStore(Store.open(path, { readonly: true })),
    schemaVersion: async () => query((db) => db.pragma('user_version', { simple: true }) as number),
    schemaVersionExpected: SCHEMA_VERSION,
    tables: async () => query((db) => db.prepare<[], string>(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).pluck().all()),
    scalar: async (sql) => query((db) => db.prepare(sql).pluck().get()),
    sqlite: { path, sync },
  };
});

describe('migrate()', () => {
  let db: Database.Database;
  afterEach(() => db.close());

  const tables = (): string[] =>
    db
      .prepare<[], string>(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
      .pluck()
      .all();
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
