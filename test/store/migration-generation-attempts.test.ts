import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { GenerationAttempt } from '../../src/generation-attempt.js';
import { Store } from '../../src/store/index.js';
import { MIGRATIONS, migrate } from '../../src/store/migrations.js';
import { PG_MIGRATIONS, pgMigrate } from '../../src/store/postgres/migrations.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { dropSchemas, PG_URL, uniqueSchema, withAdmin } from '../helpers/postgres.js';

/*
 * The credential budget's column (SQLite migration 6, PostgreSQL migration 5): rows written before
 * it keep everything they had and start with an empty record; attention stored then still reads.
 */

const ACC = '1000000001';
const AT = Date.UTC(2026, 6, 7, 2, 11, 12, 284);
const ATTENTION = JSON.stringify({
  scope: 'generation',
  cause: 'credentials-refused',
  reason: 'Dhan refused token generation 2 times in a row',
  wayOut: 'fix the PIN',
  since: AT,
  credentialsFingerprint: 'abc',
});
const REFUSED: GenerationAttempt = {
  at: AT,
  endedAt: AT + 500,
  totpStep: Math.floor(AT / 30_000),
  outcome: 'credentials-refused',
  answer: 'HTTP 200: Invalid Pin',
  retryAfterMs: null,
};

const dirs: string[] = [];
const schemas: string[] = [];
afterAll(async () => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  await dropSchemas(schemas);
});

describe('SQLite migration 6: the credential budget', () => {
  it('keeps the rows of a version-5 database, with an empty record, and stores one afterwards', () => {
    const dir = fs.mkdtempSync(join(os.tmpdir(), 'dtk-mig6-'));
    dirs.push(dir);
    const path = join(dir, 'keeper.db');
    const db = new Database(path);
    migrate(db, path, MIGRATIONS.slice(0, 5));
    db.prepare(
      `INSERT INTO accounts (client_id, name, mode, attention_state, last_generate_at, last_totp_step, consecutive_failures) VALUES (?, 'main', 'auto', ?, ?, ?, 2)`,
    ).run(ACC, ATTENTION, AT, REFUSED.totpStep);
    db.close();

    const store = Store.open(path);
    try {
      expect(store.getAccount(ACC)).toMatchObject({
        attention: JSON.parse(ATTENTION) as unknown,
        lastGenerateAt: AT,
        lastTotpStep: REFUSED.totpStep,
        consecutiveFailures: 2,
        generationAttempts: [],
      });
      expect(store.updateAccount(ACC, { generationAttempts: [REFUSED] }).generationAttempts).toEqual([REFUSED]);
    } finally {
      store.close();
    }
    const after = new Database(path, { readonly: true });
    try {
      expect(after.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      expect(after.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      after.close();
    }
  });
});

describe('PostgreSQL migration 5: the credential budget', () => {
  it('keeps the rows of a version-4 schema, with an empty record, and stores one afterwards', async () => {
    const schema = uniqueSchema();
    schemas.push(schema);
    await withAdmin(async (c) => {
      await c.query(`SET search_path = "${schema}"`);
      await pgMigrate(c, schema, `"${schema}"`, PG_MIGRATIONS.slice(0, 4));
      await c.query(
        `INSERT INTO accounts (client_id, name, mode, attention_state, last_generate_at, consecutive_failures) VALUES ($1, 'main', 'auto', $2, $3, 2)`,
        [ACC, ATTENTION, AT],
      );
    });
    const store = await PostgresStore.open({ connection: { connectionString: PG_URL }, schema });
    try {
      expect(await store.getAccount(ACC)).toMatchObject({
        attention: JSON.parse(ATTENTION) as unknown,
        lastGenerateAt: AT,
        consecutiveFailures: 2,
        generationAttempts: [],
      });
      expect((await store.updateAccount(ACC, { generationAttempts: [REFUSED] })).generationAttempts).toEqual([REFUSED]);
    } finally {
      await store.close();
    }
  });
});
