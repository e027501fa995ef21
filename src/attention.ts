/**
 * Why automatic refresh is stopped for a person, as one typed value: what is stopped (`scope`),
 * why, and the way out a person takes. Shared by the store, the keeper and what reports status.
 *
 * - generation: the credential budget is spent (Dhan refused the PIN/TOTP twice, or answered too
 *   many generations without a token). Only generation stops; a live token is still renewed. A
 *   change of credentials in the config (a new fingerprint) or `reset` lifts it.
 * - account: nothing automatic can help: DH-902/903 confirmed over time, a renew-only account
 *   without a live token, a token kind Dhan will not renew on an account that cannot generate.
 *   `reset` (after fixing the cause) or `import` of a fresh token lifts it.
 */
export type Attention =
  | {
      readonly scope: 'generation';
      readonly cause: GenerationStopCause;
      readonly reason: string;
      readonly wayOut: string;
      readonly since: number;
      /** The credentials Dhan refused: a config with other ones lifts the stop. */
      readonly credentialsFingerprint: string;
    }
  | {
      readonly scope: 'account';
      readonly cause: AccountStopCause;
      readonly reason: string;
      readonly wayOut: string;
      readonly since: number;
    };

/**
 * - credentials-refused: two counted refusals of a generation since the last token.
 * - budget-spent: the backstop: too many generations in 24 h answered without a token, whatever
 *   the wording (keeper/generation-budget.ts).
 */
export type GenerationStopCause = 'credentials-refused' | 'budget-spent';

const GENERATION_CAUSES: readonly GenerationStopCause[] = ['credentials-refused', 'budget-spent'];

/**
 * - access-denied: DH-902/903 repeated for at least the confirmation period.
 * - import-needed: no live token (or one Dhan will not renew) and no way to generate one.
 * - login-needed: reserved for accounts whose tokens come from a person's browser login.
 */
export type AccountStopCause = 'access-denied' | 'import-needed' | 'login-needed';

const ACCOUNT_CAUSES: readonly AccountStopCause[] = ['access-denied', 'import-needed', 'login-needed'];

/** One line for status, logs and history: what is wrong, then what a person does about it. */
export function attentionText(attention: Attention): string {
  return `${attention.reason}; ${attention.wayOut}`;
}

/** Reads a stored attention back; anything malformed is treated as none rather than crashing reads. */
export function parseAttention(raw: string | null): Attention | null {
  if (raw === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const reason = v['reason'];
  const wayOut = v['wayOut'];
  const since = v['since'];
  if (typeof reason !== 'string' || typeof wayOut !== 'string' || typeof since !== 'number') return null;
  if (
    v['scope'] === 'generation' &&
    GENERATION_CAUSES.includes(v['cause'] as GenerationStopCause) &&
    typeof v['credentialsFingerprint'] === 'string'
  ) {
    return {
      scope: 'generation',
      cause: v['cause'] as GenerationStopCause,
      reason,
      wayOut,
      since,
      credentialsFingerprint: v['credentialsFingerprint'],
    };
  }
  if (v['scope'] === 'account' && ACCOUNT_CAUSES.includes(v['cause'] as AccountStopCause)) {
    return { scope: 'account', cause: v['cause'] as AccountStopCause, reason, wayOut, since };
  }
  return null;
}
