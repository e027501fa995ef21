import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.js';
import type { AccountConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/log.js';
import { Notifier } from '../../src/notify/notifier.js';
import { DEAD_GRACE_MS } from '../../src/notify/watch.js';
import { StateWatcher, type WatchedFacts } from '../../src/notify/watcher.js';
import type { AsyncStore } from '../../src/store/contract.js';
import { Store } from '../../src/store/index.js';
import type { AccountRecord } from '../../src/store/records.js';
import { SqliteAsyncStore } from '../../src/store/sqlite-async-store.js';
import type { StoredToken } from '../../src/tokens.js';
import { FakeNotifyServer } from '../helpers/fake-notify.js';

/*
 * The watcher reads the acting keeper's memory, never the store, and looks again at an account
 * only when something about it can have changed: one of its facts is a new object, its token
 * reached its expiry, or it has a condition the notifier may repeat.
 */

const BOT = '123456:bot-token-SECRET-value';
const HOUR = 3_600_000;

describe('StateWatcher', () => {
  let fake: FakeNotifyServer;
  let store: Store;
  let clock: FakeClock;
  const accounts = Array.from({ length: 50 }, (_, i) => ({
    clientId: String(1_000_000_001 + i),
    name: `a${i}`,
  })) as unknown as AccountConfig[];
  const first = accounts[0]!.clientId;
  let facts: Map<string, WatchedFacts>;
  let factReads: number;

  beforeEach(async () => {
    fake = await FakeNotifyServer.start();
    clock = new FakeClock(Date.UTC(2026, 0, 5, 3, 30));
    store = Store.open(join(mkdtempSync(join(tmpdir(), 'dtk-watch-')), 'k.db'));
    facts = new Map();
    factReads = 0;
    for (const [i, a] of accounts.entries()) {
      const record = store.upsertAccount({ clientId: a.clientId, name: a.name, mode: 'auto' });
      facts.set(a.clientId, { record, token: token(a.clientId, i + 1, clock.now() + 20 * HOUR), login: undefined });
    }
  });
  afterEach(async () => {
    store.close();
    await fake.close();
  });

  function token(clientId: string, id: number, expiresAt: number): StoredToken {
    return {
      id,
      clientId,
      accessToken: `tok-${id}`,
      source: 'totp',
      obtainedAt: expiresAt - 24 * HOUR,
      expiresAt,
      expiryTime: '',
      supersededAt: null,
    };
  }

  /** A store every one of whose reads fails the test: the watcher must not need one to look. */
  function forbiddenStore(): AsyncStore {
    return new Proxy({} as AsyncStore, {
      get: (_target, name) => {
        throw new Error(`the watcher read the store (${String(name)})`);
      },
    });
  }

  function watcher(): { watcher: StateWatcher; notifier: Notifier } {
    const notifier = new Notifier({
      config: {
        repeatEveryMs: HOUR,
        dailySummary: undefined,
        channels: [
          {
            type: 'telegram',
            name: 'phone',
            events: ['attention', 'attention-lifted', 'token-dead', 'recovered'],
            accounts: '*',
            botToken: BOT,
            chatId: '42',
            apiBaseUrl: fake.url,
          },
        ],
      },
      accounts,
      store: new SqliteAsyncStore(store),
      clock,
      log: silentLogger(),
      retryDelaysMs: [10],
    });
    const w = new StateWatcher({
      accounts,
      facts: (clientId) => {
        factReads++;
        const f = facts.get(clientId);
        if (f === undefined) throw new Error(`no facts for ${clientId}`);
        return f;
      },
      store: forbiddenStore(),
      clock,
      log: silentLogger(),
      notifier,
    });
    return { watcher: w, notifier };
  }

  const texts = (): string[] => fake.telegram(BOT).map((m) => m.text);

  it('looks at every account from memory, without a store read, and says nothing while all is well', async () => {
    const { watcher: w, notifier } = watcher();
    for (let i = 0; i < 5; i++) {
      await w.look();
      await clock.advance(1_000);
    }
    await notifier.idle();
    expect(factReads).toBe(5 * accounts.length);
    expect(texts()).toEqual([]);
  });

  it('notices a token that reached its expiry with no facts changed, and tells once it has been dead past the grace', async () => {
    const { watcher: w, notifier } = watcher();
    const soon = clock.now() + 5_000;
    facts.set(first, { ...facts.get(first)!, token: token(first, 999, soon) });
    await w.look();
    await clock.advance(6_000);
    await w.look();
    await clock.advance(DEAD_GRACE_MS);
    await w.look();
    await notifier.idle();
    expect(texts()).toEqual([expect.stringContaining('the token is dead')]);

    // A new token is a new object: the next look tells the recovery.
    facts.set(first, { ...facts.get(first)!, token: token(first, 1_000, clock.now() + 24 * HOUR) });
    await w.look();
    await notifier.idle();
    expect(texts()).toHaveLength(2);
    expect(texts()[1]).toMatch(/live token/);
  });

  it('tells a stop as soon as the record changes, repeats it after repeatEvery, and tells its end', async () => {
    const { watcher: w, notifier } = watcher();
    await w.look();
    const stopped: AccountRecord = store.updateAccount(first, {
      attention: {
        scope: 'account',
        cause: 'access-denied',
        reason: 'Dhan blocked the account',
        wayOut: 'unblock it',
        since: clock.now(),
      },
    });
    facts.set(first, { ...facts.get(first)!, record: stopped });
    await w.look();
    await notifier.idle();
    expect(texts()).toEqual([expect.stringContaining('Dhan blocked the account')]);

    // The same stop, looked at again: within repeatEvery nothing, after it once more.
    await clock.advance(1_000);
    await w.look();
    await clock.advance(HOUR);
    await w.look();
    await notifier.idle();
    expect(texts()).toHaveLength(2);

    facts.set(first, { ...facts.get(first)!, record: store.updateAccount(first, { attention: null }) });
    await w.look();
    await notifier.idle();
    expect(texts()).toHaveLength(3);
    expect(texts()[2]).toMatch(/resumes/);
  });
});
