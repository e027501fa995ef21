import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.js';
import type { Config } from '../../src/config/config.js';
import { loadConfig } from '../../src/config/index.js';
import { assembleKeeper } from '../../src/keeper/assemble.js';
import { accountStatus, accountStatuses } from '../../src/keeper/status.js';
import { silentLogger } from '../../src/log.js';
import type { AsyncStore } from '../../src/store/contract.js';
import { Store } from '../../src/store/index.js';
import { SqliteAsyncStore } from '../../src/store/sqlite-async-store.js';
import { ENV, tempDir, writeConfig } from '../helpers/config-fixtures.js';

/* A keeper opening with thousands of accounts reads them in two queries, whatever their tokens' state. */

const T0 = Date.UTC(2026, 0, 5, 14, 0, 0);
const HOUR = 3_600_000;
const LIVE = '1000000001';
const RENEWED = '1000000002';
const NEVER = '1000000003';
const DEAD = '1000000004';
const CLIENTS = [LIVE, RENEWED, NEVER, DEAD];

const stores: AsyncStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

/** The store, with a count of the calls made through it. */
function counting(store: AsyncStore): { store: AsyncStore; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const proxy = new Proxy(store, {
    get(target, prop) {
      // Bound to the target: its private fields are not reachable through the proxy.
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      return (...args: unknown[]): unknown => {
        calls.set(prop, (calls.get(prop) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

/** Four accounts: one live, one renewed (two tokens), one that never had a token, one whose token died. */
function fixture(): {
  config: Config;
  sync: Store;
  plain: SqliteAsyncStore;
  token: (clientId: string, n: number) => Parameters<Store['saveToken']>[0];
} {
  const dir = tempDir();
  const configPath = writeConfig(dir, {
    storage: { path: './keeper.db' },
    accounts: CLIENTS.map((clientId, i) => ({
      clientId,
      name: `a${i}`,
      pin: '${DHAN_PIN}',
      totpSecret: '${DHAN_TOTP_SECRET}',
    })),
  });
  const config = loadConfig(configPath, ENV).config;
  const sync = Store.open(join(dir, 'keeper.db'));
  const plain = new SqliteAsyncStore(sync);
  stores.push(plain);
  const token = (clientId: string, n: number): Parameters<Store['saveToken']>[0] => ({
    clientId,
    accessToken: `eyJ.open-${clientId}-${n}`,
    source: 'totp',
    obtainedAt: T0 + n * HOUR,
    expiresAt: T0 + n * HOUR + 24 * HOUR,
    expiryTime: '2026-01-06T19:30:00',
  });
  for (const [i, clientId] of CLIENTS.entries()) sync.upsertAccount({ clientId, name: `a${i}`, mode: 'auto' });
  sync.updateAccount(NEVER, { lastResult: 'never had a token', consecutiveFailures: 2 });
  sync.saveToken(token(LIVE, 1));
  sync.saveToken(token(RENEWED, 1));
  sync.saveToken(token(RENEWED, 2));
  sync.markTokenDead(sync.saveToken(token(DEAD, 1)).id, T0 + 2 * HOUR);
  return { config, sync, plain, token };
}

describe('Keeper.open()', () => {
  it('hands every worker its row and current token from two queries, not two per account', async () => {
    const { config, sync, plain, token } = fixture();
    const { store, calls } = counting(plain);
    const keeper = assembleKeeper(config, store, { clock: new FakeClock(T0 + 3 * HOUR), log: silentLogger() });
    await keeper.open();

    for (const clientId of CLIENTS) {
      const worker = keeper.worker(clientId)!;
      expect(worker.current).toEqual(sync.currentToken(clientId));
      expect(worker.state).toEqual(sync.getAccount(clientId));
    }
    expect(keeper.worker(RENEWED)?.current?.accessToken).toBe(token(RENEWED, 2).accessToken);
    expect(keeper.worker(DEAD)?.current).toBeUndefined();
    expect(keeper.worker(NEVER)?.state?.lastResult).toBe('never had a token');
    expect(Object.fromEntries(calls)).toMatchObject({ listAccounts: 1, currentTokens: 1 });
    expect(calls.get('currentToken')).toBeUndefined();
    expect(calls.get('getAccount')).toBeUndefined();
  });
});

describe('accountStatuses() (the CLI status)', () => {
  it('reads the rows and current tokens in bulk and reports each account as reading it alone would', async () => {
    const { config, sync, plain } = fixture();
    const now = T0 + 3 * HOUR;
    const { store, calls } = counting(plain);
    const rows = await accountStatuses(config, store, now);

    expect(rows.map((r) => [r.clientId, r.state])).toEqual([
      [LIVE, 'valid'],
      [RENEWED, 'valid'],
      [NEVER, 'missing'],
      [DEAD, 'missing'],
    ]);
    for (const [i, account] of config.accounts.entries()) {
      const alone = accountStatus(
        config,
        account,
        {
          record: sync.getAccount(account.clientId),
          token: sync.currentToken(account.clientId),
          login: undefined,
          refreshing: false,
        },
        now,
      );
      expect(rows[i]).toEqual(alone);
    }
    expect(Object.fromEntries(calls)).toMatchObject({ listAccounts: 1, currentTokens: 1 });
    expect(calls.get('currentToken')).toBeUndefined();
    expect(calls.get('getAccount')).toBeUndefined();
  });
});
