import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { expect } from 'vitest';

export const IST = 'Asia/Kolkata';
/** IST is UTC+05:30 all year: an IST wall clock minus this is the UTC instant. */
export const IST_OFFSET_MS = (5 * 60 + 30) * 60 * 1000;

export interface RecordedResponse {
  readonly status: number;
  readonly body: unknown;
}

/** The documented and reported bodies (docs/dhan-quirks.md explains them). */
export const DHAN_RESPONSES = JSON.parse(
  readFileSync(new URL('../fixtures/dhan-responses.json', import.meta.url), 'utf8'),
) as Record<string, RecordedResponse | string> & { jwt_payload: Record<string, unknown> };

export function recorded(name: string): RecordedResponse {
  const entry = DHAN_RESPONSES[name];
  if (typeof entry !== 'object' || entry === null || !('status' in entry))
    throw new Error(`no recorded response ${name}`);
  return entry;
}

export function makeJwt(payload: Record<string, unknown>): string {
  const part = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part({ alg: 'HS512', typ: 'JWT' })}.${part(payload)}.${Buffer.from('not-a-real-signature-0123456789').toString('base64url')}`;
}

/** The recorded payload with exp moved to `expiresAtMs` (iat a day before). */
export function jwtExpiringAt(expiresAtMs: number): string {
  const exp = Math.floor(expiresAtMs / 1000);
  return makeJwt({ ...DHAN_RESPONSES.jwt_payload, exp, iat: exp - 86_400 });
}

/** Replaces the "<jwt>" placeholders of a recorded body with `token`. */
export function withToken(body: unknown, token: string): string {
  return JSON.stringify(body).replaceAll('"<jwt>"', JSON.stringify(token));
}

/** Every way an error could reach a log: message, stack, JSON, util.inspect (with causes). */
export function everythingPrintable(value: unknown): string {
  const parts = [JSON.stringify(value), inspect(value, { depth: 10, showHidden: true })];
  if (value instanceof Error) {
    parts.push(value.message, value.stack ?? '');
    if (value.cause !== undefined) parts.push(inspect(value.cause, { depth: 10, showHidden: true }));
  }
  return parts.join('\n');
}

export function expectNoSecrets(value: unknown, secrets: readonly string[]): void {
  const text = everythingPrintable(value);
  for (const secret of secrets) {
    expect(text.includes(secret), `a secret leaked into ${text.slice(0, 300)}`).toBe(false);
  }
}
