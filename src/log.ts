import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type { LogLevel } from './config/config.js';

export type { Logger } from 'pino';

/**
 * Every field name that may ever hold a secret, at the top level and one or two levels down.
 * Redaction is the last line of defence: code never logs these on purpose (docs/promises.md, promise 6).
 */
const SECRET_KEYS = [
  'pin',
  'totp',
  'totpCode',
  'totpSecret',
  'secret',
  'accessToken',
  'token',
  'key',
  'apiKey',
  'password',
  'authorization',
  'payload',
];
const SECRET_HEADERS = ['headers["access-token"]', 'headers.authorization', 'headers.cookie'];

export const REDACT_PATHS: readonly string[] = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  ...SECRET_KEYS.map((k) => `*.*.${k}`),
  ...SECRET_HEADERS,
  ...SECRET_HEADERS.map((h) => `*.${h}`),
];

/** Generation carries the PIN and TOTP in the query string: a URL is logged without its query. */
export function urlWithoutQuery(url: string): string {
  const cut = url.search(/[?#]/);
  return cut === -1 ? url : url.slice(0, cut);
}

export interface LoggerSetup {
  readonly level: LogLevel;
  /** Defaults to stdout. Tests pass a stream to read back what was logged. */
  readonly destination?: DestinationStream;
  readonly base?: Record<string, unknown>;
}

export function createLogger(setup: LoggerSetup): Logger {
  const options: LoggerOptions = {
    level: setup.level,
    base: setup.base ?? { service: 'dhan-token-keeper' },
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
    },
    serializers: {
      url: (value: unknown) => (typeof value === 'string' ? urlWithoutQuery(value) : value),
      err: pino.stdSerializers.err,
    },
  };
  return setup.destination ? pino(options, setup.destination) : pino(options);
}

/** For commands and tests that must print nothing but their output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
