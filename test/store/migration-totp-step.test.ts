import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SCHEMA_VERSION, Store } from '../../src/store/index.js';
import { MIGRATIONS, migrate } from '../../src/store/migrations.js';
import { PG_MIGRATIONS, PG_SCHEMA_VERSION, pgMigrate } from '../../src/store/postgres/migrations.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { lastUsedTotpStep, totpStep } from '../../src/totp.js';
import { dropSchemas, PG_URL, uniqueSchema, withAdmin } from '../helpers/postgres.js';

/*
 * The column for the last TOTP step sent (SQLite migration 5, PostgreSQL migration 4): rows
 * written before it keep everything they had and start with no step, so the keeper falls back
 * to the step of their lastGenerateAt, as it did before the column existed.
 */

const ACC = '1000000001';
const NEVER = '1000000002';
const GENERATED_AT = Date.UTC(2026, 6, 7, 2, 11, 12, 284);

const dirs: string[] = [];
const schemas: string[] = [];
afterAll(async () => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  await dropSchemas(schemas);
});

describe('SQLite migration 5: the last TOTP step', () => {
  it('keeps the rows of a version-4 database, with no step yet, and stores one afterwards', () => {
    const dir = fs.mkdtempSync(join(os.tmpdir(), 'dtk-mig5-'));
    dirs.push(dir);
    const path = join(dir, 'keeper.db');
    const db = new Database(path);
    migrate(db, path, MIGRATIONS.slice(0, 4));
    db.prepare(
      `INSERT INTO accounts (client_id, name, mode, last_generate_at, consecutive_failures, last_result) VALUES (?, 'main', 'auto', ?, 2, 'generate ok')`,
    ).run(ACC, GENERATED_AT);
    db.prepare(`INSERT INTO accounts (client_id, name, mode) VALUES (?, 'never', 'auto')`).run(NEVER);
    db.close();

    const store = Store.open(path);
    try {
      const old = store.getAccount(ACC);
      expect(old).toMatchObject({
        lastGenerateAt: GENERATED_AT,
        lastTotpStep: null,
        consecutiveFailures: 2,
        lastResult: 'generate ok',
      });
      expect(lastUsedTotpStep(old)).toBe(totpStep(GENERATED_AT));
      expect(lastUsedTotpStep(store.getAccount(NEVER))).toBeUndefined();
      const step = totpStep(GENERATED_AT) + 3;
      store.updateAccount(NEVER, { lastTotpStep: step });
      expect(store.getAccount(NEVER)).toMatchObject({ lastGenerateAt: null, lastTotpStep: step });
    } finally {
      store.close();
    }
    const after = new Database(path, { readonly: true });
    try {
      expect(after.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(5);
      expect(after.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      after.close();
    }
  });
});

describe('PostgreSQL migration 4: the last TOTP step', () => {
  it('keeps the rows of a version-3 schema, with no step yet, and stores one afterwards', async () => {
    const schema = uniqueSchema();
    schemas.push(schema);
    await withAdmin(async (c) => {
      await c.query(`SET search_path = "${schema}"`);
      await pgMigrate(c, schema, `"${schema}"`, PG_MIGRATIONS.slice(0, 3));
      await c.query(
        `INSERT INTO accounts (client_id, name, mode, last_generate_at, consecutive_failures) VALUES ($1, 'main', 'auto', $2, 2)`,
        [ACC, GENERATED_AT],
      );
      await c.query(`INSERT INTO accounts (client_id, name, mode) VALUES ($1, 'never', 'auto')`, [NEVER]);
    });
    const store = await PostgresStore.open({ connection: { connectionString: PG_URL }, schema });
    try {
      const old = await store.getAccount(ACC);
      expect(old).toMatchObject({ lastGenerateAt: GENERATED_AT, lastTotpStep: null, consecutiveFailures: 2 });
      expect(lastUsedTotpStep(old)).toBe(totpStep(GENERATED_AT));
      const step = totpStep(GENERATED_AT) + 3;
      await store.updateAccount(NEVER, { lastTotpStep: step });
      expect(await store.getAccount(NEVER)).toMatchObject({ lastGenerateAt: null, lastTotpStep: step });
    } finally {
      await store.close();
    }
    const versions = await withAdmin((c) =>
      c.query<{ version: number }>(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`),
    );
    expect(versions.rows.map((r) => r.version)).toEqual(PG_MIGRATIONS.map((m) => m.version));
    expect(PG_SCHEMA_VERSION).toBeGreaterThanOrEqual(4);
  });
});
