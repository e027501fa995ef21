import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { KeeperError } from '../../src/errors.js';
import { Store } from '../../src/store/index.js';
import { MIGRATIONS, migrate, type Migration } from '../../src/store/migrations.js';
import { describeStoreBehaviour } from '../helpers/store-behaviour.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

describeStoreBehaviour('SQLite file in a temporary folder', () => {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'dtk-store-'));
  dirs.push(dir);
  // A folder that does not exist yet: opening must create it.
  const path = join(dir, 'state', 'keeper.db');
  return { store: Store.open(path), path, reopen: () => Store.open(path) };
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
      expect(store.getAccount('1000000003')).toMatchObject({ attention: null, renewRefusedKinds: ['source:totp', 'source:web'] });
    } finally {
      store.close();
    }
  });
});
