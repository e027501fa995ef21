import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { StorageConfig } from '../../src/config/config.js';
import { pgClientConfig, redactUrl } from '../../src/store/postgres/connection.js';
import { openStorage, type OpenedStorage } from '../../src/store/open-storage.js';
import { tempDir } from '../helpers/cli.js';
import { dropSchemas, PG_URL, uniqueSchema, withAdmin } from '../helpers/postgres.js';

/* openStorage picks the database the config names, with the key that seals its tokens. */

const ACC = '1000000001';
const schemas: string[] = [];
const opened: OpenedStorage[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) await o.store.close();
});
afterAll(() => dropSchemas(schemas));

async function open(storage: StorageConfig, options?: Parameters<typeof openStorage>[1]): Promise<OpenedStorage> {
  const o = await openStorage(storage, options);
  opened.push(o);
  return o;
}

const token = (n: number) => ({
  clientId: ACC,
  accessToken: `eyJ.open-storage-secret-${n}`,
  source: 'totp' as const,
  obtainedAt: 1_780_000_000_000 + n,
  expiresAt: 1_780_086_400_000 + n,
  expiryTime: '2026-07-08T07:41:12',
});

function sqliteStorage(key?: Buffer): StorageConfig {
  return {
    path: join(tempDir('dtk-open-'), 'keeper.db'),
    historyRetentionMs: 86_400_000,
    encryptionKey: key?.toString('hex'),
    postgres: undefined,
  };
}

function postgresStorage(key?: Buffer, password?: string): StorageConfig {
  const schema = uniqueSchema('dtk_open');
  schemas.push(schema);
  return {
    path: '/nonexistent/keeper.db',
    historyRetentionMs: 86_400_000,
    encryptionKey: key?.toString('hex'),
    postgres: {
      connection: { connectionString: PG_URL, password, ssl: undefined },
      schema,
      location: `${redactUrl(PG_URL)} (schema ${schema})`,
    },
  };
}

describe('openStorage', () => {
  it('without storage.url: the SQLite file at storage.path, sealed with the key, the synchronous store beside it', async () => {
    const key = randomBytes(32);
    const storage = sqliteStorage(key);
    const writer = await open(storage);
    expect(writer.kind).toBe('sqlite');
    if (writer.kind !== 'sqlite') return;
    expect(writer.store.location).toBe(storage.path);
    expect(writer.store.keyId).toBeDefined();
    await writer.store.upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' });
    const saved = await writer.store.saveToken(token(1));
    expect(writer.sqlite.currentToken(ACC)).toEqual(saved);

    const reader = await open(storage, { readonly: true });
    expect(await reader.store.currentToken(ACC)).toEqual(saved);
    await expect(reader.store.upsertAccount({ clientId: ACC, name: 'x', mode: 'auto' })).rejects.toThrow();
    await expect(openStorage({ ...storage, encryptionKey: undefined }, { readonly: true })).rejects.toMatchObject({
      code: 'store-key-missing',
    });
    const hidden = await open({ ...storage, encryptionKey: undefined }, { readonly: true, withoutKey: 'hide-tokens' });
    expect((await hidden.store.currentToken(ACC))?.accessToken).toBe('');
  });

  it("with storage.url: PostgreSQL in its schema, sealed with the key, with the connection for the keeper's other sessions", async () => {
    const key = randomBytes(32);
    const storage = postgresStorage(key);
    const writer = await open(storage);
    expect(writer.kind).toBe('postgres');
    if (writer.kind !== 'postgres') return;
    expect(writer.schema).toBe(storage.postgres?.schema);
    expect(writer.store.location).toBe(storage.postgres?.location);
    await writer.store.upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' });
    const saved = await writer.store.saveToken(token(1));

    // The connection reaches the same server; the schema is the store's.
    const client = new pg.Client(writer.connection);
    await client.connect();
    try {
      const r = await client.query<{ n: string }>(`SELECT count(*) AS n FROM "${writer.schema}".tokens`);
      expect(r.rows[0]?.n).toBe('1');
    } finally {
      await client.end();
    }
    const sealed = await withAdmin((c) =>
      c.query<{ t: string }>(`SELECT access_token AS t FROM "${writer.schema}".tokens`),
    );
    expect(sealed.rows[0]?.t).toMatch(/^dtk-sealed:/);

    const reader = await open(storage, { readonly: true });
    expect(await reader.store.currentToken(ACC)).toEqual(saved);
    await expect(reader.store.upsertAccount({ clientId: ACC, name: 'x', mode: 'auto' })).rejects.toThrow(/read-only/);
    await expect(openStorage({ ...storage, encryptionKey: undefined }, { readonly: true })).rejects.toMatchObject({
      code: 'store-key-missing',
    });
    const hidden = await open({ ...storage, encryptionKey: undefined }, { readonly: true, withoutKey: 'hide-tokens' });
    expect((await hidden.store.currentToken(ACC))?.accessToken).toBe('');
  });

  it('with a password file, the store says where it is without the password', async () => {
    const storage = postgresStorage(undefined, 'ignored-by-trust-auth');
    const o = await open(storage);
    expect(o.store.location).toBe(storage.postgres?.location);
    expect(o.kind === 'postgres' && o.connection.connectionString).toContain('password=ignored-by-trust-auth');
  });

  it('a reader on a schema no keeper has created yet is refused, and creates nothing', async () => {
    const storage = postgresStorage();
    await expect(openStorage(storage, { readonly: true })).rejects.toMatchObject({ code: 'store-outdated' });
    const exists = await withAdmin((c) =>
      c.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [storage.postgres?.schema]),
    );
    expect(exists.rowCount).toBe(0);
  });
});

describe('the password file reaches node-postgres', () => {
  // node-postgres lets a connectionString override every field beside it, and a URL without a
  // password sets an empty one: a `password` field next to the URL would be dropped.
  it('goes into the URL as its password parameter, which node-postgres reads and redactUrl hides', () => {
    const password = 'p@ss word/&=+?#';
    const config = pgClientConfig({
      connectionString: 'postgres://keeper@db.internal:5432/keeper?application_name=dtk',
      password,
      ssl: undefined,
    });
    const client = new pg.Client(config);
    expect(client.password).toBe(password);
    expect(client.user).toBe('keeper');
    expect(client.host).toBe('db.internal');
    expect(client.database).toBe('keeper');
    expect(redactUrl(config.connectionString)).toBe('postgres://keeper@db.internal:5432/keeper?application_name=dtk');
  });

  it('works without a host too (a Unix socket in the host parameter)', () => {
    const config = pgClientConfig({
      connectionString: 'postgres:///keeper?host=/var/run/postgresql',
      password: 'pw-1',
      ssl: undefined,
    });
    const client = new pg.Client(config);
    expect(client.password).toBe('pw-1');
    expect(client.host).toBe('/var/run/postgresql');
  });

  it('keeps the TLS settings, and without a password file leaves the URL as it is', () => {
    const ssl = { ca: 'CA', rejectUnauthorized: true, servername: 'db' };
    const config = pgClientConfig({ connectionString: 'postgres://keeper@db/keeper', password: undefined, ssl });
    expect(config).toEqual({ connectionString: 'postgres://keeper@db/keeper', ssl });
    expect(new pg.Client(config).ssl).toEqual(ssl);
  });
});
