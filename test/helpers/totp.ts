import { createGuardrails, generateSync } from 'otplib';

/*
 * Codes computed with otplib, while the simulator verifies them with its own RFC 6238 code
 * (src/sim/totp-verify.ts): the two check each other. 80-bit secrets, as authenticator set-ups
 * hand out, need otplib's minimum relaxed (docs/dhan-quirks.md, "TOTP").
 */
export const totpGuardrails = createGuardrails({ MIN_SECRET_BYTES: 10 });

/** The code for `secret` at `atMs` (epoch ms), `stepOffset` 30-second steps away. */
export function totpAt(secret: string, atMs: number, stepOffset = 0): string {
  return generateSync({
    secret: secret.replace(/\s/g, '').toUpperCase(),
    epoch: Math.floor(atMs / 1000) + stepOffset * 30,
    guardrails: totpGuardrails,
  });
}
