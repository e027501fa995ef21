import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import type { AvoidWindow } from '../../src/config/config.js';
import { avoidIntervalAt } from '../../src/avoid-windows.js';
import type { Attention } from '../../src/attention.js';
import { plan, stableFraction, URGENT_SHARE, type PlanInput } from '../../src/keeper/planner.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const IST = 'Asia/Kolkata';
const marketHours: AvoidWindow = { days: [1, 2, 3, 4, 5], fromMinute: 9 * 60, toMinute: 15 * 60 + 45, timezone: IST };

function ist(iso: string): number {
  return DateTime.fromISO(iso, { zone: IST }).toMillis();
}

const PIN_REJECTED: Attention = {
  scope: 'generation',
  cause: 'credentials-refused',
  reason: 'PIN rejected',
  wayOut: 'fix the PIN',
  since: 0,
  credentialsFingerprint: 'fp',
};

function input(overrides: Partial<PlanInput>): PlanInput {
  const now = overrides.now ?? ist('2026-03-02T20:00:00');
  return {
    now,
    mode: 'auto',
    canGenerate: true,
    token: { obtainedAt: now, expiresAt: now + DAY, source: 'totp', kind: 'source:totp' },
    renewRefusedKinds: [],
    attention: null,
    policy: { renewBefore: { kind: 'share', ratio: 0.33 }, jitter: { kind: 'share', ratio: 0.05 }, avoid: [] },
    jitterFraction: 0.5,
    retryNotBefore: undefined,
    generateNotBefore: undefined,
    ...overrides,
  };
}

function at(p: ReturnType<typeof plan>): number {
  if (p.action === 'attention') throw new Error(`unexpected attention: ${p.reason}`);
  return p.at;
}

describe('planner: examples', () => {
  it("refreshAt: an owed fresh token comes first when earlier, within Dhan's generation interval and a pending backoff", () => {
    const now = ist('2026-03-02T20:00:00');
    const morning = ist('2026-03-03T08:30:00');
    expect(plan(input({ now, refreshAt: morning }))).toEqual({
      action: 'wait',
      at: morning,
      then: 'renew',
      reason: 'renew for the scheduled fresh token (refreshAt)',
    });
    // Overdue (it was owed while a failure backed off): act now.
    expect(plan(input({ now, refreshAt: now - 60_000 }))).toMatchObject({ action: 'renew', at: now });
    // A generation still waits for Dhan's interval, and any action for a backoff.
    expect(plan(input({ now, mode: 'generate-only', refreshAt: now, generateNotBefore: now + 90_000 }))).toMatchObject({
      action: 'wait',
      at: now + 90_000,
      then: 'generate',
    });
    expect(plan(input({ now, refreshAt: now, retryNotBefore: now + 5_000 }))).toMatchObject({
      action: 'wait',
      at: now + 5_000,
    });
    // Later than the regular plan: the regular plan wins.
    expect(plan(input({ now, refreshAt: now + 23 * HOUR }))).toMatchObject({
      reason: expect.stringMatching(/33%/) as unknown,
    });
  });

  it('a token kind Dhan refused to renew (e.g. APP) is planned for generation from the start', () => {
    const now = ist('2026-03-02T20:00:00');
    const app = { obtainedAt: now, expiresAt: now + DAY, source: 'totp' as const, kind: 'consumer:APP' };
    expect(plan(input({ now, token: app, renewRefusedKinds: ['consumer:APP'] }))).toMatchObject({ then: 'generate' });
    expect(
      plan(input({ now, token: { ...app, kind: 'consumer:SELF' }, renewRefusedKinds: ['consumer:APP'] })),
    ).toMatchObject({ then: 'renew' });
  });

  it('acts when a third of the lifetime is left, a jitter earlier', () => {
    const base = input({ jitterFraction: 0.5 });
    const p = plan(base);
    expect(p.action).toBe('wait');
    // 24 h token: 33% lead = 7.92 h, jitter 5% × 0.5 = 36 min.
    expect(at(p)).toBe(base.now + DAY - 0.33 * DAY - 0.025 * DAY);
    expect(p.action === 'wait' && p.then).toBe('renew');
  });

  it('accepts an absolute renewBefore and jitter', () => {
    const base = input({
      policy: {
        renewBefore: { kind: 'duration', ms: 8 * HOUR },
        jitter: { kind: 'duration', ms: 10 * 60_000 },
        avoid: [],
      },
      jitterFraction: 0,
    });
    expect(at(plan(base))).toBe(base.now + 16 * HOUR);
  });

  it('acts at once when less than 5% of the lifetime is left', () => {
    const now = ist('2026-03-02T20:00:00');
    const p = plan(
      input({
        now,
        token: { obtainedAt: now - 23 * HOUR, expiresAt: now + HOUR, source: 'renew', kind: 'source:renew' },
      }),
    );
    expect(p).toMatchObject({ action: 'renew', at: now });
  });

  it('generates at once when the token is dead or missing', () => {
    const now = ist('2026-03-02T20:00:00');
    expect(
      plan(input({ now, token: { obtainedAt: now - DAY - 1, expiresAt: now - 1, source: 'web', kind: 'source:web' } })),
    ).toMatchObject({ action: 'generate', at: now });
    expect(plan(input({ now, token: undefined }))).toMatchObject({ action: 'generate', at: now });
  });

  it('waits for Dhan to allow the next generation', () => {
    const now = ist('2026-03-02T20:00:00');
    const p = plan(input({ now, token: undefined, generateNotBefore: now + 90_000 }));
    expect(p).toMatchObject({ action: 'wait', then: 'generate', at: now + 90_000 });
  });

  it('renew-only without a live token needs a person', () => {
    expect(plan(input({ mode: 'renew-only', token: undefined })).action).toBe('attention');
    const now = ist('2026-03-02T20:00:00');
    expect(
      plan(
        input({
          now,
          mode: 'renew-only',
          token: { obtainedAt: now - DAY, expiresAt: now, source: 'web', kind: 'source:web' },
        }),
      ).action,
    ).toBe('attention');
  });

  it('generate-only always generates; auto generates for a source Dhan refused to renew', () => {
    expect(plan(input({ mode: 'generate-only' }))).toMatchObject({ then: 'generate' });
    expect(plan(input({ renewRefusedKinds: ['source:totp'] }))).toMatchObject({ then: 'generate' });
    expect(plan(input({ renewRefusedKinds: ['source:web'] }))).toMatchObject({ then: 'renew' });
    // renew-only has no credentials to fall back on: it keeps renewing.
    expect(plan(input({ mode: 'renew-only', canGenerate: false, renewRefusedKinds: ['source:totp'] }))).toMatchObject({
      then: 'renew',
    });
  });

  it('attention stops everything', () => {
    expect(
      plan(
        input({
          attention: { scope: 'account', cause: 'access-denied', reason: 'DH-902', wayOut: 'fix it', since: 0 },
        }),
      ),
    ).toEqual({
      action: 'attention',
      reason: 'DH-902',
      wayOut: 'fix it',
    });
  });

  it('refused credentials stop generation only: a live renewable token is still renewed', () => {
    const now = ist('2026-03-02T20:00:00');
    const live = { obtainedAt: now, expiresAt: now + DAY, source: 'web' as const, kind: 'source:web' };
    expect(plan(input({ now, token: live, attention: PIN_REJECTED }))).toMatchObject({ action: 'wait', then: 'renew' });
    expect(plan(input({ now, token: undefined, attention: PIN_REJECTED }))).toEqual({
      action: 'attention',
      reason: 'PIN rejected',
      wayOut: 'fix the PIN',
    });
    expect(plan(input({ now, token: live, mode: 'generate-only', attention: PIN_REJECTED })).action).toBe('attention');
    expect(plan(input({ now, token: live, renewRefusedKinds: ['source:web'], attention: PIN_REJECTED })).action).toBe(
      'attention',
    );
    // A retry pushed past expiry cannot fall back to a generation.
    const dying = {
      obtainedAt: now - DAY + 60_000,
      expiresAt: now + 60_000,
      source: 'web' as const,
      kind: 'source:web',
    };
    expect(plan(input({ now, token: dying, retryNotBefore: now + 120_000, attention: PIN_REJECTED }))).toMatchObject({
      then: 'renew',
    });
  });

  it('moves a swap planned in market hours to before the market opens', () => {
    // Expires Tuesday 18:00 IST; renewBefore 6 h puts the swap at 12:00, inside 09:00–15:45.
    const now = ist('2026-03-02T18:00:00');
    const p = plan(
      input({
        now,
        token: { obtainedAt: now, expiresAt: now + DAY, source: 'totp', kind: 'source:totp' },
        policy: {
          renewBefore: { kind: 'duration', ms: 6 * HOUR },
          jitter: { kind: 'duration', ms: 0 },
          avoid: [marketHours],
        },
      }),
    );
    expect(at(p)).toBe(ist('2026-03-03T08:55:00'));
  });

  it('waits for the market to close when the window already began and the token outlives it', () => {
    const now = ist('2026-03-03T10:00:00');
    const p = plan(
      input({
        now,
        token: {
          obtainedAt: ist('2026-03-02T22:00:00'),
          expiresAt: ist('2026-03-03T22:00:00'),
          source: 'totp',
          kind: 'source:totp',
        },
        policy: {
          renewBefore: { kind: 'duration', ms: 12 * HOUR },
          jitter: { kind: 'duration', ms: 0 },
          avoid: [marketHours],
        },
      }),
    );
    expect(at(p)).toBe(ist('2026-03-03T15:45:00'));
  });

  it('swaps inside the window when the token would expire in it', () => {
    const now = ist('2026-03-03T10:00:00');
    const expiresAt = ist('2026-03-03T14:00:00');
    const p = plan(
      input({
        now,
        token: { obtainedAt: expiresAt - DAY, expiresAt, source: 'totp', kind: 'source:totp' },
        policy: {
          renewBefore: { kind: 'duration', ms: 3 * HOUR },
          jitter: { kind: 'duration', ms: 0 },
          avoid: [marketHours],
        },
      }),
    );
    expect(at(p)).toBe(ist('2026-03-03T11:00:00'));
  });

  it('weekends are free when the window says mon-fri', () => {
    const now = ist('2026-03-07T06:00:00'); // Saturday
    const p = plan(
      input({
        now,
        token: { obtainedAt: now, expiresAt: now + DAY, source: 'totp', kind: 'source:totp' },
        policy: {
          renewBefore: { kind: 'duration', ms: 12 * HOUR },
          jitter: { kind: 'duration', ms: 0 },
          avoid: [marketHours],
        },
      }),
    );
    expect(at(p)).toBe(ist('2026-03-07T18:00:00'));
  });

  it('a retry pushed past expiry becomes a generation', () => {
    const now = ist('2026-03-02T20:00:00');
    const p = plan(
      input({
        now,
        token: { obtainedAt: now - DAY + 60_000, expiresAt: now + 60_000, source: 'web', kind: 'source:web' },
        retryNotBefore: now + 120_000,
      }),
    );
    expect(p).toMatchObject({ action: 'wait', then: 'generate', at: now + 120_000 });
  });

  it('stableFraction is stable and spread over [0, 1)', () => {
    expect(stableFraction('a:1')).toBe(stableFraction('a:1'));
    const values = Array.from({ length: 1000 }, (_, i) => stableFraction(`1000000001:${i}`));
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThan(1);
    expect(values.filter((v) => v < 0.5).length).toBeGreaterThan(400);
  });
});

const windowArb = fc.record({
  days: fc.uniqueArray(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 7 }),
  fromMinute: fc.integer({ min: 0, max: 1439 }),
  toMinute: fc.integer({ min: 0, max: 1439 }),
  timezone: fc.constantFrom(IST, 'UTC', 'America/New_York', 'Asia/Tokyo'),
});

const shareOrDuration = (maxRatio: number) =>
  fc.oneof(
    fc.double({ min: 0, max: maxRatio, noNaN: true }).map((ratio) => ({ kind: 'share' as const, ratio })),
    fc.integer({ min: 0, max: 30 * HOUR }).map((ms) => ({ kind: 'duration' as const, ms })),
  );

const scenario = fc.record({
  start: fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2028, 0, 1) }),
  lifetime: fc.integer({ min: 30_000, max: 3 * DAY }),
  elapsedShare: fc.double({ min: 0, max: 1.2, noNaN: true }),
  renewBefore: shareOrDuration(0.9),
  jitter: shareOrDuration(0.2),
  jitterFraction: fc.double({ min: 0, max: 0.999999, noNaN: true }),
  windows: fc.array(windowArb, { maxLength: 3 }),
  mode: fc.constantFrom('auto' as const, 'renew-only' as const, 'generate-only' as const),
  retryIn: fc.option(fc.integer({ min: 0, max: 10 * 60_000 }), { nil: undefined }),
  generateIn: fc.option(fc.integer({ min: 0, max: 2 * 60_000 }), { nil: undefined }),
  credentialsRefused: fc.boolean(),
});

describe('planner: properties', () => {
  it('never plans before now; never renews past expiry; never inside an avoid window unless expiry forces it', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const obtainedAt = s.start;
        const expiresAt = obtainedAt + s.lifetime;
        const now = obtainedAt + Math.floor(s.lifetime * s.elapsedShare);
        const p = plan({
          now,
          mode: s.mode,
          canGenerate: s.mode !== 'renew-only',
          token: { obtainedAt, expiresAt, source: 'totp', kind: 'source:totp' },
          renewRefusedKinds: [],
          attention: s.credentialsRefused ? PIN_REJECTED : null,
          policy: { renewBefore: s.renewBefore, jitter: s.jitter, avoid: s.windows },
          jitterFraction: s.jitterFraction,
          retryNotBefore: s.retryIn === undefined ? undefined : now + s.retryIn,
          generateNotBefore: s.generateIn === undefined ? undefined : now + s.generateIn,
        });
        if (p.action === 'attention') {
          // Only a dead token that cannot be generated, or a generate-only account whose credentials were refused.
          expect(s.mode === 'renew-only' || s.credentialsRefused).toBe(true);
          if (s.mode !== 'generate-only') expect(expiresAt).toBeLessThanOrEqual(now);
          return;
        }
        // Refused credentials are never sent again.
        if (s.credentialsRefused) expect(p.action === 'wait' ? p.then : p.action).toBe('renew');
        // Never before now; "act now" means exactly now.
        if (p.action === 'wait') expect(p.at).toBeGreaterThan(now);
        else expect(p.at).toBe(now);

        const method = p.action === 'wait' ? p.then : p.action;
        const constrained =
          (s.retryIn !== undefined && p.at === now + s.retryIn) ||
          (s.generateIn !== undefined && p.at === now + s.generateIn);
        // A renewal is always planned while the token still lives (unless only a retry rule delays it and nothing can generate).
        if (method === 'renew' && !(constrained && (s.mode === 'renew-only' || s.credentialsRefused)))
          expect(p.at).toBeLessThan(expiresAt);
        const urgentAt = expiresAt - URGENT_SHARE * s.lifetime;
        if (expiresAt > now && !constrained) expect(p.at).toBeLessThanOrEqual(Math.max(now, urgentAt));
        if (expiresAt > now) {
          // Retries and Dhan's generation interval respect the windows too.
          const inside = avoidIntervalAt(p.at, s.windows);
          if (inside) {
            // Only expiry may force a swap inside a window: the window outlasts the safe margin.
            expect(inside.end).toBeGreaterThan(urgentAt);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('without windows or failures, a live token is acted on within [expiry - renewBefore - jitter, expiry - renewBefore]', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 60_000, max: 3 * DAY }),
        fc.double({ min: 0.06, max: 0.9, noNaN: true }),
        fc.double({ min: 0, max: 0.2, noNaN: true }),
        fc.double({ min: 0, max: 0.999999, noNaN: true }),
        (lifetime, ratio, jitterRatio, fraction) => {
          const obtainedAt = Date.UTC(2026, 5, 1);
          const expiresAt = obtainedAt + lifetime;
          const p = plan({
            now: obtainedAt,
            mode: 'auto',
            canGenerate: true,
            token: { obtainedAt, expiresAt, source: 'web', kind: 'source:web' },
            renewRefusedKinds: [],
            attention: null,
            policy: { renewBefore: { kind: 'share', ratio }, jitter: { kind: 'share', ratio: jitterRatio }, avoid: [] },
            jitterFraction: fraction,
            retryNotBefore: undefined,
            generateNotBefore: undefined,
          });
          const when = at(p);
          const latest = Math.min(expiresAt - ratio * lifetime, expiresAt - URGENT_SHARE * lifetime);
          expect(when).toBeLessThanOrEqual(Math.max(obtainedAt, latest) + 1);
          expect(when).toBeGreaterThanOrEqual(Math.max(obtainedAt, latest - jitterRatio * lifetime) - 1);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('a dead or missing token is generated at once unless Dhan or a backoff says wait', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10 * DAY }),
        fc.option(fc.integer({ min: -60_000, max: 10 * 60_000 }), { nil: undefined }),
        fc.boolean(),
        (deadFor, genIn, hasToken) => {
          const now = Date.UTC(2026, 5, 1, 12);
          const p = plan({
            now,
            mode: 'auto',
            canGenerate: true,
            token: hasToken
              ? { obtainedAt: now - deadFor - DAY, expiresAt: now - deadFor, source: 'totp', kind: 'source:totp' }
              : undefined,
            renewRefusedKinds: [],
            attention: null,
            policy: {
              renewBefore: { kind: 'share', ratio: 0.33 },
              jitter: { kind: 'share', ratio: 0.05 },
              avoid: [marketHours],
            },
            jitterFraction: 0.3,
            retryNotBefore: undefined,
            generateNotBefore: genIn === undefined ? undefined : now + genIn,
          });
          const expected = Math.max(now, genIn === undefined ? now : now + genIn);
          expect(at(p)).toBe(expected);
          expect(p.action === 'wait' ? p.then : p.action).toBe('generate');
        },
      ),
      { numRuns: 1000 },
    );
  });
});
