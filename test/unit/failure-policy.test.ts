import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DhanEndpoint, DhanErrorKind } from '../../src/dhan/dhan-api.js';
import type { AttemptOutcome, GenerationAttempt } from '../../src/generation-attempt.js';
import { COUNTED_REFUSALS_TO_STOP, type GenerationTiming } from '../../src/keeper/generation-budget.js';
import {
  ACCESS_DENIED_CONFIRM_MS,
  STOPS,
  decideAfterFailure,
  similarityKey,
  statusClass,
  type FailureAction,
  type FailureFacts,
  type ProfileVerdict,
  type StatusClass,
} from '../../src/keeper/failure-policy.js';
import type { AccountMode } from '../../src/tokens.js';

const NOW = Date.UTC(2026, 2, 2, 4, 0, 0);
const ENDPOINTS: readonly DhanEndpoint[] = ['renew', 'generate', 'profile'];
const KINDS: readonly DhanErrorKind[] = [
  'token-invalid',
  'rate-limited',
  'credentials-rejected',
  'access-denied',
  'renew-refused',
  'bad-request',
  'transient',
  'unknown',
];
const STATUSES: readonly StatusClass[] = ['2xx', '4xx', '5xx'];
const VERDICTS: readonly ProfileVerdict[] = ['not-asked', 'live', 'dead', 'unknown'];
const MODES: readonly AccountMode[] = ['auto', 'renew-only', 'generate-only', 'consent'];
const TIMING: GenerationTiming = { intervalMs: 120_000, marginMs: 10_000, callTimeoutMs: 30_000 };

/** An attempt that ended `secondsAgo` before NOW with this outcome. */
function attempt(outcome: AttemptOutcome, secondsAgo = 0, answer = 'HTTP 200: Invalid Pin'): GenerationAttempt {
  const endedAt = NOW - secondsAgo * 1000;
  return { at: endedAt - 500, endedAt, totpStep: Math.floor(endedAt / 30_000), outcome, answer, retryAfterMs: null };
}

function facts(overrides: Partial<FailureFacts>): FailureFacts {
  return {
    endpoint: 'renew',
    kind: 'renew-refused',
    status: '5xx',
    dhanCode: undefined,
    oldTokenMayBeDead: false,
    retryAfterMs: undefined,
    verdict: 'not-asked',
    mode: 'auto',
    canGenerate: true,
    hasLiveToken: true,
    kindKnownNotRenewable: false,
    similar: { count: 1, firstAt: NOW },
    generation: { lastGenerateAt: null, attempts: [], timing: TIMING },
    now: NOW,
    ...overrides,
  };
}

type Row = readonly [
  endpoint: DhanEndpoint | '*',
  kinds: readonly DhanErrorKind[] | '*',
  status: StatusClass | '*',
  verdict: ProfileVerdict | '*',
  mode: AccountMode | '*',
  canGenerate: boolean | '*',
  expected: FailureAction,
];

const REFUSALS: readonly DhanErrorKind[] = [
  'token-invalid',
  'credentials-rejected',
  'renew-refused',
  'bad-request',
  'unknown',
];
const GENERATION_REFUSALS: readonly DhanErrorKind[] = [
  'credentials-rejected',
  'token-invalid',
  'bad-request',
  'renew-refused',
];

/**
 * The decision table for a first answer (no repetition yet, a live token, nothing learned), in
 * the order a reader checks it: the first row that matches wins. Written apart from the policy's
 * code so that the two must agree on every one of the 2,304 combinations.
 */
const TABLE: readonly Row[] = [
  // A profile check: only "the token is invalid" means anything.
  ['profile', ['token-invalid'], '*', '*', '*', '*', 'token-dead'],
  ['profile', '*', '*', '*', '*', '*', 'carry-on'],
  // Rate limits, anywhere: wait as long as Dhan says.
  ['*', ['rate-limited'], '*', '*', '*', '*', 'retry'],
  // DH-902/903: ask about the token, then retry (a stop needs 10 min of the same answer).
  ['*', ['access-denied'], '*', 'not-asked', '*', '*', 'check-token'],
  ['*', ['access-denied'], '*', 'dead', '*', '*', 'token-dead'],
  ['*', ['access-denied'], '*', '*', '*', '*', 'retry'],
  // Renewal: a transient failure is retried; any refusal, whatever its status or code, is checked.
  ['renew', ['transient'], '*', '*', '*', '*', 'retry'],
  ['renew', REFUSALS, '*', 'not-asked', '*', '*', 'check-token'],
  ['renew', REFUSALS, '*', 'dead', '*', '*', 'token-dead'],
  ['renew', REFUSALS, '*', 'unknown', '*', '*', 'retry'],
  ['renew', REFUSALS, '*', 'live', 'auto', true, 'learn-not-renewable-and-generate'],
  ['renew', REFUSALS, '*', 'live', 'generate-only', true, 'learn-not-renewable-and-generate'],
  // A consent account never generates: it learns the kind and asks a person to log in in time.
  ['renew', REFUSALS, '*', 'live', 'consent', '*', 'ask-login'],
  ['renew', REFUSALS, '*', 'live', '*', '*', 'ask-import'],
  // Generation: a 5xx or an unreadable answer is Dhan's problem; a refusal gets one more try.
  ['generate', '*', '5xx', '*', '*', '*', 'retry'],
  ['generate', GENERATION_REFUSALS, '*', '*', '*', '*', 'retry'],
  ['generate', '*', '*', '*', '*', '*', 'retry'],
];

function expected(
  endpoint: DhanEndpoint,
  kind: DhanErrorKind,
  status: StatusClass,
  verdict: ProfileVerdict,
  mode: AccountMode,
  canGenerate: boolean,
): FailureAction {
  const row = TABLE.find(
    ([e, k, s, v, m, g]) =>
      (e === '*' || e === endpoint) &&
      (k === '*' || k.includes(kind)) &&
      (s === '*' || s === status) &&
      (v === '*' || v === verdict) &&
      (m === '*' || m === mode) &&
      (g === '*' || g === canGenerate),
  );
  if (!row) throw new Error('the table has no row for this case');
  return row[6];
}

describe('failure policy: the decision table', () => {
  it('decides every endpoint × kind × status × verdict × mode × can-generate as the table says', () => {
    const wrong: string[] = [];
    let cases = 0;
    for (const endpoint of ENDPOINTS)
      for (const kind of KINDS)
        for (const status of STATUSES)
          for (const verdict of VERDICTS)
            for (const mode of MODES)
              for (const canGenerate of [true, false]) {
                cases++;
                const got = decideAfterFailure(facts({ endpoint, kind, status, verdict, mode, canGenerate }));
                const want = expected(endpoint, kind, status, verdict, mode, canGenerate);
                if (got.action !== want)
                  wrong.push(
                    `${endpoint} ${kind} ${status} ${verdict} ${mode} canGenerate=${canGenerate}: got ${got.action}, want ${want}`,
                  );
                expect(got.reason.length).toBeGreaterThan(10);
              }
    expect(cases).toBe(3 * 8 * 3 * 4 * 4 * 2);
    expect(wrong).toEqual([]);
  });

  it('the field-reported renewal refusal: HTTP 500 DH-905 on a live APP token → generate (auto), import (renew-only)', () => {
    const refusal = { endpoint: 'renew', kind: 'renew-refused', status: '5xx', dhanCode: 'DH-905' } as const;
    expect(decideAfterFailure(facts({ ...refusal })).action).toBe('check-token');
    expect(decideAfterFailure(facts({ ...refusal, verdict: 'live' })).action).toBe('learn-not-renewable-and-generate');
    expect(decideAfterFailure(facts({ ...refusal, verdict: 'dead' })).action).toBe('token-dead');
    expect(decideAfterFailure(facts({ ...refusal, verdict: 'unknown' })).action).toBe('retry');
    expect(
      decideAfterFailure(facts({ ...refusal, verdict: 'live', mode: 'renew-only', canGenerate: false })),
    ).toMatchObject({
      action: 'ask-import',
      wayOut: expect.stringMatching(/import/) as unknown,
    });
    // Once the kind is known, a refusal of it goes straight to generation without another check.
    expect(decideAfterFailure(facts({ ...refusal, kindKnownNotRenewable: true })).action).toBe(
      'learn-not-renewable-and-generate',
    );
  });

  it('a consent account: a refused renewal of a live token asks for a login in time, never a generation or a stop', () => {
    const refusal = {
      endpoint: 'renew',
      kind: 'renew-refused',
      status: '5xx',
      dhanCode: 'DH-905',
      mode: 'consent',
    } as const;
    expect(decideAfterFailure(facts({ ...refusal })).action).toBe('check-token');
    // Even with a PIN and TOTP configured and the kind already known: its tokens come from a login.
    expect(decideAfterFailure(facts({ ...refusal, kindKnownNotRenewable: true })).action).toBe('check-token');
    const live = decideAfterFailure(facts({ ...refusal, verdict: 'live' }));
    expect(live).toMatchObject({
      action: 'ask-login',
      wayOut: expect.stringMatching(/dhan-token-keeper login/) as unknown,
    });
    expect(STOPS).not.toContain(live.action);
    expect(decideAfterFailure(facts({ ...refusal, verdict: 'dead' })).action).toBe('token-dead');
  });

  it('a 200 without a token or a lost renewal answer: the old token may be dead, so it is checked first', () => {
    for (const kind of ['token-invalid', 'transient'] as const) {
      const lost = { endpoint: 'renew', kind, oldTokenMayBeDead: true } as const;
      expect(decideAfterFailure(facts({ ...lost })).action).toBe('check-token');
      expect(decideAfterFailure(facts({ ...lost, verdict: 'dead' })).action).toBe('token-dead');
      expect(decideAfterFailure(facts({ ...lost, verdict: 'unknown' })).action).toBe('retry');
    }
    // A lost answer whose old token still lives: the renewal did not happen; try it again.
    expect(decideAfterFailure(facts({ kind: 'transient', oldTokenMayBeDead: true, verdict: 'live' })).action).toBe(
      'retry',
    );
  });

  it('generation refused: one more try after the interval and margin, then generation stops (with its way out)', () => {
    const refused = { endpoint: 'generate', kind: 'credentials-rejected', status: '2xx' } as const;
    const once = { lastGenerateAt: NOW, attempts: [attempt('credentials-refused')], timing: TIMING };
    // The refused attempt may have re-armed Dhan's window: the second try waits it out, from its end.
    expect(decideAfterFailure(facts({ ...refused, generation: once }))).toMatchObject({
      action: 'retry',
      after: 130_000,
    });
    const twice = { ...once, attempts: [attempt('credentials-refused', 130), attempt('credentials-refused')] };
    expect(decideAfterFailure(facts({ ...refused, generation: twice }))).toMatchObject({
      action: 'stop-generation',
      cause: 'credentials-refused',
      reason: expect.stringMatching(/2 times since the last token \(last answer: HTTP 200: Invalid Pin\)/) as unknown,
      wayOut: expect.stringMatching(/PIN or TOTP secret/) as unknown,
    });
    expect(twice.attempts).toHaveLength(COUNTED_REFUSALS_TO_STOP);
    // The streak of similar answers plays no part: a record with one refusal never stops, however
    // many similar answers came in a row.
    expect(
      decideAfterFailure(facts({ ...refused, generation: once, similar: { count: 9, firstAt: NOW - 3_600_000 } }))
        .action,
    ).toBe('retry');
    // A 5xx without a refusal code is never counted against the credentials, however often it comes.
    const failures = { ...once, attempts: Array.from({ length: 9 }, (_, i) => attempt('server-failure', 9 - i)) };
    expect(
      decideAfterFailure(facts({ ...refused, kind: 'transient', status: '5xx', generation: failures })).action,
    ).toBe('retry');
  });

  it('DH-902/903 stop the account only after at least 10 minutes of the same answer', () => {
    const denied = {
      endpoint: 'renew',
      kind: 'access-denied',
      status: '4xx',
      dhanCode: 'DH-902',
      verdict: 'live',
    } as const;
    expect(
      decideAfterFailure(facts({ ...denied, similar: { count: 1, firstAt: NOW - ACCESS_DENIED_CONFIRM_MS } })).action,
    ).toBe('retry');
    expect(
      decideAfterFailure(facts({ ...denied, similar: { count: 6, firstAt: NOW - ACCESS_DENIED_CONFIRM_MS + 1 } }))
        .action,
    ).toBe('retry');
    expect(
      decideAfterFailure(facts({ ...denied, similar: { count: 2, firstAt: NOW - ACCESS_DENIED_CONFIRM_MS } })),
    ).toMatchObject({
      action: 'stop-account',
      wayOut: expect.stringMatching(/reset/) as unknown,
    });
    // Without a live token there is nothing to ask the profile about.
    expect(
      decideAfterFailure(facts({ ...denied, endpoint: 'generate', verdict: 'not-asked', hasLiveToken: false })).action,
    ).toBe('retry');
  });

  it('rate limits wait as long as Dhan asked, else back off', () => {
    expect(decideAfterFailure(facts({ kind: 'rate-limited', retryAfterMs: 120_000 }))).toMatchObject({
      action: 'retry',
      after: 120_000,
    });
    expect(decideAfterFailure(facts({ kind: 'rate-limited' }))).toMatchObject({ action: 'retry', after: 'backoff' });
  });

  it('similar answers: access refusals alike across endpoints, else the same endpoint and kind', () => {
    expect(similarityKey('renew', 'access-denied')).toBe(similarityKey('generate', 'access-denied'));
    expect(similarityKey('generate', 'credentials-rejected')).not.toBe(similarityKey('generate', 'bad-request'));
    expect(similarityKey('renew', 'transient')).not.toBe(similarityKey('renew', 'renew-refused'));
    expect([undefined, 200, 404, 500, 503].map(statusClass)).toEqual(['none', '2xx', '4xx', '5xx', '5xx']);
  });
});

describe('failure policy: properties', () => {
  const anyFacts = fc.record({
    endpoint: fc.constantFrom(...ENDPOINTS),
    kind: fc.constantFrom(...KINDS),
    status: fc.constantFrom<StatusClass>('2xx', '4xx', '5xx', 'none'),
    dhanCode: fc.option(
      fc.constantFrom('DH-901', 'DH-902', 'DH-903', 'DH-904', 'DH-905', 'DH-906', 'DH-908', 'DH-999'),
      { nil: undefined },
    ),
    oldTokenMayBeDead: fc.boolean(),
    retryAfterMs: fc.option(fc.integer({ min: 0, max: 600_000 }), { nil: undefined }),
    verdict: fc.constantFrom(...VERDICTS),
    mode: fc.constantFrom(...MODES),
    canGenerate: fc.boolean(),
    hasLiveToken: fc.boolean(),
    kindKnownNotRenewable: fc.boolean(),
    similar: fc.record({
      count: fc.integer({ min: 1, max: 50 }),
      firstAt: fc.integer({ min: NOW - 7 * 86_400_000, max: NOW }),
    }),
    generation: fc.record({
      lastGenerateAt: fc.constant(NOW),
      attempts: fc.array(
        fc
          .tuple(
            fc.constantFrom<AttemptOutcome>(
              'credentials-refused',
              'rate-limited',
              'other-refusal',
              'server-failure',
              'no-answer',
            ),
            fc.integer({ min: 0, max: 2 * 86_400 }),
          )
          .map(([outcome, secondsAgo]) => attempt(outcome, secondsAgo)),
        { maxLength: 1 },
      ),
      timing: fc.constant(TIMING),
    }),
    now: fc.constant(NOW),
  });

  it('an auto account with usable credentials never stops for a renewal answer (DH-902/903 only once confirmed over time)', () => {
    fc.assert(
      fc.property(anyFacts, (f) => {
        const facts: FailureFacts = { ...f, endpoint: 'renew', mode: 'auto', canGenerate: true };
        const decision = decideAfterFailure(facts);
        if (
          facts.kind === 'access-denied' &&
          (facts.similar.count < 2 || NOW - facts.similar.firstAt < ACCESS_DENIED_CONFIRM_MS)
        ) {
          return !STOPS.includes(decision.action);
        }
        return facts.kind === 'access-denied' || !STOPS.includes(decision.action);
      }),
      { numRuns: 5_000 },
    );
  });

  it('no single answer stops anything', () => {
    fc.assert(
      fc.property(anyFacts, (f) => {
        const decision = decideAfterFailure({ ...f, similar: { count: 1, firstAt: NOW } });
        // The one exception: a renewal refusal of a live token on an account that cannot generate asks for an import.
        if (decision.action === 'ask-import')
          return (
            f.endpoint === 'renew' &&
            f.verdict === 'live' &&
            f.mode !== 'consent' &&
            !(f.mode !== 'renew-only' && f.canGenerate)
          );
        return !STOPS.includes(decision.action);
      }),
      { numRuns: 5_000 },
    );
  });

  it('asks for the profile only before it has a verdict (the worker asks at most once per failure)', () => {
    fc.assert(
      fc.property(anyFacts, (f) => decideAfterFailure(f).action !== 'check-token' || f.verdict === 'not-asked'),
      { numRuns: 5_000 },
    );
  });

  it('every stop names its way out', () => {
    fc.assert(
      fc.property(anyFacts, (f) => {
        const decision = decideAfterFailure(f);
        return !('wayOut' in decision) || decision.wayOut.length > 10;
      }),
      { numRuns: 5_000 },
    );
  });
});
