import type { ApiKeyConfig } from '../config/config.js';

export type AuthResult =
  | { readonly ok: true; readonly key: ApiKeyConfig }
  | { readonly ok: false; readonly reason: 'missing' | 'scheme' | 'unknown' };

const BEARER = /^Bearer +(\S+) *$/i;

/**
 * Bearer keys looked up in a map built once, with no hashing or allocation per request.
 *
 * Timing: the keys are long random strings (16+ characters, checked by the config), and the
 * only place a presented key meets a real one is the map's lookup. V8 hashes the presented
 * string with a per-process random seed and compares contents only against an entry with the
 * same hash, so how long a wrong guess takes depends on its length (which the sender knows),
 * not on how many of its characters are right: a guess cannot be steered into a comparison
 * with a real key, and without one there is nothing to measure. Nor does the time say which
 * key matched or how many there are: one lookup either way. What is left is hit versus miss,
 * which the answer's status says anyway.
 */
export class ApiKeyRing {
  private readonly byKey: ReadonlyMap<string, AuthResult>;
  private readonly namedKeys: ReadonlyMap<string, ApiKeyConfig>;
  /**
   * Authorization headers that carried a valid key, as sent: a bot sends the same header on
   * every request, and this skips parsing it. Only a valid key gets in, so a stranger cannot
   * fill it, and the lookup is the same kind as byKey's (see above). Bounded all the same: a
   * key sent with ever new spacing or capitalisation stops being remembered, not accepted.
   */
  private readonly accepted = new Map<string, AuthResult>();

  constructor(keys: readonly ApiKeyConfig[]) {
    this.byKey = new Map(keys.map((key) => [key.key, { ok: true, key }]));
    this.namedKeys = new Map(keys.map((key) => [key.name, key]));
  }

  get size(): number {
    return this.byKey.size;
  }

  authenticate(authorization: string | undefined): AuthResult {
    if (authorization === undefined) return { ok: false, reason: 'missing' };
    const known = this.accepted.get(authorization);
    if (known !== undefined) return known;
    if (authorization.trim() === '') return { ok: false, reason: 'missing' };
    const presented = BEARER.exec(authorization)?.[1];
    if (presented === undefined) return { ok: false, reason: 'scheme' };
    const result = this.byKey.get(presented);
    if (result === undefined) return UNKNOWN;
    if (this.accepted.size < MAX_ACCEPTED_HEADERS) this.accepted.set(authorization, result);
    return result;
  }

  /** The key whose value is `presented` (the status page's login form sends it bare). */
  find(presented: string): ApiKeyConfig | undefined {
    const found = this.byKey.get(presented);
    return found?.ok ? found.key : undefined;
  }

  /** Sessions remember a key by name, so that a config reload can never leave a stale copy. */
  byName(name: string): ApiKeyConfig | undefined {
    return this.namedKeys.get(name);
  }
}

const UNKNOWN: AuthResult = { ok: false, reason: 'unknown' };
const MAX_ACCEPTED_HEADERS = 64;

export function mayRead(key: ApiKeyConfig, clientId: string): boolean {
  return key.clients === '*' || key.clients.includes(clientId);
}
