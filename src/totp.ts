import { createGuardrails, generateSync } from 'otplib';
import type { Clock } from './clock.js';

export const TOTP_STEP_MS = 30_000;

/**
 * Authenticator apps commonly hand out 16-character (80-bit) secrets; otplib v13 refuses
 * anything under 16 bytes by default, which would reject a user's real secret (docs/dhan-quirks.md, "TOTP").
 */
const guardrails = createGuardrails({ MIN_SECRET_BYTES: 10 });

/** Upper case, no spaces, no padding: the form otplib and Dhan's QR codes agree on. */
export function normaliseTotpSecret(secret: string): string {
  return secret.replace(/[\s-]/g, '').replace(/=+$/, '').toUpperCase();
}

export function totpStep(atMs: number): number {
  return Math.floor(atMs / TOTP_STEP_MS);
}

/**
 * The last TOTP step an account's stored row says was sent to Dhan. `lastTotpStep` is never
 * rolled back; `lastGenerateAt` is (after a refusal), but it still counts when later: rows from
 * before the column carry only it. Undefined when neither says anything.
 */
export function lastUsedTotpStep(
  row: { readonly lastTotpStep: number | null; readonly lastGenerateAt: number | null } | undefined,
): number | undefined {
  const fromStep = row?.lastTotpStep ?? undefined;
  const fromTime =
    row?.lastGenerateAt === null || row?.lastGenerateAt === undefined ? undefined : totpStep(row.lastGenerateAt);
  if (fromStep === undefined) return fromTime;
  return fromTime === undefined ? fromStep : Math.max(fromStep, fromTime);
}

/** The RFC 6238 code (SHA-1, 6 digits, 30 s) for the step containing `atMs`. */
export function totpCode(secret: string, atMs: number): string {
  return generateSync({
    secret: normaliseTotpSecret(secret),
    epoch: Math.floor(atMs / 1000),
    guardrails,
  });
}

export type TotpTake =
  { readonly ok: true; readonly code: string; readonly step: number } | { readonly ok: false; readonly waitMs: number };

/**
 * Dhan refuses a TOTP code that was already used, and refusals count toward disabling TOTP
 * on the account: never hand out the same step twice for one account. A caller that gets
 * `ok: false` waits `waitMs` for the next step instead of retrying at once.
 */
export class TotpGuard {
  private readonly lastStepByClient = new Map<string, number>();

  /**
   * `persisted` reads the last step a previous process used (from the database), so that a
   * restart within a step waits for the next one: a crash loop must not reuse a code either.
   */
  constructor(
    private readonly clock: Clock,
    private readonly persisted: (clientId: string) => number | undefined = () => undefined,
  ) {}

  private lastStep(clientId: string): number | undefined {
    const here = this.lastStepByClient.get(clientId);
    const before = this.persisted(clientId);
    if (here === undefined) return before;
    return before === undefined ? here : Math.max(here, before);
  }

  take(clientId: string, secret: string): TotpTake {
    const now = this.clock.now();
    const step = totpStep(now);
    const last = this.lastStep(clientId);
    if (last !== undefined && step <= last) {
      return { ok: false, waitMs: (last + 1) * TOTP_STEP_MS - now };
    }
    this.lastStepByClient.set(clientId, step);
    return { ok: true, code: totpCode(secret, now), step };
  }

  /** How long until `take` would succeed for this account (0 when it would now). */
  waitMs(clientId: string): number {
    const now = this.clock.now();
    const last = this.lastStep(clientId);
    if (last === undefined || totpStep(now) > last) return 0;
    return (last + 1) * TOTP_STEP_MS - now;
  }
}
