import { decodeJwtPayload } from '../dhan/expiry.js';
import type { TokenSource } from '../tokens.js';

/**
 * What Dhan's renewal rules depend on: the JWT's `tokenConsumerType` claim when it decodes
 * (`SELF` for Dhan Web tokens, `APP` for PIN+TOTP tokens, others possible), else where the
 * token came from. Learned refusals are remembered per kind, so that an APP token is planned
 * for generation from the start once Dhan has refused one.
 */
export type TokenKind = `consumer:${string}` | `source:${TokenSource}`;

const CONSUMER_TYPE = /^[A-Za-z0-9_-]{1,32}$/;

export function tokenKind(accessToken: string, source: TokenSource): TokenKind {
  const claim = decodeJwtPayload(accessToken)?.['tokenConsumerType'];
  // Only a short plain word is trusted: it is stored and printed.
  if (typeof claim === 'string' && CONSUMER_TYPE.test(claim)) return `consumer:${claim.toUpperCase()}`;
  return `source:${source}`;
}

/** "APP tokens", "tokens from totp": for messages a person reads. */
export function describeKind(kind: string): string {
  if (kind.startsWith('consumer:')) return `${kind.slice('consumer:'.length)} tokens`;
  if (kind.startsWith('source:')) return `tokens from ${kind.slice('source:'.length)}`;
  return `${kind} tokens`;
}
