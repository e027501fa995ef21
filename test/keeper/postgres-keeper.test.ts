import { afterEach, describe, expect, it } from 'vitest';
import type { LeaderFence } from '../../src/store/postgres/leadership.js';
import { DAY, CLIENT, World } from '../helpers/world.js';
import { dropSchemas, uniqueSchema, withAdmin } from '../helpers/postgres.js';
import { readJsonSink } from '../helpers/sink-file.js';

/*
 * The keeper itself on PostgreSQL, on the fake clock: the same worker, planner and scheduler as
 * on SQLite, with the data in a schema of a real server. The multi-process failover is
 * test/e2e/ha-chaos.test.ts; here the fence is driven by hand so every case is deterministic.
 */

const schemas: string[] = [];
let world: World | undefined;

afterEach(async () => {
  await world?.close();
  world = undefined;
  await dropSchemas(schemas.splice(0));
});

/** A leadership row at `epoch`, as a keeper taking over would write it. */
async function setEpoch(schema: string, epoch: number): Promise<void> {
  await withAdmin((client) =>
    client.query(
      `INSERT INTO "${schema}".leadership (id, epoch, host, pid, since, heartbeat_at, backend_pid) VALUES (1, $1, 'test', 1, 0, 0, 0)
       ON CONFLICT (id) DO UPDATE SET epoch = excluded.epoch`,
      [epoch],
    ),
  );
}

describe('the keeper on PostgreSQL', () => {
  it('lives a week of 1-day tokens with a restart, every second live in the sink, every swap in the shared store', async () => {
    const schema = uniqueSchema('dtk_keeper');
    schemas.push(schema);
    world = await World.create({ postgresSchema: schema, logLevel: 'silent', sweepMs: 5 * 60_000 });
    const w = world;
    await w.keeper.start();
    await w.keeper.settle();
    let deadMs = 0;
    let previous = w.clock.now();
    const check = (now: number): void => {
      const token = readJsonSink(w.sinkPath)?.accessToken;
      if (token === undefined || !w.sim.isLive(token)) deadMs += now - previous;
      previous = now;
    };
    await w.runFor(3 * DAY, check);
    await w.restart();
    await w.runFor(4 * DAY, check);

    expect(deadMs).toBe(0);
    const stored = await w.asyncStore.listTokens(CLIENT, 100);
    // One generation at the start, then a renewal about every 16 hours.
    expect(stored.length).toBeGreaterThanOrEqual(8);
    expect(stored[0]?.accessToken).toBe(readJsonSink(w.sinkPath)?.accessToken);
    expect(w.sim.isLive(stored[0]!.accessToken)).toBe(true);
    expect(await w.asyncStore.pendingEvents()).toEqual([]);
  });

  it('without the fence it calls Dhan for nothing; a swap fenced by a passed epoch is refused and nothing is stored', async () => {
    const schema = uniqueSchema('dtk_fence');
    schemas.push(schema);
    const leading: { fence: LeaderFence | undefined } = { fence: undefined };
    world = await World.create({
      postgresSchema: schema,
      logLevel: 'silent',
      leadership: { fence: () => leading.fence },
    });
    const w = world;
    await setEpoch(schema, 1);

    // Not leading: the start's generation is never sent.
    await w.keeper.start();
    await w.runFor(5 * 60_000);
    expect(w.calls.filter((c) => c.endpoint === 'generate')).toEqual([]);
    expect(w.current()).toBeUndefined();
    await w.keeper.stop();

    // Leading with epoch 1: a token.
    leading.fence = { epoch: 1 };
    await w.keeper.start();
    await w.runFor(10 * 60_000);
    const first = w.current();
    expect(first).toBeDefined();

    // Another keeper takes over while our renewal is in flight at Dhan.
    w.sim.addFault({ endpoint: 'renew', clientId: CLIENT, action: { type: 'delay', ms: 300 } });
    const renewing = w.keeper.worker(CLIENT)!.exclusive(() => w.keeper.worker(CLIENT)!.perform('renew'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await setEpoch(schema, 2);
    await expect(renewing).rejects.toThrow(/epoch 1/);
    expect((await w.asyncStore.currentToken(CLIENT))?.id).toBe(first!.id);
    const last = (await w.asyncStore.listEvents({ clientId: CLIENT, kinds: ['renew'], limit: 1 }))[0];
    expect(last).toMatchObject({ result: 'abandoned', message: expect.stringMatching(/lost leadership/) as unknown });
  });
});
