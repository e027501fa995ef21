import { describe, expect, it } from 'vitest';
import { judgeImport, type ImportFacts } from '../../src/keeper/import-rules.js';

const H = 3_600_000;
const NOW = Date.UTC(2026, 6, 8, 3, 0, 0);
const base: ImportFacts = {
  now: NOW,
  expiresAt: NOW + 20 * H,
  issuedAt: NOW - 4 * H,
  verified: true,
  currentLiveUntil: undefined,
};

describe('judgeImport (table)', () => {
  const cases: Array<[string, Partial<ImportFacts>, string]> = [
    ['a fresh verified web token', {}, 'ok'],
    ['an opaque token (no iat) with a sane expiry', { issuedAt: undefined }, 'ok'],
    ['already expired', { expiresAt: NOW - 1 }, 'expired'],
    ['expiring right now', { expiresAt: NOW }, 'expired'],
    ['a forged exp ten years ahead', { expiresAt: NOW + 10 * 365 * 24 * H, issuedAt: NOW }, 'lifetime-too-long'],
    ['iat to exp of 25 h exactly is allowed', { issuedAt: NOW - H, expiresAt: NOW + 24 * H }, 'ok'],
    ['iat to exp just over 25 h', { issuedAt: NOW - H, expiresAt: NOW + 24 * H + 1 }, 'lifetime-too-long'],
    ['an old iat does not excuse a far expiry', { issuedAt: NOW + 10 * H, expiresAt: NOW + 30 * H }, 'expiry-too-far'],
    ['no iat and an expiry 26 h ahead', { issuedAt: undefined, expiresAt: NOW + 26 * H }, 'expiry-too-far'],
    [
      'even verified, a too-far expiry is refused',
      { verified: true, issuedAt: undefined, expiresAt: NOW + 48 * H },
      'expiry-too-far',
    ],
    ['unverified, nothing live to replace', { verified: false }, 'ok'],
    ['unverified, the current token expired', { verified: false, currentLiveUntil: NOW - 1 }, 'ok'],
    ['unverified, the current token is live', { verified: false, currentLiveUntil: NOW + H }, 'would-replace-live'],
    ['verified replaces a live token', { verified: true, currentLiveUntil: NOW + H }, 'ok'],
  ];
  it.each(cases)('%s', (_name, facts, expected) => {
    const verdict = judgeImport({ ...base, ...facts });
    expect(verdict.ok ? 'ok' : verdict.reason).toBe(expected);
  });
});
