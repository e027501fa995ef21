import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The PostgreSQL server tests run against (CI starts it: 127.0.0.1:5432, trust auth, database
 * `test`). Every test works in a schema of its own, with a unique name, dropped afterwards.
 */
export const PG_URL = process.env['DTK_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export function uniqueSchema(prefix = 'dtk_test'): string {
  return `${prefix}_${process.pid}_${randomBytes(6).toString('hex')}`;
}

export async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function dropSchemas(schemas: readonly string[]): Promise<void> {
  if (schemas.length === 0) return;
  await withAdmin(async (client) => {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  });
}
