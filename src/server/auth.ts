import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiKeyConfig } from '../config/config.js';

export type AuthResult =
  | { readonly ok: true; readonly key: ApiKeyConfig }
  | { readonly ok: false; readonly reason: 'missing' | 'scheme' | 'unknown' };

interface HashedKey {
  readonly key: ApiKeyConfig;
  readonly digest: Buffer;
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/**
 * Bearer keys checked without leaking them through timing: hashing first gives both sides
 * the same length (timingSafeEqual demands it, and a length check would leak the key's
 * length), and every key is compared so that the time taken does not say which one matched.
 */
export class ApiKeyRing {
  private readonly keys: readonly HashedKey[];

  constructor(keys: readonly ApiKeyConfig[]) {
    this.keys = keys.map((key) => ({ key, digest: sha256(key.key) }));
  }

  get size(): number {
    return this.keys.length;
  }

  authenticate(authorization: string | undefined): AuthResult {
    if (authorization === undefined || authorization.trim() === '') return { ok: false, reason: 'missing' };
    const match = /^Bearer +(\S+) *$/i.exec(authorization);
    const presented = match?.[1];
    if (presented === undefined) return { ok: false, reason: 'scheme' };
    const found = this.find(presented);
    return found === undefined ? { ok: false, reason: 'unknown' } : { ok: true, key: found };
  }

  /** The key whose value is `presented` (the status page's login form sends it bare). */
  find(presented: string): ApiKeyConfig | undefined {
    const digest = sha256(presented);
    let found: ApiKeyConfig | undefined;
    for (const candidate of this.keys) {
      // No early exit: the loop's length must not depend on where the key sits.
      if (timingSafeEqual(digest, candidate.digest) && found === undefined) found = candidate.key;
    }
    return found;
  }

  /** Sessions remember a key by name, so that a config reload can never leave a stale copy. */
  byName(name: string): ApiKeyConfig | undefined {
    return this.keys.find((k) => k.key.name === name)?.key;
  }
}

export function mayRead(key: ApiKeyConfig, clientId: string): boolean {
  return key.clients === '*' || key.clients.includes(clientId);
}
