import { randomBytes } from 'node:crypto';

/** How a token came to be. A renewal keeps its origin: a renewed TOTP token is still one. */
export type TokenOrigin = 'web' | 'totp' | 'consent';
export type TokenKind = TokenOrigin | 'renew';

export interface TokenRecord {
  readonly accessToken: string;
  readonly clientId: string;
  readonly kind: TokenKind;
  readonly origin: TokenOrigin;
  readonly issuedAt: number;
  readonly expiresAt: number;
  killed: boolean;
}

function base64url(value: string | Buffer): string {
  return Buffer.from(value).toString('base64url');
}

/**
 * Shaped like Dhan's JWT (header, payload, signature) without a real signature: nobody but
 * Dhan can check one. `exp` is rounded down so a client trusting it never overestimates.
 */
function jwt(clientId: string, origin: TokenOrigin, issuedAt: number, expiresAt: number): string {
  const header = { alg: 'HS512', typ: 'JWT' };
  const payload = {
    iss: 'dhan',
    partnerId: '',
    exp: Math.floor(expiresAt / 1000),
    iat: Math.floor(issuedAt / 1000),
    // Dhan Web tokens say SELF, PIN+TOTP tokens APP; a renewal keeps its origin's type.
    tokenConsumerType: origin === 'web' ? 'SELF' : 'APP',
    webhookUrl: '',
    dhanClientId: clientId,
  };
  return `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}.${base64url(randomBytes(64))}`;
}

/** 48 random bytes make exactly 64 base64url characters. */
function opaque(): string {
  return base64url(randomBytes(48));
}

/**
 * Every token ever issued, so that a dead one is told apart from a forged one in stats.
 * Dhan keeps one live token per account: issuing kills the account's older tokens.
 */
export class TokenRegistry {
  private readonly byToken = new Map<string, TokenRecord>();
  /** Tokens not yet killed, per account (some may have expired by time). */
  private readonly unkilled = new Map<string, Set<TokenRecord>>();

  issue(params: {
    clientId: string;
    kind: TokenKind;
    origin: TokenOrigin;
    format: 'jwt' | 'opaque';
    now: number;
    lifetimeMs: number;
  }): TokenRecord {
    this.killAll(params.clientId);
    const expiresAt = params.now + params.lifetimeMs;
    const record: TokenRecord = {
      accessToken: params.format === 'jwt' ? jwt(params.clientId, params.origin, params.now, expiresAt) : opaque(),
      clientId: params.clientId,
      kind: params.kind,
      origin: params.origin,
      issuedAt: params.now,
      expiresAt,
      killed: false,
    };
    this.byToken.set(record.accessToken, record);
    let set = this.unkilled.get(params.clientId);
    if (!set) {
      set = new Set();
      this.unkilled.set(params.clientId, set);
    }
    set.add(record);
    return record;
  }

  get(accessToken: string): TokenRecord | undefined {
    return this.byToken.get(accessToken);
  }

  /** The record when Dhan would accept the token at `now`. */
  live(accessToken: string, now: number): TokenRecord | undefined {
    const record = this.byToken.get(accessToken);
    return record && isLive(record, now) ? record : undefined;
  }

  killAll(clientId: string): void {
    const set = this.unkilled.get(clientId);
    if (!set) return;
    for (const record of set) record.killed = true;
    set.clear();
  }

  /** A daily logout: every token of the account issued before `at` dies. */
  killIssuedBefore(clientId: string, at: number): void {
    const set = this.unkilled.get(clientId);
    if (!set) return;
    for (const record of [...set]) {
      if (record.issuedAt < at) {
        record.killed = true;
        set.delete(record);
      }
    }
  }

  liveCount(clientId: string, now: number): number {
    let count = 0;
    for (const record of this.unkilled.get(clientId) ?? []) if (isLive(record, now)) count++;
    return count;
  }
}

function isLive(record: TokenRecord, now: number): boolean {
  return !record.killed && now < record.expiresAt;
}
