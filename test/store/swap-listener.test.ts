import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { NewToken } from '../../src/store/index.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { SwapListener, type SwapNotice } from '../../src/store/postgres/swap-listener.js';
import { waitUntil } from '../helpers/cli.js';
import { dropSchemas, PG_URL, uniqueSchema, withAdmin } from '../helpers/postgres.js';

/*
 * Standbys hear of the leader's swap through LISTEN/NOTIFY, delivered at commit. The latency
 * figures are printed, not asserted (bench/ is where speed is judged); what is asserted is that
 * every committed swap arrives, in order, and nothing else does.
 */

const ACC = '1000000001';
const schemas: string[] = [];
const stores: PostgresStore[] = [];
const listeners: SwapListener[] = [];
afterEach(async () => {
  for (const l of listeners.splice(0)) await l.stop();
  for (const s of stores.splice(0)) await s.close();
});
afterAll(() => dropSchemas(schemas));

async function leaderStore(): Promise<{ schema: string; store: PostgresStore }> {
  const schema = uniqueSchema('dtk_notify');
  schemas.push(schema);
  const store = await PostgresStore.open({ connection: { connectionString: PG_URL }, schema });
  stores.push(store);
  await store.upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' });
  return { schema, store };
}

function listen(schema: string, notices: { notice: SwapNotice; at: number }[], resyncs: number[]): SwapListener {
  const listener = new SwapListener({
    connection: { connectionString: PG_URL },
    schema,
    onSwap: (notice) => notices.push({ notice, at: performance.now() }),
    onResync: () => resyncs.push(performance.now()),
    reconnectAfterMs: 200,
  });
  listeners.push(listener);
  return listener;
}

const token = (n: number): NewToken => ({
  clientId: ACC,
  accessToken: `eyJ.notify-${n}`,
  source: 'renew',
  obtainedAt: 1_780_000_000_000 + n,
  expiresAt: 1_780_086_400_000 + n,
  expiryTime: '2026-07-08T07:41:12',
});

describe('swap notices over LISTEN/NOTIFY', () => {
  it("every committed swap reaches a standby, in order; a rolled-back one and another schema's never do", async () => {
    const { schema, store } = await leaderStore();
    const { store: elsewhere } = await leaderStore();
    const notices: { notice: SwapNotice; at: number }[] = [];
    const resyncs: number[] = [];
    await listen(schema, notices, resyncs).start();
    expect(resyncs).toHaveLength(1);

    const committedAt = new Map<number, number>();
    const ids: number[] = [];
    for (let n = 1; n <= 50; n++) {
      const saved = await store.saveToken(token(n));
      committedAt.set(saved.id, performance.now());
      ids.push(saved.id);
      await elsewhere.saveToken(token(n));
    }
    await store
      .transaction(async (tx) => {
        await tx.saveToken(token(99));
        throw new Error('sink exploded before commit');
      })
      .catch(() => undefined);
    await waitUntil(() => notices.length >= 50, { timeoutMs: 5_000, what: '50 notices' });
    await new Promise((r) => setTimeout(r, 200));
    expect(notices.map((n) => n.notice)).toEqual(ids.map((tokenId) => ({ clientId: ACC, tokenId })));

    const latencies = notices.map((n) => Math.max(0, n.at - committedAt.get(n.notice.tokenId)!)).sort((a, b) => a - b);
    const pct = (p: number): number =>
      latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)]!;
    console.log(
      `swap notice latency after commit over ${latencies.length} swaps: p50 ${pct(50).toFixed(2)} ms, p99 ${pct(99).toFixed(2)} ms, max ${latencies.at(-1)!.toFixed(2)} ms`,
    );
  });

  it('reconnects after losing its connection and asks its owner to re-read', async () => {
    const { schema, store } = await leaderStore();
    const notices: { notice: SwapNotice; at: number }[] = [];
    const resyncs: number[] = [];
    const listener = listen(schema, notices, resyncs);
    await listener.start();
    const pid = await listener.backendPid();
    await withAdmin((c) => c.query('SELECT pg_terminate_backend($1)', [pid]));
    await waitUntil(() => resyncs.length >= 2, { timeoutMs: 5_000, what: 'the listener to reconnect' });
    const saved = await store.saveToken(token(1));
    await waitUntil(() => notices.length >= 1, { timeoutMs: 5_000, what: 'a notice after reconnecting' });
    expect(notices[0]?.notice).toEqual({ clientId: ACC, tokenId: saved.id });
  });
});
