import { KeeperError } from '../errors.js';
import type { PublishedToken } from '../tokens.js';

/** Needs no quoting in bash (no expansion, no word splitting) nor in systemd's EnvironmentFile. */
const PLAIN = /^[A-Za-z0-9._:+\-=/]*$/;
/**
 * Printable ASCII except `'` and `\`. Inside single quotes both bash `source` and systemd's
 * EnvironmentFile parser (env-file.c, SINGLE_QUOTE_VALUE) take every one of these literally.
 * A `'` cannot appear inside single quotes in either; a `\` is literal in bash but was an escape
 * inside single quotes in older systemd releases; newlines, control and non-ASCII characters
 * break line-based readers. Those values are refused rather than escaped: no Dhan token or
 * field we write can contain them, so one that does is corrupt, and a loud failure beats a file
 * two readers would parse differently.
 */
const QUOTABLE = /^[\x20-\x26\x28-\x5b\x5d-\x7e]*$/;

/**
 * Every real value is PLAIN (JWTs are base64url with dots; times are ISO), so the file reads as
 * bare `KEY=value` lines that even `docker --env-file`, which strips no quotes, understands.
 * Quoting is the fallback for an odd but printable value.
 */
export function envValue(key: string, value: string): string {
  if (PLAIN.test(value)) return value;
  if (QUOTABLE.test(value)) return `'${value}'`;
  // The value itself is never shown: it may be the token.
  throw new KeeperError(
    'publish-env-unsafe',
    `${key} holds a quote, backslash, newline, control or non-ASCII character that cannot be written safely to an env file`,
    { hint: 'use format: json for this file sink' },
  );
}

export function formatEnvFile(token: PublishedToken): string {
  const lines: [string, string][] = [
    ['DHAN_CLIENT_ID', token.clientId],
    ['DHAN_ACCESS_TOKEN', token.accessToken],
    ['DHAN_TOKEN_EXPIRES_AT', token.expiresAt],
    ['DHAN_TOKEN_EXPIRY_TIME', token.expiryTime],
    ['DHAN_TOKEN_SOURCE', token.source],
    ['DHAN_TOKEN_OBTAINED_AT', token.obtainedAt],
  ];
  return lines.map(([key, value]) => `${key}=${envValue(key, value)}\n`).join('');
}

export function formatJsonFile(token: PublishedToken): string {
  return `${JSON.stringify(token, null, 2)}\n`;
}
