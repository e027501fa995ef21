import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.js';
import { lastUsedTotpStep, normaliseTotpSecret, TOTP_STEP_MS, totpCode, TotpGuard } from '../../src/totp.js';

// RFC 6238 appendix B: the SHA-1 secret is ASCII "12345678901234567890"; 6-digit codes are the last 6 digits.
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

describe('totp', () => {
  it('matches the RFC 6238 test vectors', () => {
    expect(totpCode(RFC_SECRET, 59_000)).toBe('287082');
    expect(totpCode(RFC_SECRET, 1_111_111_109_000)).toBe('081804');
    expect(totpCode(RFC_SECRET, 1_234_567_890_000)).toBe('005924');
    expect(totpCode(RFC_SECRET, 2_000_000_000_000)).toBe('279037');
  });

  it('accepts 80-bit secrets from authenticator set-ups, with spaces and in any case', () => {
    const code = totpCode('JBSWY3DPEHPK3PXP', 59_000);
    expect(code).toMatch(/^\d{6}$/);
    expect(totpCode('jbsw y3dp ehpk 3pxp', 59_000)).toBe(code);
    expect(normaliseTotpSecret('jbsw y3dp-ehpk 3pxp==')).toBe('JBSWY3DPEHPK3PXP');
  });

  it('never hands out the same step twice for an account, and says how long until the next', () => {
    const clock = new FakeClock(1_000 * TOTP_STEP_MS + 10_000);
    const guard = new TotpGuard(clock);
    const first = guard.take('1', 'JBSWY3DPEHPK3PXP');
    expect(first.ok).toBe(true);
    const again = guard.take('1', 'JBSWY3DPEHPK3PXP');
    expect(again).toEqual({ ok: false, waitMs: 20_000 });
    expect(guard.waitMs('1')).toBe(20_000);
    // Another account has its own steps.
    expect(guard.take('2', 'JBSWY3DPEHPK3PXP').ok).toBe(true);
  });

  it("hands out the next step once it begins, with that step's code", async () => {
    const clock = new FakeClock(1_000 * TOTP_STEP_MS + 29_999);
    const guard = new TotpGuard(clock);
    const first = guard.take('1', RFC_SECRET);
    await clock.advance(1);
    expect(guard.waitMs('1')).toBe(0);
    const second = guard.take('1', RFC_SECRET);
    expect(second.ok && first.ok && second.step).toBe(first.ok ? first.step + 1 : -1);
    expect(second.ok && second.code).toBe(totpCode(RFC_SECRET, clock.now()));
  });
});

describe('lastUsedTotpStep: the step a stored row says was last sent', () => {
  const at = 1_000 * TOTP_STEP_MS + 10_000;
  it.each([
    { case: 'no row', row: undefined, expected: undefined },
    { case: 'never generated', row: { lastTotpStep: null, lastGenerateAt: null }, expected: undefined },
    { case: 'a row from before the column', row: { lastTotpStep: null, lastGenerateAt: at }, expected: 1_000 },
    {
      case: 'lastGenerateAt rolled back after a refusal',
      row: { lastTotpStep: 1_000, lastGenerateAt: null },
      expected: 1_000,
    },
    {
      case: 'rolled back to an older generation',
      row: { lastTotpStep: 1_000, lastGenerateAt: at - 10 * TOTP_STEP_MS },
      expected: 1_000,
    },
    { case: 'both of the same generation', row: { lastTotpStep: 1_000, lastGenerateAt: at }, expected: 1_000 },
    {
      case: 'lastGenerateAt later (written after a step boundary)',
      row: { lastTotpStep: 1_000, lastGenerateAt: at + TOTP_STEP_MS },
      expected: 1_001,
    },
  ])('$case', ({ row, expected }) => {
    expect(lastUsedTotpStep(row)).toBe(expected);
  });
});
