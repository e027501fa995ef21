import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { ENV, baseConfig, problemsOf, tempDir, writeConfig, writeFile } from '../helpers/config-fixtures.js';

/* The notify section: channels, filters, secrets with file twins, and errors naming the key. */

const BOT = '123456:AAE-bot-token-value';

function withNotify(notify: unknown): Record<string, unknown> {
  return { ...baseConfig(), notify };
}

describe('notify config', () => {
  it('defaults to no channels, a 1h repeat and no summary', () => {
    const { config } = loadConfig(writeConfig(tempDir(), baseConfig()), ENV);
    expect(config.notify).toEqual({ repeatEveryMs: 3_600_000, dailySummary: undefined, channels: [] });
  });

  it('reads the three channel types with defaults, filters and secret files', () => {
    const dir = tempDir();
    writeFile(join(dir, 'bot'), `${BOT}\n`);
    const { config } = loadConfig(
      writeConfig(
        dir,
        withNotify({
          repeatEvery: '30m',
          dailySummary: '0 8 * * 1-5',
          channels: [
            {
              type: 'telegram',
              botTokenFile: 'bot',
              chatId: 123456789,
              events: ['login-needed', 'attention'],
              accounts: ['main'],
            },
            { type: 'ntfy', topic: 'dhan-keeper', token: 'tk_123' },
            { type: 'webhook', url: 'http://127.0.0.1:8080/notify', secret: 'hmac' },
            { type: 'telegram', botToken: BOT, chatId: '@mychannel', apiBaseUrl: 'http://127.0.0.1:1' },
          ],
        }),
      ),
      ENV,
    );
    expect(config.notify.repeatEveryMs).toBe(30 * 60_000);
    expect(config.notify.dailySummary).toBe('0 8 * * 1-5');
    expect(config.notify.channels).toEqual([
      {
        type: 'telegram',
        name: 'telegram',
        events: ['login-needed', 'attention'],
        accounts: ['main'],
        botToken: BOT,
        chatId: '123456789',
        apiBaseUrl: 'https://api.telegram.org',
      },
      {
        type: 'ntfy',
        name: 'ntfy',
        events: expect.arrayContaining(['summary', 'recovered']) as unknown as string[],
        accounts: '*',
        url: 'https://ntfy.sh',
        topic: 'dhan-keeper',
        token: 'tk_123',
      },
      {
        type: 'webhook',
        name: 'webhook',
        events: expect.any(Array) as unknown as string[],
        accounts: '*',
        url: 'http://127.0.0.1:8080/notify',
        secret: 'hmac',
      },
      {
        type: 'telegram',
        name: 'telegram-2',
        events: expect.any(Array) as unknown as string[],
        accounts: '*',
        botToken: BOT,
        chatId: '@mychannel',
        apiBaseUrl: 'http://127.0.0.1:1',
      },
    ]);
  });

  const cases: [string, unknown, string][] = [
    [
      'a telegram channel without a bot token',
      { channels: [{ type: 'telegram', chatId: 1 }] },
      'notify.channels[0].botToken: missing — set botToken or botTokenFile',
    ],
    [
      'a telegram channel without a chat id',
      { channels: [{ type: 'telegram', botToken: BOT }] },
      'notify.channels[0].chatId:',
    ],
    [
      'a chat id that is not one',
      { channels: [{ type: 'telegram', botToken: BOT, chatId: 'me' }] },
      'notify.channels[0].chatId: is not a Telegram chat id',
    ],
    ['an unknown channel type', { channels: [{ type: 'slack' }] }, 'notify.channels[0].type:'],
    [
      'an unknown event',
      { channels: [{ type: 'ntfy', topic: 't', events: ['everything'] }] },
      'notify.channels[0].events[0]:',
    ],
    [
      'an ntfy topic with a slash',
      { channels: [{ type: 'ntfy', topic: 'a/b' }] },
      'notify.channels[0].topic: is not an ntfy topic',
    ],
    [
      'both secret twins',
      { channels: [{ type: 'webhook', url: 'http://127.0.0.1:1/x', secret: 'a', secretFile: 'b' }] },
      'notify.channels[0].secret: both secret and secretFile are set',
    ],
    ['a bad summary time', { dailySummary: 'every morning' }, 'notify.dailySummary:'],
  ];
  for (const [what, notify, want] of cases) {
    it(`refuses ${what}`, () => {
      const problems = problemsOf(writeConfig(tempDir(), withNotify(notify)), ENV).join('\n');
      expect(problems).toContain(want);
      expect(problems).not.toContain(BOT);
    });
  }
});
