import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.js';
import type { AccountWorker } from '../../src/keeper/account-worker.js';
import { watchRequests } from '../../src/keeper/request-watch.js';
import { SqliteAsyncStore } from '../../src/store/sqlite-async-store.js';
import { Scheduler } from '../../src/keeper/scheduler.js';
import { noSweep } from '../../src/keeper/sweep.js';
import { silentLogger } from '../../src/log.js';
import { Store } from '../../src/store/index.js';
import { sleep, waitUntil } from '../helpers/cli.js';

/* What a quiet keeper does not do: fsync for heartbeats, poll SQLite for CLI commands, re-plan every account every minute. */

const stores: Store[] = [];
const closers: Array<() => void> = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
  for (const store of stores.splice(0)) store.close();
});

function openStore(path?: string): Store {
  const store = Store.open(path ?? join(mkdtempSync(join(tmpdir(), 'dtk-idle-')), 'keeper.db'));
  stores.push(store);
  return store;
}

describe('lease heartbeat', () => {
  it('is written, and leaves the connection syncing every other commit in full', () => {
    const store = openStore();
    const owner = { pid: 4242, host: 'here' };
    expect(store.acquireLease(owner, 1_000, 15_000).ok).toBe(true);
    expect(store.heartbeatLease(owner, 6_000)).toBe(true);
    expect(store.leaseHolder()?.heartbeatAt).toBe(6_000);
    expect(store.settings().synchronous).toBe(2);
    // Inside a transaction the setting cannot change: the heartbeat commits with it.
    store.transaction(() => expect(store.heartbeatLease(owner, 7_000)).toBe(true));
    expect(store.leaseHolder()?.heartbeatAt).toBe(7_000);
    expect(store.settings().synchronous).toBe(2);
  });
});

describe('CLI requests', () => {
  it('wake the daemon through the write-ahead log, long before the fallback poll', async () => {
    const daemonStore = openStore();
    daemonStore.upsertAccount({ clientId: '1000000001', name: 'main', mode: 'auto' });
    let checks = 0;
    const taken: string[] = [];
    const watcher = watchRequests({
      walPath: `${daemonStore.path}-wal`,
      fallbackMs: 600_000,
      log: silentLogger(),
      check: async () => {
        checks++;
        for (const request of daemonStore.takeRequests()) taken.push(request.action);
      },
    });
    closers.push(() => watcher.close());
    await waitUntil(() => checks >= 1, { timeoutMs: 5_000, what: 'the first look at the queue' });

    // Nothing written: nothing read.
    const quiet = checks;
    await sleep(1_000);
    expect(checks).toBe(quiet);

    // The CLI's connection queues a command.
    const cli = openStore(daemonStore.path);
    cli.enqueueRequest('1000000001', 'renew', null, Date.now());
    await waitUntil(() => taken.length === 1, { timeoutMs: 30_000, what: 'the queued command to be taken' });
    expect(taken).toEqual(['renew']);
  });
});

describe('the safety sweep', () => {
  function fakeWorker(clientId: string, at: () => number, plans: string[]): AccountWorker {
    // Only what the scheduler touches of a worker.
    return {
      clientId,
      busy: false,
      idle: async () => undefined,
      published: async () => undefined,
      plan: () => {
        plans.push(clientId);
        return { action: 'wait', at: at() };
      },
    } as unknown as AccountWorker;
  }

  it('re-plans only accounts whose timer is overdue, and all of them after a clock jump', async () => {
    const clock = new FakeClock();
    const store = openStore();
    const plans: string[] = [];
    const ids = ['1', '2', '3'];
    for (const id of ids) store.upsertAccount({ clientId: id, name: id, mode: 'auto' });
    let mono = 0;
    const start = clock.now();
    const scheduler = new Scheduler({
      clock,
      store: new SqliteAsyncStore(store),
      workers: ids.map((id) => fakeWorker(id, () => start + 3_600_000, plans)),
      log: silentLogger(),
      probeIntervalMs: 0,
      startSweep: noSweep,
      monotonic: () => mono,
    });
    closers.push(() => void scheduler.stop());
    scheduler.start();
    expect(plans).toEqual(ids);

    // A minute later on both clocks: every timer is an hour away, nothing to re-plan.
    plans.length = 0;
    await clock.advance(60_000);
    mono += 60_000;
    scheduler.sweep();
    expect(plans).toEqual([]);

    // The wall clock leapt ten minutes while the monotonic one moved one (a suspend, an NTP step):
    // no timer is due yet, but every plan may be wrong now.
    await clock.advance(60_000);
    mono += 60_000;
    clock.jump(10 * 60_000);
    scheduler.sweep();
    expect(plans).toEqual(ids);
  });
});

describe('interval probes', () => {
  it('due in one slot run from one timer, and the crowd waiting on the stop signal raises no listener warning', async () => {
    const clock = new FakeClock();
    const store = openStore();
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', onWarning);
    closers.push(() => process.off('warning', onWarning));
    const probedAt: number[] = [];
    const releases: Array<() => void> = [];
    const ids = Array.from({ length: 30 }, (_, i) => String(1_000_000_000 + i));
    for (const id of ids) store.upsertAccount({ clientId: id, name: id, mode: 'auto' });
    const workers = ids.map(
      (clientId) =>
        ({
          clientId,
          busy: false,
          state: undefined,
          idle: async () => undefined,
          published: async () => undefined,
          plan: () => ({ action: 'wait', at: clock.now() + 86_400_000 }),
          // Like a probe queued for a Dhan slot: it listens for the scheduler's stop until it is let through.
          probe: (signal: AbortSignal) =>
            new Promise<void>((resolve) => {
              probedAt.push(clock.now());
              const onAbort = (): void => resolve();
              signal.addEventListener('abort', onAbort, { once: true });
              releases.push(() => {
                signal.removeEventListener('abort', onAbort);
                resolve();
              });
            }),
        }) as unknown as AccountWorker,
    );
    let draws = 0;
    const scheduler = new Scheduler({
      clock,
      store: new SqliteAsyncStore(store),
      workers,
      log: silentLogger(),
      probeIntervalMs: 900_000,
      startSweep: noSweep,
      // Every first probe drawn within the first two seconds of the interval: one slot.
      random: () => (draws++ < ids.length ? 0.001 : 0.5),
    });
    scheduler.start();
    await clock.advance(10_000);
    expect(probedAt).toHaveLength(ids.length);
    expect(new Set(probedAt).size).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings).not.toContain('MaxListenersExceededWarning');
    for (const release of releases) release();
    await scheduler.stop();
  });
});

describe('interval probes keep their promise', () => {
  // Gathering probes into slots must never make one later than its jittered moment, or a killed
  // token would outlive the probe interval. Rows: the interval and the jitter draw of every probe.
  const rows: Array<[string, number, number]> = [
    ['the shortest interval, latest jitter', 10_000, 0.999_999],
    ['the shortest interval, earliest jitter', 10_000, 0],
    ['the default interval, latest jitter', 900_000, 0.999_999],
    ['the default interval, earliest jitter', 900_000, 0],
  ];
  it.each(rows)(
    '%s: every gap between probes of an account stays within 0.85–1.1 intervals',
    async (_name, intervalMs, draw) => {
      const clock = new FakeClock();
      const store = openStore();
      store.upsertAccount({ clientId: '1000000001', name: 'a', mode: 'auto' });
      const probedAt: number[] = [];
      const worker = {
        clientId: '1000000001',
        busy: false,
        state: undefined,
        idle: async () => undefined,
        published: async () => undefined,
        plan: () => ({ action: 'wait', at: clock.now() + 86_400_000 }),
        probe: async () => void probedAt.push(clock.now()),
      } as unknown as AccountWorker;
      const scheduler = new Scheduler({
        clock,
        store: new SqliteAsyncStore(store),
        workers: [worker],
        log: silentLogger(),
        probeIntervalMs: intervalMs,
        startSweep: noSweep,
        random: () => draw,
      });
      scheduler.start();
      await clock.advance(intervalMs * 20);
      await scheduler.stop();
      const gaps = probedAt.slice(1).map((at, i) => at - (probedAt[i] as number));
      expect(gaps.length).toBeGreaterThanOrEqual(15);
      for (const gap of gaps) {
        expect(gap).toBeLessThanOrEqual(intervalMs * 1.1);
        expect(gap).toBeGreaterThanOrEqual(intervalMs * 0.85);
      }
    },
  );
});
