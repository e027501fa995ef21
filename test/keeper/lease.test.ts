import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Lease, pidIsRunning } from '../../src/keeper/lease.js';
import { Store } from '../../src/store/index.js';
import { SqliteAsyncStore } from '../../src/store/sqlite-async-store.js';

const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});

function open(): Store {
  const store = Store.open(join(mkdtempSync(join(tmpdir(), 'dtk-lease-')), 'keeper.db'));
  stores.push(store);
  return store;
}

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('single-instance lease', () => {
  it('refuses a second keeper while the first heartbeats, naming its pid and host', async () => {
    const store = open();
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    try {
      store.acquireLease({ pid: other.pid!, host: hostname() }, Date.now(), 15_000);
      await expect(new Lease(new SqliteAsyncStore(store)).acquire()).rejects.toThrow(
        new RegExp(`another keeper \\(pid ${other.pid} on ${hostname()}\\)`),
      );
    } finally {
      other.kill();
    }
  });

  it('takes over at once from a crashed keeper on this host (a systemd restart must not wait)', async () => {
    const store = open();
    const pid = deadPid();
    expect(pidIsRunning(pid)).toBe(false);
    store.acquireLease({ pid, host: hostname() }, Date.now(), 15_000);
    await new Lease(new SqliteAsyncStore(store)).acquire();
    expect(store.leaseHolder()?.pid).toBe(process.pid);
  });

  it('waits for the lease of a keeper on another host to expire', async () => {
    const store = open();
    store.acquireLease({ pid: 1, host: 'other-host' }, Date.now(), 15_000);
    await expect(new Lease(new SqliteAsyncStore(store)).acquire()).rejects.toThrow(/other-host/);
    const stale = open();
    stale.acquireLease({ pid: 1, host: 'other-host' }, Date.now() - 16_000, 15_000);
    await new Lease(new SqliteAsyncStore(stale)).acquire();
  });

  it('releases so that the next keeper starts at once', async () => {
    const store = open();
    const lease = new Lease(new SqliteAsyncStore(store));
    await lease.acquire();
    await lease.release();
    expect(store.leaseHolder()).toBeUndefined();
  });
});
