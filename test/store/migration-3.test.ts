import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/index.js';
import { MIGRATIONS, migrate } from '../../src/store/migrations.js';

/*
 * Migration 3 widens CHECK constraints in place (SQLite's documented edit of the stored schema):
 * a database written by the first release (version 1) or by the typed-attention release
 * (version 2) must come through with its rows, its constraints still enforced for unknown
 * values, and the new values accepted.
 */

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function v1Database(): string {
  return olderDatabase(1);
}

function olderDatabase(version: 1 | 2): string {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'dtk-mig3-'));
  dirs.push(dir);
  const path = join(dir, 'keeper.db');
  const db = new Database(path);
  db.pragma('foreign_keys = ON');
  migrate(db, path, MIGRATIONS.slice(0, version));
  db.exec(`INSERT INTO accounts (client_id, name, mode) VALUES ('1000000001', 'main', 'auto');
    INSERT INTO tokens (client_id, access_token, source, obtained_at, expires_at, expiry_time)
      VALUES ('1000000001', 'old-token-0123456789abcdef', 'totp', 1, 2, '2026-01-01T00:00:00.000');
    INSERT INTO events (client_id, at, kind, result) VALUES ('1000000001', 1, 'generate', 'success');`);
  db.close();
  return path;
}

describe('migration 3 on a database at version 2 (typed attention)', () => {
  it('keeps the attention value and the learned kinds, and accepts the consent values', () => {
    const path = olderDatabase(2);
    const attention = {
      scope: 'account',
      cause: 'access-denied',
      reason: 'DH-902 for 12 min',
      wayOut: 'fix it, then reset',
      since: 3,
    };
    const db = new Database(path);
    db.prepare(`UPDATE accounts SET attention_state = ?, renew_refused_kinds = ? WHERE client_id = '1000000001'`).run(
      JSON.stringify(attention),
      JSON.stringify(['consumer:APP']),
    );
    db.close();
    const store = Store.open(path);
    try {
      expect(store.getAccount('1000000001')).toMatchObject({ attention, renewRefusedKinds: ['consumer:APP'] });
      store.upsertAccount({ clientId: '1000000002', name: 'apikey', mode: 'consent' });
      store.saveToken({
        clientId: '1000000002',
        accessToken: 'consent-token-0123456789',
        source: 'consent',
        obtainedAt: 5,
        expiresAt: 10,
        expiryTime: 'x',
      });
      store.updateAccount('1000000002', { renewRefusedKinds: ['source:consent'] });
      expect(store.getAccount('1000000002')?.renewRefusedKinds).toEqual(['source:consent']);
    } finally {
      store.close();
    }
    const after = new Database(path);
    try {
      expect(after.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      expect(after.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(() => after.exec(`INSERT INTO accounts (client_id, name, mode) VALUES ('3', 'x', 'bogus')`)).toThrow(
        /CHECK constraint failed/,
      );
    } finally {
      after.close();
    }
  });
});

describe('migrations 2 and 3 on a database from the first release', () => {
  it('keeps every row, accepts the consent values, and still refuses unknown ones', () => {
    const path = v1Database();
    const store = Store.open(path);
    try {
      expect(store.currentToken('1000000001')?.accessToken).toBe('old-token-0123456789abcdef');
      expect(store.listEvents({ clientId: '1000000001' })).toHaveLength(1);
      store.upsertAccount({ clientId: '1000000002', name: 'apikey', mode: 'consent' });
      store.saveToken({
        clientId: '1000000002',
        accessToken: 'consent-token-0123456789',
        source: 'consent',
        obtainedAt: 5,
        expiresAt: 10,
        expiryTime: 'x',
      });
      store.addEvent({ clientId: '1000000002', at: 5, kind: 'login-needed', result: 'failure', message: 'log in' });
      store.addEvent({ clientId: '1000000002', at: 6, kind: 'notify', result: 'success', message: 'phone: sent' });
      store.enqueueRequest('1000000002', 'consent-start', null, 7);
      const consent = store.consents.start({
        clientId: '1000000002',
        consentAppId: 'abc-123-def',
        loginUrl: 'http://x/login',
        startedAt: 8,
      });
      expect(store.consents.claim(consent.id, 'hash-1')).toBe(true);
      expect(store.consents.claim(consent.id, 'hash-2')).toBe(false);
    } finally {
      store.close();
    }
    const db = new Database(path);
    try {
      expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.pragma('foreign_key_check')).toEqual([]);
      expect(() => db.exec(`INSERT INTO accounts (client_id, name, mode) VALUES ('3', 'x', 'bogus')`)).toThrow(
        /CHECK constraint failed/,
      );
      expect(() =>
        db.exec(`INSERT INTO events (client_id, at, kind, result) VALUES (NULL, 1, 'bogus', 'info')`),
      ).toThrow(/CHECK constraint failed/);
      // Ordinary connections are defensive: only the migration, which asks for it, edits the schema.
      expect(() =>
        db.exec(`PRAGMA writable_schema = ON; UPDATE sqlite_schema SET sql = sql WHERE name = 'accounts'`),
      ).toThrow();
    } finally {
      db.close();
    }
  });

  it('a reader opened on the migrated file sees consents and login requests', () => {
    const path = v1Database();
    const writer = Store.open(path);
    writer.upsertAccount({ clientId: '1000000002', name: 'apikey', mode: 'consent' });
    writer.consents.requestLogin({ clientId: '1000000002', since: 1, reason: 'log in', deadline: null });
    const reader = Store.open(path, { readonly: true });
    try {
      expect(reader.consents.loginRequest('1000000002')).toEqual({
        clientId: '1000000002',
        since: 1,
        reason: 'log in',
        deadline: null,
      });
    } finally {
      reader.close();
      writer.close();
    }
  });
});
