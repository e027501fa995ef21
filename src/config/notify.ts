import { z } from 'zod';
import { at, type Ctx, type Warn } from './problems.js';
import { isObject, kindOf, notOneOf, required } from './issues.js';
import { given, inlineSecret, secretFile, twins } from './secrets.js';
import type { NotifyChannelConfig, NotifyConfig, NotifyEventKind } from './config.js';
import { baseUrl, cronExpression, duration, text, webhookUrl } from './values.js';

export const NOTIFY_EVENTS = [
  'login-needed',
  'attention',
  'attention-lifted',
  'token-dead',
  'recovered',
  'summary',
] as const satisfies readonly NotifyEventKind[];
const TYPES = ['telegram', 'ntfy', 'webhook'];

const events = z
  .array(z.enum(NOTIFY_EVENTS))
  .min(1, `is empty — leave it out for every event, or list some of ${NOTIFY_EVENTS.join(', ')}`);
const accounts = z
  .array(z.preprocess((v) => (typeof v === 'number' ? String(v) : v), text))
  .min(1, 'is empty — leave it out for every account');
// Telegram chat ids are numbers (negative for groups) or @channelname.
const chatId = z.preprocess(
  (v) => (typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : v),
  text.refine(
    (v) => /^(-?\d+|@[A-Za-z0-9_]{5,})$/.test(v),
    'is not a Telegram chat id — a number like 123456789 (from @userinfobot), or @channelname',
  ),
);
const topic = text.refine(
  (v) => /^[A-Za-z0-9_-]{1,64}$/.test(v),
  'is not an ntfy topic — letters, digits, - and _ only',
);

function channelSchema(ctx: Ctx) {
  const common = { name: text.optional(), events: events.optional(), accounts: accounts.optional() };
  const telegram = z.strictObject({
    type: z.literal('telegram'),
    ...common,
    botToken: inlineSecret('botToken', 'botTokenFile').optional(),
    botTokenFile: secretFile(ctx).optional(),
    chatId: required(
      chatId,
      'give the chat id the bot writes to (send the bot a message, then ask @userinfobot for your id)',
    ),
    apiBaseUrl: baseUrl.prefault('https://api.telegram.org'),
  });
  const ntfy = z.strictObject({
    type: z.literal('ntfy'),
    ...common,
    url: baseUrl.prefault('https://ntfy.sh'),
    topic: required(topic, 'give the topic your phone subscribes to'),
    token: inlineSecret('token', 'tokenFile').optional(),
    tokenFile: secretFile(ctx).optional(),
  });
  const webhook = z.strictObject({
    type: z.literal('webhook'),
    ...common,
    url: required(webhookUrl, 'give the URL to POST to'),
    secret: inlineSecret('secret', 'secretFile').optional(),
    secretFile: secretFile(ctx).optional(),
  });
  return twins(
    [
      ['botToken', 'botTokenFile'],
      ['token', 'tokenFile'],
      ['secret', 'secretFile'],
    ],
    z
      .discriminatedUnion('type', [telegram, ntfy, webhook], {
        error: (issue) => {
          if (!isObject(issue.input))
            return `must be a mapping with a type (${TYPES.join(', ')}), not ${kindOf(issue.input)}`;
          const type = issue.input['type'];
          return type === undefined ? `missing — use ${TYPES.join(', ')}` : notOneOf(type, TYPES);
        },
      })
      .superRefine((channel, issues) => {
        if (channel.type === 'telegram' && channel.botToken === undefined && channel.botTokenFile === undefined) {
          issues.addIssue({
            code: 'custom',
            path: ['botToken'],
            message: 'missing — set botToken or botTokenFile (the token @BotFather gave you)',
          });
        }
      }),
  );
}

export function notifySchema(ctx: Ctx) {
  return z.strictObject({
    repeatEvery: duration(60_000).prefault('1h'),
    dailySummary: cronExpression.optional(),
    channels: z.array(channelSchema(ctx)).prefault([]),
  });
}

export function toNotifyConfig(notify: z.output<ReturnType<typeof notifySchema>>, warn: Warn): NotifyConfig {
  const names = new Map<string, number>();
  const channels = notify.channels.map((channel, i): NotifyChannelConfig => {
    const path = at('notify.channels', i);
    const base = {
      events: channel.events ?? [...NOTIFY_EVENTS],
      accounts: channel.accounts ?? ('*' as const),
    };
    let name = channel.name ?? channel.type;
    // Two channels of one type without names still need distinct metric labels.
    const seen = names.get(name) ?? 0;
    names.set(name, seen + 1);
    if (seen > 0) name = `${name}-${seen + 1}`;
    switch (channel.type) {
      case 'telegram':
        return {
          type: 'telegram',
          name,
          ...base,
          botToken: given(path, 'botToken', 'botTokenFile', channel.botToken, channel.botTokenFile, warn)?.value ?? '',
          chatId: channel.chatId,
          apiBaseUrl: channel.apiBaseUrl,
        };
      case 'ntfy':
        return {
          type: 'ntfy',
          name,
          ...base,
          url: channel.url,
          topic: channel.topic,
          token: given(path, 'token', 'tokenFile', channel.token, channel.tokenFile, warn)?.value,
        };
      case 'webhook':
        return {
          type: 'webhook',
          name,
          ...base,
          url: channel.url,
          secret: given(path, 'secret', 'secretFile', channel.secret, channel.secretFile, warn)?.value,
        };
    }
  });
  return { repeatEveryMs: notify.repeatEvery, dailySummary: notify.dailySummary, channels };
}
