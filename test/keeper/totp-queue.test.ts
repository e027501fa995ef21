import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.js';
import { loadConfig } from '../../src/config/index.js';
import type { DhanApi, IssuedToken } from '../../src/dhan/dhan-api.js';
import { forceRefresh } from '../../src/keeper/account-commands.js';
import { AccountWorker } from '../../src/keeper/account-worker.js';
import { Limiter } from '../../src/keeper/limiter.js';
import { silentLogger } from '../../src/log.js';
import { Store } from '../../src/store/index.js';
import { SqliteAsyncStore } from '../../src/store/sqlite-async-store.js';
import { TotpGuard, totpCode } from '../../src/totp.js';
import { ENV, TOTP, baseConfig, tempDir, writeConfig } from '../helpers/config-fixtures.js';

/*
 * Thousands of accounts share dhan.maxConcurrency slots. A TOTP code taken before queueing for
 * a slot is stale by the time it is sent: Dhan answers "Invalid TOTP", and repeated refusals
 * can get TOTP disabled on the account. The code must be taken once the slot is ours.
 */

let store: Store | undefined;
afterEach(() => store?.close());

describe('a generation queued behind other Dhan calls', () => {
  it('sends a TOTP code of the moment it is sent, not of the moment it queued', async () => {
    const dir = tempDir();
    const { config } = loadConfig(writeConfig(dir, baseConfig()), ENV);
    const account = config.accounts[0]!;
    store = Store.open(join(dir, 'keeper.db'));
    const clock = new FakeClock();
    const limiter = new Limiter(1);
    const totp = new TotpGuard(clock);

    let releaseFirst: () => void = () => undefined;
    const sent: Array<{ clientId: string; code: string; at: number }> = [];
    const issued = (): IssuedToken => ({
      accessToken: `tok-${sent.length}`,
      expiresAt: clock.now() + 86_400_000,
      expiryTime: '2026-01-06T14:00:00.000',
      issuedAt: clock.now(),
    });
    const dhan: DhanApi = {
      generateToken: (req) => {
        sent.push({ clientId: req.clientId, code: req.totp, at: clock.now() });
        if (sent.length === 1) return new Promise((resolve) => (releaseFirst = () => resolve(issued())));
        return Promise.resolve(issued());
      },
      renewToken: () => Promise.reject(new Error('not in this test')),
      getProfile: () => Promise.reject(new Error('not in this test')),
    };
    const worker = (clientId: string): AccountWorker => {
      store!.upsertAccount({ clientId, name: clientId, mode: 'auto' });
      return new AccountWorker({
        account: { ...account, clientId, name: clientId },
        store: new SqliteAsyncStore(store!),
        dhan,
        clock,
        totp,
        limiter,
        publisher: { publish: async () => undefined },
        policy: config.renewal,
        generation: {
          intervalMs: config.dhan.minGenerateIntervalMs,
          marginMs: config.dhan.generateMarginMs,
          callTimeoutMs: config.dhan.requestTimeoutMs,
        },
        log: silentLogger(),
        hooks: { tokenChanged: () => undefined, refreshed: () => undefined, probed: () => undefined },
      });
    };

    const first = forceRefresh(worker('1000000001'), 'generate');
    const queued = forceRefresh(worker('1000000002'), 'generate');
    // The first call holds the only slot for three TOTP steps while the second waits for it.
    await clock.advance(0);
    expect(sent.map((s) => s.clientId)).toEqual(['1000000001']);
    await clock.advance(90_000);
    releaseFirst();
    expect((await first).ok).toBe(true);
    expect((await queued).ok).toBe(true);

    const second = sent[1]!;
    expect(second.clientId).toBe('1000000002');
    expect(second.at).toBe(sent[0]!.at + 90_000);
    expect(second.code).toBe(totpCode(TOTP, second.at));
  });
});
