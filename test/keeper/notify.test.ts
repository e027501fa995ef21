import { createHmac } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.js';
import type { AccountConfig, NotifyChannelConfig, NotifyConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/log.js';
import type { NotifyEvent } from '../../src/notify/event.js';
import { Notifier } from '../../src/notify/notifier.js';
import { conditionOf, DEAD_GRACE_MS, eventsBetween, type Condition } from '../../src/notify/watch.js';
import { Store } from '../../src/store/index.js';
import { SqliteAsyncStore } from '../../src/store/sqlite-async-store.js';
import { FakeNotifyServer } from '../helpers/fake-notify.js';

describe('eventsBetween: what a change of condition tells a person', () => {
  const cases: [Condition | undefined, Condition, string[]][] = [
    [undefined, null, []],
    [undefined, 'attention', ['attention']],
    [undefined, 'login-needed', ['login-needed']],
    // At start a dead token is the keeper's first job, not news.
    [undefined, 'token-dead', []],
    [null, null, []],
    [null, 'attention', ['attention']],
    [null, 'token-dead', ['token-dead']],
    ['attention', 'attention', ['attention']],
    ['attention', null, ['attention-lifted']],
    ['login-needed', null, ['recovered']],
    ['token-dead', null, ['recovered']],
    ['login-needed', 'attention', ['attention']],
    ['token-dead', 'login-needed', ['login-needed']],
  ];
  for (const [prev, next, want] of cases) {
    it(`${String(prev)} → ${String(next)}: ${want.join(', ') || 'nothing'}`, () =>
      expect(eventsBetween(prev, next)).toEqual(want));
  }

  it('conditionOf: attention first, then login, then a token dead past the grace', () => {
    const base = { attention: null, loginNeeded: false, hasToken: true, live: true, deadForMs: 0 };
    expect(conditionOf(base)).toBeNull();
    expect(conditionOf({ ...base, attention: 'x', loginNeeded: true })).toBe('attention');
    expect(conditionOf({ ...base, loginNeeded: true, live: false, deadForMs: DEAD_GRACE_MS })).toBe('login-needed');
    expect(conditionOf({ ...base, live: false, deadForMs: DEAD_GRACE_MS - 1 })).toBeNull();
    expect(conditionOf({ ...base, live: false, deadForMs: DEAD_GRACE_MS })).toBe('token-dead');
    expect(conditionOf({ ...base, hasToken: false, live: false, deadForMs: DEAD_GRACE_MS })).toBeNull();
  });
});

describe('Notifier against a fake Telegram, ntfy and webhook receiver', () => {
  const BOT = '123456:bot-token-SECRET-value';
  const NTFY_TOKEN = 'tk_ntfy_secret_value';
  const HOOK_SECRET = 'hook-hmac-secret-value';
  let fake: FakeNotifyServer;
  let store: Store;
  let clock: FakeClock;
  const accounts = [
    { clientId: '1000000001', name: 'main' },
    { clientId: '1000000002', name: 'spare' },
  ] as unknown as AccountConfig[];

  beforeEach(async () => {
    fake = await FakeNotifyServer.start();
    clock = new FakeClock(Date.UTC(2026, 0, 5, 3, 30));
    store = Store.open(join(mkdtempSync(join(tmpdir(), 'dtk-notify-')), 'k.db'));
    for (const a of accounts) store.upsertAccount({ clientId: a.clientId, name: a.name, mode: 'auto' });
  });
  afterEach(async () => {
    store.close();
    await fake.close();
  });

  function channels(): NotifyChannelConfig[] {
    return [
      {
        type: 'telegram',
        name: 'phone',
        events: ['login-needed', 'attention', 'recovered'],
        accounts: '*',
        botToken: BOT,
        chatId: '42',
        apiBaseUrl: fake.url,
      },
      {
        type: 'ntfy',
        name: 'ntfy',
        events: ['attention'],
        accounts: ['spare'],
        url: fake.url,
        topic: 'dhan',
        token: NTFY_TOKEN,
      },
      {
        type: 'webhook',
        name: 'hook',
        events: ['attention'],
        accounts: ['1000000001'],
        url: `${fake.url}/hook`,
        secret: HOOK_SECRET,
      },
    ];
  }
  function notifier(config: Partial<NotifyConfig> = {}, results: string[] = []): Notifier {
    return new Notifier({
      config: { repeatEveryMs: 3_600_000, dailySummary: undefined, channels: channels(), ...config },
      accounts,
      store: new SqliteAsyncStore(store),
      clock,
      log: silentLogger(),
      retryDelaysMs: [10, 10],
      onResult: (channel, result) => results.push(`${channel}:${result}`),
    });
  }
  const event = (over: Partial<NotifyEvent> = {}): NotifyEvent => ({
    kind: 'attention',
    clientId: '1000000001',
    name: 'main',
    title: 'Dhan token keeper stopped: main',
    text: 'main (1000000001): Dhan refused token generation 2 times',
    at: clock.now(),
    ...over,
  });

  it('sends to the channels whose filters match, signs the webhook like the sink, and records each outcome', async () => {
    const results: string[] = [];
    const n = notifier({}, results);
    expect(n.notify(event())).toBe(true);
    await n.idle();
    expect(fake.telegram(BOT)).toEqual([
      { chat_id: '42', text: expect.stringContaining('Dhan refused token generation'), disable_web_page_preview: true },
    ]);
    // ntfy only listens to "spare".
    expect(fake.ntfy('dhan')).toHaveLength(0);
    const hook = fake.received.find((r) => r.path === '/hook');
    expect(JSON.parse(hook?.body ?? '{}')).toMatchObject({ event: 'attention', clientId: '1000000001', name: 'main' });
    expect(hook?.headers['x-dhan-token-signature']).toBe(
      `sha256=${createHmac('sha256', HOOK_SECRET)
        .update(hook?.body ?? '')
        .digest('hex')}`,
    );
    expect(results.sort()).toEqual(['hook:success', 'phone:success']);
    const rows = store.listEvents({ kinds: ['notify'] });
    expect(rows.map((r) => r.message).sort()).toEqual(['hook: attention sent', 'phone: attention sent']);

    n.notify(event({ clientId: '1000000002', name: 'spare' }));
    await n.idle();
    const [ntfy] = fake.ntfy('dhan');
    expect(ntfy?.headers['authorization']).toBe(`Bearer ${NTFY_TOKEN}`);
    expect(ntfy?.headers['title']).toBe('Dhan token keeper stopped: main');
  });

  it('does not repeat an event for an account within repeatEvery, unless the condition ended', async () => {
    const n = notifier();
    expect(n.notify(event())).toBe(true);
    expect(n.notify(event())).toBe(false);
    await clock.advance(59 * 60_000);
    expect(n.notify(event())).toBe(false);
    // Another account, or another event, is news.
    expect(n.notify(event({ kind: 'recovered' }))).toBe(true);
    await clock.advance(60_000);
    expect(n.notify(event())).toBe(true);
    n.forget('attention', '1000000001');
    expect(n.notify(event())).toBe(true);
    await n.idle();
    expect(fake.telegram(BOT)).toHaveLength(4);
  });

  /** Retry waits run on the fake clock: move it on until every delivery has ended. */
  async function drain(n: Notifier): Promise<void> {
    let finished = false;
    void n.idle().then(() => (finished = true));
    while (!finished) {
      await clock.advance(5);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  it('retries a failing channel with waits, and records a final failure without the bot token', async () => {
    const results: string[] = [];
    fake.failNext = { status: 502, times: 1 };
    const n = notifier({ channels: [channels()[0] as NotifyChannelConfig] }, results);
    n.notify(event());
    await drain(n);
    expect(fake.telegram(BOT)).toHaveLength(2);
    expect(results).toEqual(['phone:success']);
    fake.failNext = { status: 503, times: 5 };
    n.notify(event({ kind: 'recovered' }));
    await drain(n);
    expect(results).toEqual(['phone:success', 'phone:failure']);
    const failed = store.listEvents({ kinds: ['notify'] }).find((r) => r.result === 'failure');
    expect(failed?.message).toBe('phone: recovered not sent (HTTP 503)');
    expect(failed?.detail).toMatchObject({ attempts: 3, httpStatus: 503 });
    expect(JSON.stringify(store.listEvents({ limit: 100 }))).not.toContain('bot-token-SECRET');
    // A 4xx other than 429 is final: no retry.
    fake.failNext = { status: 401, times: 5 };
    n.notify(event({ kind: 'login-needed' }));
    await drain(n);
    expect(store.listEvents({ kinds: ['notify'] })[0]?.detail).toMatchObject({ attempts: 1, httpStatus: 401 });
  });
});
