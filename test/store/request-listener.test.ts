import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { RequestListener } from '../../src/store/postgres/request-listener.js';
import { SwapListener, type SwapNotice } from '../../src/store/postgres/swap-listener.js';
import { waitUntil } from '../helpers/cli.js';
import { dropSchemas, PG_URL, uniqueSchema, withAdmin } from '../helpers/postgres.js';

/*
 * On PostgreSQL a CLI request wakes the running keeper through LISTEN/NOTIFY (on SQLite the
 * keeper watches the WAL file): a committed request in its schema wakes it, nothing else does,
 * and after a lost connection it wakes once to catch what it may have missed.
 */

const ACC = '1000000001';
const schemas: string[] = [];
const stores: PostgresStore[] = [];
const listeners: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  for (const l of listeners.splice(0)) await l.stop();
  for (const s of stores.splice(0)) await s.close();
});
afterAll(() => dropSchemas(schemas));

async function storeIn(
  schema: string | undefined,
  connection: { connectionString: string; options?: string } = { connectionString: PG_URL },
): Promise<PostgresStore> {
  const store = await PostgresStore.open({ connection, schema });
  stores.push(store);
  return store;
}

function fresh(): string {
  const schema = uniqueSchema('dtk_req');
  schemas.push(schema);
  return schema;
}

function listen(
  schema: string | undefined,
  wakes: string[],
  connection: { connectionString: string; options?: string } = { connectionString: PG_URL },
): RequestListener {
  const listener = new RequestListener({
    connection,
    schema,
    onRequest: () => wakes.push('wake'),
    reconnectAfterMs: 200,
  });
  listeners.push(listener);
  return listener;
}

/** Long enough for a notice that was going to arrive to have arrived. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 300));

describe('request notices over LISTEN/NOTIFY', () => {
  it("a committed request in its schema wakes the keeper; a rolled-back one and another schema's never do", async () => {
    const schema = fresh();
    const store = await storeIn(schema);
    const elsewhere = await storeIn(fresh());
    const wakes: string[] = [];
    await listen(schema, wakes).start();
    expect(wakes).toHaveLength(1);

    await elsewhere.enqueueRequest(ACC, 'renew', null, 1);
    await store
      .transaction(async (tx) => {
        await tx.enqueueRequest(ACC, 'renew', null, 2);
        throw new Error('the command gave up before committing');
      })
      .catch(() => undefined);
    await settle();
    expect(wakes).toHaveLength(1);

    let committed = false;
    const id = await store.transaction(async (tx) => {
      const queued = await tx.enqueueRequest(ACC, 'generate', null, 3);
      await settle();
      // Not before the commit: the keeper would find nothing to take.
      expect(wakes).toHaveLength(1);
      committed = true;
      return queued;
    });
    await waitUntil(() => wakes.length >= 2, { timeoutMs: 5_000, what: 'the wake-up' });
    expect(committed).toBe(true);
    expect((await store.takeRequests()).map((r) => r.id)).toEqual([id]);
  });

  it('reconnects after losing its connection and wakes its owner to take what it missed', async () => {
    const schema = fresh();
    const store = await storeIn(schema);
    const wakes: string[] = [];
    const listener = listen(schema, wakes);
    await listener.start();
    const pid = await listener.backendPid();
    await withAdmin((c) => c.query('SELECT pg_terminate_backend($1)', [pid]));
    await waitUntil(() => wakes.length >= 2, { timeoutMs: 5_000, what: 'the listener to reconnect' });
    await store.enqueueRequest(ACC, 'renew', null, 1);
    await waitUntil(() => wakes.length >= 3, { timeoutMs: 5_000, what: 'a wake-up after reconnecting' });
  });

  it("without a schema, listens for the one the server's search_path gives, as the store uses", async () => {
    const schema = fresh();
    await withAdmin((c) => c.query(`CREATE SCHEMA "${schema}"`));
    // Stands for a role whose search_path names the keeper's schema.
    const connection = { connectionString: PG_URL, options: `-c search_path=${schema}` };
    const store = await storeIn(undefined, connection);
    const other = await storeIn(fresh());
    const wakes: string[] = [];
    const notices: SwapNotice[] = [];
    await listen(undefined, wakes, connection).start();
    const swaps = new SwapListener({
      connection,
      schema: undefined,
      onSwap: (n) => notices.push(n),
      reconnectAfterMs: 200,
    });
    listeners.push(swaps);
    await swaps.start();

    await other.enqueueRequest(ACC, 'renew', null, 1);
    await store.enqueueRequest(ACC, 'renew', null, 1);
    await waitUntil(() => wakes.length >= 2, { timeoutMs: 5_000, what: 'the wake-up' });
    await store.upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' });
    const saved = await store.saveToken({
      clientId: ACC,
      accessToken: 'eyJ.req-listener',
      source: 'renew',
      obtainedAt: 1,
      expiresAt: 2,
      expiryTime: 'x',
    });
    await waitUntil(() => notices.length >= 1, { timeoutMs: 5_000, what: 'the swap notice' });
    await settle();
    expect(wakes).toHaveLength(2);
    expect(notices).toEqual([{ clientId: ACC, tokenId: saved.id }]);
  });
});
