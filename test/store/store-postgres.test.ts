import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { NewToken } from '../../src/store/index.js';
import { PostgresStore, type PostgresStoreOptions } from '../../src/store/postgres/postgres-store.js';
import { PG_MIGRATIONS, PG_SCHEMA_VERSION, pgMigrate } from '../../src/store/postgres/migrations.js';
import { describeStoreBehaviour } from '../helpers/store-behaviour.js';
import { dropSchemas, PG_URL, uniqueSchema, withAdmin } from '../helpers/postgres.js';

const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

describeStoreBehaviour('PostgreSQL, a fresh schema per test', async () => {
  const schema = uniqueSchema();
  schemas.push(schema);
  const open = (readonly = false, key?: Buffer): Promise<PostgresStore> =>
    PostgresStore.open({ connection: { connectionString: PG_URL }, schema, readonly, key });
  const scalar = (sql: string): Promise<unknown> =>
    withAdmin(async (client) => {
      await client.query(`SET search_path = "${schema}"`);
      const r = await client.query({ text: sql, rowMode: 'array' });
      const value: unknown = r.rows[0]?.[0];
      // count(*) is a bigint, which node-postgres hands back as a string.
      return typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
    });
  return {
    store: await open(),
    reopen: (key) => open(false, key),
    openReader: () => open(true),
    schemaVersion: async () => Number(await scalar('SELECT max(version) FROM schema_migrations')),
    schemaVersionExpected: PG_SCHEMA_VERSION,
    tables: () =>
      withAdmin(async (client) => {
        const r = await client.query<{ t: string }>(
          `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
          [schema],
        );
        return r.rows.map((row) => row.t);
      }),
    scalar,
  };
});

describe('PostgreSQL store: sealing, versions, durability', () => {
  const opened: PostgresStore[] = [];
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
  });

  async function open(schema: string, options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
    const store = await PostgresStore.open({ connection: { connectionString: PG_URL }, schema, ...options });
    opened.push(store);
    return store;
  }

  function fresh(): string {
    const schema = uniqueSchema();
    schemas.push(schema);
    return schema;
  }

  const ACC = '1000000001';
  const token = (n: number): NewToken => ({
    clientId: ACC,
    accessToken: `eyJ.pg-sealed-secret-${n}-${'z'.repeat(20)}`,
    source: 'totp',
    obtainedAt: 1_780_000_000_000 + n,
    expiresAt: 1_780_086_400_000 + n,
    expiryTime: '2026-07-08T07:41:12',
  });

  it('a pg_dump of a sealed database shows no token; the key, and only the key, opens it', async () => {
    const schema = fresh();
    const key = randomBytes(32);
    const store = await open(schema, { key });
    await store.upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' });
    const t1 = await store.saveToken(token(1));
    const t2 = await store.saveToken(token(2));
    await store.enqueueRequest(ACC, 'import', JSON.stringify({ accessToken: 'eyJ.pg-queued-secret' }), 1);
    expect(await store.listTokens(ACC)).toEqual([t2, { ...t1, supersededAt: t2.obtainedAt }]);
    await store.close();

    const dump = execFileSync('pg_dump', ['--dbname', PG_URL, '--schema', schema, '--data-only'], { encoding: 'utf8' });
    expect(dump).toContain('dtk-sealed:v1:');
    for (const secret of [t1.accessToken, t2.accessToken, 'pg-queued-secret']) expect(dump).not.toContain(secret);

    await expect(open(schema)).rejects.toMatchObject({ code: 'store-key-missing' });
    await expect(open(schema, { key: randomBytes(32) })).rejects.toMatchObject({ code: 'store-key-wrong' });
    await expect(open(schema, { readonly: true })).rejects.toMatchObject({ code: 'store-key-missing' });
    await expect(open(schema, { withoutKey: 'hide-tokens' })).rejects.toMatchObject({ code: 'store-key-missing' });
    const hidden = await open(schema, { readonly: true, withoutKey: 'hide-tokens' });
    expect((await hidden.currentToken(ACC))?.accessToken).toBe('');
    const again = await open(schema, { key });
    expect((await again.currentToken(ACC))?.accessToken).toBe(t2.accessToken);

    const next = randomBytes(32);
    expect(await again.rotateKey(next)).toEqual({ tokens: 2, requests: 1 });
    await expect(open(schema, { key })).rejects.toMatchObject({ code: 'store-key-wrong' });
    expect((await (await open(schema, { key: next })).currentToken(ACC))?.accessToken).toBe(t2.accessToken);
  });

  it('seals the plaintext rows it finds when a key is first given', async () => {
    const schema = fresh();
    const plain = await open(schema);
    await plain.upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' });
    const t1 = await plain.saveToken(token(1));
    await plain.close();
    const key = randomBytes(32);
    const sealed = await open(schema, { key });
    expect((await sealed.currentToken(ACC))?.accessToken).toBe(t1.accessToken);
    const dump = execFileSync('pg_dump', ['--dbname', PG_URL, '--schema', schema, '--data-only'], { encoding: 'utf8' });
    expect(dump).not.toContain(t1.accessToken);
  });

  it('refuses a schema from a newer keeper; a reader refuses an unmigrated one and cannot write', async () => {
    const schema = fresh();
    await (await open(schema)).close();
    await withAdmin((c) =>
      c.query(`INSERT INTO "${schema}".schema_migrations (version, description) VALUES ($1, 'future')`, [
        PG_SCHEMA_VERSION + 1,
      ]),
    );
    await expect(open(schema)).rejects.toMatchObject({ code: 'store-too-new' });
    await expect(open(schema, { readonly: true })).rejects.toMatchObject({ code: 'store-too-new' });

    const empty = fresh();
    await withAdmin((c) => c.query(`CREATE SCHEMA "${empty}"`));
    await expect(open(empty, { readonly: true })).rejects.toMatchObject({ code: 'store-outdated' });
    const writer = await open(empty);
    await writer.upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' });
    const reader = await open(empty, { readonly: true });
    await expect(reader.upsertAccount({ clientId: ACC, name: 'x', mode: 'auto' })).rejects.toThrow(/read-only/);
  });

  it('keepers starting together migrate once', async () => {
    const schema = fresh();
    const stores = await Promise.all([open(schema), open(schema), open(schema)]);
    expect(stores).toHaveLength(3);
    const rows = await withAdmin((c) => c.query(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`));
    expect(rows.rows.map((r: { version: number }) => r.version)).toEqual(PG_MIGRATIONS.map((m) => m.version));
  });

  it('migration 3 keeps the rows of a version-2 schema, accepts the consent values and still refuses unknown ones', async () => {
    const schema = fresh();
    await withAdmin(async (c) => {
      await c.query(`SET search_path = "${schema}"`);
      await pgMigrate(c, schema, `"${schema}"`, PG_MIGRATIONS.slice(0, 2));
      await c.query(`INSERT INTO accounts (client_id, name, mode) VALUES ($1, 'main', 'auto')`, [ACC]);
      await c.query(`INSERT INTO events (client_id, at, kind, result) VALUES ($1, 1, 'generate', 'success')`, [ACC]);
    });
    const store = await open(schema);
    expect(await store.getAccount(ACC)).toMatchObject({ mode: 'auto' });
    expect(await store.listEvents({ clientId: ACC })).toHaveLength(1);
    await store.upsertAccount({ clientId: '1000000002', name: 'apikey', mode: 'consent' });
    await store.saveToken({ ...token(1), clientId: '1000000002', source: 'consent' });
    await store.addEvent({ clientId: '1000000002', at: 5, kind: 'login-needed', result: 'failure', message: 'log in' });
    await store.addEvent({ clientId: '1000000002', at: 6, kind: 'notify', result: 'success', message: 'phone: sent' });
    await store.enqueueRequest('1000000002', 'consent-finish', null, 7);
    const consent = await store.consents.start({
      clientId: '1000000002',
      consentAppId: 'abc-123',
      loginUrl: 'http://x/login',
      startedAt: 8,
    });
    expect(await store.consents.claim(consent.id, 'hash-1')).toBe(true);
    await withAdmin(async (c) => {
      await expect(
        c.query(`INSERT INTO "${schema}".accounts (client_id, name, mode) VALUES ('3', 'x', 'bogus')`),
      ).rejects.toThrow(/check constraint/);
      await expect(
        c.query(`INSERT INTO "${schema}".events (client_id, at, kind, result) VALUES (NULL, 1, 'bogus', 'info')`),
      ).rejects.toThrow(/check constraint/);
    });
  });

  it('refuses a schema name that cannot go into search_path as is', async () => {
    await expect(open('bad; name')).rejects.toMatchObject({ code: 'store-options' });
  });

  it('commits with synchronous_commit on, whatever the server default', async () => {
    const store = await open(fresh());
    expect(await store.setting('synchronous_commit')).toBe('on');
  });
});
