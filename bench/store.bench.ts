import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { bench, describe } from 'vitest';
import { Store } from '../src/store/index.js';

/**
 * What the durability promise costs: a token swap (supersede + insert + history, synchronous=FULL)
 * against the baseline of a bare INSERT into a WAL database with synchronous=NORMAL, in the same
 * run on the same disk. Read the "x times slower" ratio, not the absolute numbers.
 */
const dir = mkdtempSync(join(tmpdir(), 'dtk-bench-'));
const store = Store.open(join(dir, 'keeper.db'));
store.upsertAccount({ clientId: '1000000001', name: 'bench', mode: 'auto' });
// The same store with tokens sealed at rest (storage.encryptionKeyFile): what AES-256-GCM adds.
const sealed = Store.open(join(dir, 'sealed.db'), { key: randomBytes(32) });
sealed.upsertAccount({ clientId: '1000000001', name: 'bench', mode: 'auto' });
const baseline = new Database(join(dir, 'baseline.db'));
baseline.pragma('journal_mode = WAL');
baseline.pragma('synchronous = NORMAL');
baseline.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, token TEXT NOT NULL, at INTEGER NOT NULL)');
const insert = baseline.prepare('INSERT INTO t (token, at) VALUES (?, ?)');
let n = 0;

describe('token swap durability', () => {
  bench('baseline: bare INSERT, synchronous=NORMAL', () => {
    insert.run(`token-${n++}`, Date.now());
  });

  bench('store.saveToken + history row, synchronous=FULL', () => {
    const now = Date.now();
    const id = store.beginEvent({ clientId: '1000000001', at: now, kind: 'renew', expiryBefore: now });
    store.transaction(() => {
      store.saveToken({
        clientId: '1000000001',
        accessToken: `token-${n++}-${'x'.repeat(300)}`,
        source: 'renew',
        obtainedAt: now,
        expiresAt: now + 86_400_000,
        expiryTime: '2026-01-01T00:00:00.000',
      });
      store.finishEvent(id, { result: 'success', durationMs: 1 });
    });
  });

  bench('store.currentToken (the token API reads it once per token change, then from memory)', () => {
    store.currentToken('1000000001');
  });

  bench('sealed store.saveToken + history row, synchronous=FULL', () => {
    const now = Date.now();
    const id = sealed.beginEvent({ clientId: '1000000001', at: now, kind: 'renew', expiryBefore: now });
    sealed.transaction(() => {
      sealed.saveToken({
        clientId: '1000000001',
        accessToken: `token-${n++}-${'x'.repeat(300)}`,
        source: 'renew',
        obtainedAt: now,
        expiresAt: now + 86_400_000,
        expiryTime: '2026-01-01T00:00:00.000',
      });
      sealed.finishEvent(id, { result: 'success', durationMs: 1 });
    });
  });

  bench('sealed store.currentToken (opens the sealed text)', () => {
    sealed.currentToken('1000000001');
  });
});
