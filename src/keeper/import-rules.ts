/** A Dhan token lives 24 h; an hour of slack covers clock skew and Dhan's rounding. */
export const MAX_IMPORT_LIFETIME_MS = 25 * 60 * 60 * 1000;

export interface ImportFacts {
  readonly now: number;
  /** What the token says or the person gave (JWT exp, --expiry-time, or Dhan's tokenValidity). */
  readonly expiresAt: number;
  /** The JWT's iat, when the token has one. */
  readonly issuedAt: number | undefined;
  /** True when Dhan's /v2/profile accepted the token just now. */
  readonly verified: boolean;
  /** Expiry of the account's current token while it is live (the keeper's view, from Dhan's answers). */
  readonly currentLiveUntil: number | undefined;
}

export type ImportVerdict =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly reason: 'expired' | 'lifetime-too-long' | 'expiry-too-far' | 'would-replace-live';
      readonly message: string;
      readonly hint?: string;
    };

const hours = (ms: number): string => `${(ms / 3_600_000).toFixed(1)} h`;

/**
 * Whether a token a person brought may become the account's token. Anything that is not Dhan's
 * word is a claim: a JWT's exp and iat are unsigned as far as we can check, so a forged token
 * with `exp` ten years ahead would otherwise park the planner until then. Dhan's tokens live
 * 24 h, so an expiry more than 25 h after issue or after now is refused, verified or not; and
 * a token Dhan has not confirmed may never push out one that is live.
 */
export function judgeImport(facts: ImportFacts): ImportVerdict {
  if (facts.expiresAt <= facts.now) {
    return {
      ok: false,
      reason: 'expired',
      message: `this token expired at ${new Date(facts.expiresAt).toISOString()}; get a fresh one from Dhan Web`,
    };
  }
  if (facts.issuedAt !== undefined && facts.expiresAt - facts.issuedAt > MAX_IMPORT_LIFETIME_MS) {
    return {
      ok: false,
      reason: 'lifetime-too-long',
      message: `this token claims to live ${hours(facts.expiresAt - facts.issuedAt)} from its issue; Dhan's tokens live 24 h, so it is not one of Dhan's`,
    };
  }
  if (facts.expiresAt - facts.now > MAX_IMPORT_LIFETIME_MS) {
    return {
      ok: false,
      reason: 'expiry-too-far',
      message: `this token claims to expire ${hours(facts.expiresAt - facts.now)} from now; Dhan's tokens live 24 h`,
      hint: 'check --expiry-time (IST, as Dhan shows it), or drop it and let the keeper ask Dhan',
    };
  }
  if (!facts.verified && facts.currentLiveUntil !== undefined && facts.currentLiveUntil > facts.now) {
    return {
      ok: false,
      reason: 'would-replace-live',
      message:
        'the account has a live token, and an import that Dhan has not confirmed (--no-verify) may not replace it',
      hint: 'import without --no-verify so that the keeper checks the token with Dhan first',
    };
  }
  return { ok: true };
}
