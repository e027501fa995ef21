/** Longer than most proxies' idle timeouts would be pointless; consumers simply ask again. */
export const MAX_WAIT_SECONDS = 300;

export interface TokenQuery {
  /** Fingerprint the consumer already holds. */
  readonly after: string | undefined;
  /** Seconds to wait for a token that differs from `after`; 0 answers at once. */
  readonly waitSeconds: number;
}

export type QueryResult =
  { readonly ok: true; readonly query: TokenQuery } | { readonly ok: false; readonly message: string };

export const FINGERPRINT = /^[0-9a-f]{6,64}$/;
export const SECONDS = /^\d{1,3}(\.\d{1,3})?$/;

export function parseTokenQuery(params: URLSearchParams): QueryResult {
  const afters = params.getAll('after');
  const waits = params.getAll('wait');
  if (afters.length > 1 || waits.length > 1) return { ok: false, message: 'give after and wait at most once each' };
  // An empty `after` is a consumer that holds no token yet (a loop's first turn): it gets the
  // live token at once, as if it had sent no `after` at all.
  const after = afters[0] === '' ? undefined : afters[0];
  if (after !== undefined && !FINGERPRINT.test(after)) {
    return { ok: false, message: 'after must be the fingerprint of the token you hold (lower-case hex, as returned)' };
  }
  const wait = waits[0];
  let waitSeconds = 0;
  if (wait !== undefined) {
    waitSeconds = SECONDS.test(wait) ? Number(wait) : Number.NaN;
    if (!(waitSeconds >= 0 && waitSeconds <= MAX_WAIT_SECONDS)) {
      return { ok: false, message: `wait must be a number of seconds from 0 to ${MAX_WAIT_SECONDS}` };
    }
  }
  return { ok: true, query: { after, waitSeconds } };
}
