import { afterAll } from 'vitest';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { PG_SCHEMA_VERSION } from '../src/store/postgres/migrations.js';
import { describeStoreBehaviour } from './store.behaviour.js';
import { dropSchemas, PG_URL, uniqueSchema, withAdmin } from './helpers/postgres.js';

const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

describeStoreBehaviour('PostgreSQL, a fresh schema per test', async () => {
  const schema = uniqueSchema();
  schemas.push(schema);
  const open = (readonly = false): Promise<PostgresStore> => PostgresStore.open({ connection: { connectionString: PG_URL }, schema, readonly });
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
    reopen: () => open(),
    openReader: () => open(true),
    schemaVersion: async () => Number(await scalar('SELECT max(version) FROM schema_migrations')),
    schemaVersionExpected: PG_SCHEMA_VERSION,
    tables: () =>
      withAdmin(async (client) => {
        const r = await client.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, [schema]);
        return r.rows.map((row) => row.t);
      }),
    scalar,
  };
});
