import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, bench, describe } from 'vitest';
import { Store } from '../src/store/index.js';
import { SqliteAsyncStore } from '../src/store/sqlite-async-store.js';
import { Leadership } from '../src/store/postgres/leadership.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import type { AsyncStore } from '../src/store/contract.js';
import type { LeaderFence } from '../src/store/postgres/leadership.js';
import { dropSchemas, PG_URL, uniqueSchema } from '../test/helpers/postgres.js';

/**
 * A token swap (begin a history row, then supersede + insert + finish it in one transaction,
 * committed durably) on PostgreSQL over loopback, against the same swap on SQLite
 * (synchronous=FULL) in the same run: read the ratio, not the absolute numbers. A fenced swap
 * adds the leadership epoch check that several keepers need.
 */
const CLIENT = '1000000001';
const schema = uniqueSchema('dtk_bench');
const sqlite = new SqliteAsyncStore(Store.open(join(mkdtempSync(join(tmpdir(), 'dtk-bench-')), 'keeper.db')));
const postgres = await PostgresStore.open({ connection: { connectionString: PG_URL }, schema });
const leadership = new Leadership({
  connection: { connectionString: PG_URL },
  schema,
  owner: { host: 'bench', pid: process.pid },
});
await leadership.start();
const fence: LeaderFence | undefined = leadership.fence();
for (const s of [sqlite, postgres] as AsyncStore[])
  await s.upsertAccount({ clientId: CLIENT, name: 'bench', mode: 'auto' });
let n = 0;

async function swap(store: AsyncStore, withFence?: LeaderFence): Promise<void> {
  const now = Date.now();
  const id = await store.beginEvent({ clientId: CLIENT, at: now, kind: 'renew', expiryBefore: now });
  // Through the transaction's own view: on SQLite a call through the store itself waits for the transaction to end.
  await store.transaction(async (tx) => {
    await tx.saveToken(
      {
        clientId: CLIENT,
        accessToken: `token-${n++}-${'x'.repeat(300)}`,
        source: 'renew',
        obtainedAt: now,
        expiresAt: now + 86_400_000,
        expiryTime: '2026-01-01T00:00:00.000',
      },
      withFence,
    );
    await tx.finishEvent(id, { result: 'success', durationMs: 1 });
  });
}

afterAll(async () => {
  await leadership.stop();
  await postgres.close();
  await sqlite.close();
  await dropSchemas([schema]);
});

describe('token swap: PostgreSQL against SQLite', () => {
  bench('baseline: SQLite swap (async adapter), synchronous=FULL', () => swap(sqlite), { time: 1000 });
  bench('PostgreSQL swap over loopback, synchronous_commit=on', () => swap(postgres), { time: 1000 });
  bench('PostgreSQL swap, fenced by the leadership epoch', () => swap(postgres, fence), { time: 1000 });
});

// Apart, so that the swap comparison's summary reads as PostgreSQL against SQLite.
describe('token read: PostgreSQL', () => {
  bench(
    'PostgreSQL currentToken (what every token API request reads)',
    async () => {
      await postgres.currentToken(CLIENT);
    },
    { time: 1000 },
  );
});
