import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DhanErrorKind } from '../../src/dhan/dhan-api.js';
import type { AttemptOutcome, GenerationAttempt } from '../../src/generation-attempt.js';
import { parseGenerationAttempts } from '../../src/generation-attempt.js';
import { decideAfterFailure, type FailureFacts } from '../../src/keeper/failure-policy.js';
import {
  answeredWithoutToken,
  attemptOutcome,
  BACKSTOP_ANSWERS,
  BACKSTOP_WINDOW_MS,
  budgetVerdict,
  COUNTED_REFUSALS_TO_STOP,
  nextGenerationAt,
  SLOWEST_RETRY_MS,
  withFinishedAttempt,
  withPendingAttempt,
  type GenerationTiming,
} from '../../src/keeper/generation-budget.js';

const NOW = Date.UTC(2026, 2, 2, 4, 0, 0);
const TIMING: GenerationTiming = { intervalMs: 120_000, marginMs: 10_000, callTimeoutMs: 30_000 };
const BASE = TIMING.intervalMs + TIMING.marginMs;

function attempt(outcome: AttemptOutcome, endedAt: number, extra: Partial<GenerationAttempt> = {}): GenerationAttempt {
  return {
    at: endedAt - 400,
    endedAt: outcome === 'pending' ? null : endedAt,
    totpStep: Math.floor(endedAt / 30_000),
    outcome,
    answer: outcome === 'pending' ? null : `HTTP 200: ${outcome}`,
    retryAfterMs: null,
    ...extra,
  };
}

describe('credential budget: how an attempt ended, by the answer’s nature rather than its wording', () => {
  type Row = readonly [
    what: string,
    httpStatus: number | undefined,
    kind: DhanErrorKind,
    dhanCode: string | undefined,
    maybeProcessed: boolean,
    expected: ReturnType<typeof attemptOutcome>,
  ];
  const ROWS: readonly Row[] = [
    [
      '200 {"status":"error","message":"Invalid Pin"}',
      200,
      'credentials-rejected',
      undefined,
      false,
      'credentials-refused',
    ],
    ['200 {"message":"Invalid TOTP"} (bare)', 200, 'credentials-rejected', undefined, false, 'credentials-refused'],
    ['200 {"status":"success"} without a token', 200, 'unknown', undefined, false, 'credentials-refused'],
    ['401 {"message":…} (bare)', 401, 'credentials-rejected', undefined, false, 'credentials-refused'],
    ['403 {"error":…} (bare)', 403, 'credentials-rejected', undefined, false, 'credentials-refused'],
    ['404 from a wrong base URL', 404, 'unknown', undefined, false, 'credentials-refused'],
    ['400 DH-901 (the client id)', 400, 'credentials-rejected', 'DH-901', false, 'credentials-refused'],
    ['400 DH-905', 400, 'bad-request', 'DH-905', false, 'credentials-refused'],
    ['500 DH-905: a refusal code under a 5xx', 500, 'bad-request', 'DH-905', false, 'credentials-refused'],
    ['200 "Token can be generated once every 2 minutes."', 200, 'rate-limited', undefined, false, 'rate-limited'],
    ['400 "Token can be generated once every 2 minutes."', 400, 'rate-limited', undefined, false, 'rate-limited'],
    ['429 DH-904', 429, 'rate-limited', 'DH-904', false, 'rate-limited'],
    ['429 without a body', 429, 'unknown', undefined, false, 'rate-limited'],
    ['400 DH-902 (subscription)', 400, 'access-denied', 'DH-902', false, 'other-refusal'],
    ['302 to somewhere else', 302, 'unknown', undefined, false, 'other-refusal'],
    ['408 from a proxy', 408, 'unknown', undefined, false, 'server-failure'],
    ['503 without a code', 503, 'transient', undefined, false, 'server-failure'],
    ['500 DH-908', 500, 'transient', 'DH-908', false, 'server-failure'],
    ['200 with HTML (unreadable, maybe a token)', 200, 'transient', undefined, true, 'server-failure'],
    ['timeout', undefined, 'transient', undefined, true, 'no-answer'],
    ['connection reset during the call', undefined, 'transient', undefined, true, 'no-answer'],
    ['connection refused: never sent', undefined, 'transient', undefined, false, 'not-sent'],
    ['an unexpected failure around the call', undefined, 'unknown', undefined, false, 'no-answer'],
  ];
  it.each(ROWS)('%s → %s', (_what, httpStatus, kind, dhanCode, maybeProcessed, expected) => {
    expect(attemptOutcome({ httpStatus, kind, dhanCode, maybeProcessed })).toBe(expected);
  });

  it('the backstop counts every answer without a token, and nothing that was not answered', () => {
    expect(
      (['pending', 'credentials-refused', 'rate-limited', 'other-refusal', 'server-failure', 'no-answer'] as const).map(
        answeredWithoutToken,
      ),
    ).toEqual([false, true, true, true, false, false]);
  });
});

describe('credential budget: when it is spent', () => {
  type Row = readonly [what: string, attempts: readonly GenerationAttempt[], expected: string];
  const h = (hoursAgo: number): number => NOW - hoursAgo * 3_600_000;
  const ROWS: readonly Row[] = [
    ['nothing yet', [], 'open 0/0'],
    ['one refusal', [attempt('credentials-refused', h(1))], 'open 1/1'],
    [
      'two refusals, a rate-limit answer between them',
      [attempt('credentials-refused', h(1)), attempt('rate-limited', h(0.9)), attempt('credentials-refused', h(0.8))],
      'credentials-refused',
    ],
    [
      'two refusals days apart (no token between them)',
      [attempt('credentials-refused', h(72)), attempt('credentials-refused', h(1))],
      'credentials-refused',
    ],
    [
      'five rate-limit answers and a refusal',
      [...Array.from({ length: 5 }, (_, i) => attempt('rate-limited', h(5 - i))), attempt('credentials-refused', h(0))],
      'budget-spent',
    ],
    ['six rate-limit answers', Array.from({ length: 6 }, (_, i) => attempt('rate-limited', h(6 - i))), 'budget-spent'],
    [
      'six answers, the oldest more than 24 h ago',
      [attempt('rate-limited', h(25)), ...Array.from({ length: 5 }, (_, i) => attempt('rate-limited', h(5 - i)))],
      'open 0/5',
    ],
    [
      'a night of server failures and lost answers',
      Array.from({ length: 40 }, (_, i) => attempt(i % 2 === 0 ? 'server-failure' : 'no-answer', h(20 - i * 0.5))),
      'open 0/0',
    ],
    [
      'DH-902 answers count in the backstop only',
      Array.from({ length: 6 }, (_, i) => attempt('other-refusal', h(6 - i))),
      'budget-spent',
    ],
  ];
  it.each(ROWS)('%s → %s', (_what, attempts, expected) => {
    const verdict = budgetVerdict(attempts, NOW);
    expect(verdict.spent ? verdict.cause : `open ${verdict.counted}/${verdict.answered}`).toBe(expected);
  });

  it('the stop quotes the last answer (already redacted when it was recorded)', () => {
    const verdict = budgetVerdict(
      [
        attempt('credentials-refused', NOW - 200_000, { answer: 'HTTP 200: Invalid Pin' }),
        attempt('credentials-refused', NOW, { answer: 'HTTP 401: Invalid TOTP' }),
      ],
      NOW,
    );
    expect(verdict).toMatchObject({
      spent: true,
      reason: expect.stringContaining('last answer: HTTP 401: Invalid TOTP'),
    });
    const backstop = budgetVerdict(
      Array.from({ length: BACKSTOP_ANSWERS }, (_, i) =>
        attempt('rate-limited', NOW - i * 60_000, { answer: 'HTTP 200: Token can be generated once every 2 minutes.' }),
      ).reverse(),
      NOW,
    );
    expect(backstop).toMatchObject({
      spent: true,
      cause: 'budget-spent',
      reason: expect.stringMatching(
        /^Dhan answered 6 token generations in 24 h without a token \(last answer: HTTP 200: Token can be generated/,
      ) as unknown,
    });
  });
});

describe('credential budget: when the next attempt may go', () => {
  const END = NOW - 1_000;
  type Row = readonly [
    what: string,
    lastGenerateAt: number | null,
    attempts: readonly GenerationAttempt[],
    at: number | undefined,
  ];
  const ROWS: readonly Row[] = [
    ['never generated', null, [], undefined],
    ['a token generated (record cleared): from that attempt’s end', END, [], END + BASE],
    ['a refusal: the interval and margin from its end', END, [attempt('credentials-refused', END)], END + BASE],
    [
      "a rate-limit answer: Dhan's window and the margin, from that attempt",
      END,
      [attempt('rate-limited', END, { retryAfterMs: 120_000 })],
      END + BASE,
    ],
    [
      'a rate-limit answer asking for longer: its hint wins',
      END,
      [attempt('rate-limited', END, { retryAfterMs: 300_000 })],
      END + 300_000 + TIMING.marginMs,
    ],
    [
      'a rate-limit answer asking for less than the interval: the interval wins',
      END,
      [attempt('rate-limited', END, { retryAfterMs: 60_000 })],
      END + BASE,
    ],
    ['one server failure', END, [attempt('server-failure', END)], END + BASE],
    [
      'three failures in a row: the pace doubles',
      END,
      [attempt('no-answer', END - 1e6), attempt('server-failure', END - 5e5), attempt('server-failure', END)],
      END + 4 * BASE,
    ],
    [
      'eight failures in a row: one attempt per 30 min, never slower',
      END,
      Array.from({ length: 8 }, (_, i) => attempt('server-failure', END - (7 - i) * 1e6)),
      END + SLOWEST_RETRY_MS,
    ],
    [
      'a refusal ends the run of failures',
      END,
      [attempt('server-failure', END - 2e6), attempt('server-failure', END - 1e6), attempt('credentials-refused', END)],
      END + BASE,
    ],
    [
      'an attempt whose end was never recorded (a crash): its call may have run to its timeout',
      END,
      [attempt('pending', END)],
      END - 400 + TIMING.callTimeoutMs + BASE,
    ],
  ];
  it.each(ROWS)('%s', (_what, lastGenerateAt, attempts, at) => {
    expect(nextGenerationAt(lastGenerateAt, attempts, TIMING)).toBe(at);
  });

  it('a slow interval is never shortened by the 30-min cap', () => {
    const slow = { ...TIMING, intervalMs: 45 * 60_000 };
    const failures = Array.from({ length: 6 }, (_, i) => attempt('server-failure', END - (5 - i) * 1e6));
    expect(nextGenerationAt(END, failures, slow)).toBe(END + slow.intervalMs + slow.marginMs);
  });
});

describe('credential budget: the record', () => {
  it('a new attempt drops what is older than a day, except counted refusals', () => {
    const old = NOW - BACKSTOP_WINDOW_MS - 1;
    const record = [
      attempt('credentials-refused', old),
      attempt('rate-limited', old),
      attempt('server-failure', old),
      attempt('rate-limited', NOW - 60_000),
    ];
    const next = withPendingAttempt(record, NOW, 123);
    expect(next.map((a) => a.outcome)).toEqual(['credentials-refused', 'rate-limited', 'pending']);
    expect(next.at(-1)).toEqual({
      at: NOW,
      endedAt: null,
      totpStep: 123,
      outcome: 'pending',
      answer: null,
      retryAfterMs: null,
    });
  });

  it('ending an attempt fills it in; a request that never left leaves no trace', () => {
    const record = withPendingAttempt([attempt('credentials-refused', NOW - 200_000)], NOW, 7);
    const ended = withFinishedAttempt(record, NOW, {
      endedAt: NOW + 900,
      outcome: 'rate-limited',
      answer: 'HTTP 200: Token can be generated once every 2 minutes.',
      retryAfterMs: 120_000,
    });
    expect(ended.at(-1)).toEqual({
      at: NOW,
      endedAt: NOW + 900,
      totpStep: 7,
      outcome: 'rate-limited',
      answer: 'HTTP 200: Token can be generated once every 2 minutes.',
      retryAfterMs: 120_000,
    });
    const gone = withFinishedAttempt(record, NOW, {
      endedAt: NOW + 5,
      outcome: 'not-sent',
      answer: 'refused',
      retryAfterMs: undefined,
    });
    expect(gone).toEqual([record[0]]);
    // No pending attempt at that moment (e.g. a reset cleared the record meanwhile): nothing changes.
    expect(
      withFinishedAttempt([], NOW, { endedAt: NOW, outcome: 'no-answer', answer: 'x', retryAfterMs: undefined }),
    ).toEqual([]);
  });

  it('reads back what it wrote, and drops entries that are not attempts', () => {
    const record = [attempt('credentials-refused', NOW), attempt('pending', NOW + 1)];
    expect(parseGenerationAttempts(JSON.stringify(record))).toEqual(record);
    expect(parseGenerationAttempts('[{"at":1},null,{"at":1,"totpStep":2,"outcome":"lost"}]')).toEqual([]);
    expect(parseGenerationAttempts('not json')).toEqual([]);
    expect(parseGenerationAttempts(null)).toEqual([]);
  });
});

/**
 * The budget and the failure policy driven together, as the worker drives them: before each send
 * the durable record must allow it, the attempt is recorded, Dhan answers, and the policy decides.
 * Answers: C credentials refused (200 "Invalid Pin"), R rate-limited (200 "once every 2 minutes"),
 * N a network error after the request left, S a 5xx without a code.
 */
type Answer = 'C' | 'R' | 'N' | 'S';

const ANSWER_FACTS: Record<
  Answer,
  { outcome: Exclude<AttemptOutcome, 'pending'>; fact: Pick<FailureFacts, 'kind' | 'status' | 'retryAfterMs'> }
> = {
  C: { outcome: 'credentials-refused', fact: { kind: 'credentials-rejected', status: '2xx', retryAfterMs: undefined } },
  R: { outcome: 'rate-limited', fact: { kind: 'rate-limited', status: '2xx', retryAfterMs: 120_000 } },
  N: { outcome: 'no-answer', fact: { kind: 'transient', status: 'none', retryAfterMs: undefined } },
  S: { outcome: 'server-failure', fact: { kind: 'transient', status: '5xx', retryAfterMs: undefined } },
};

interface Run {
  readonly sent: { readonly answer: Answer; readonly at: number }[];
  readonly stopped: boolean;
}

/** Sends while the budget allows, each answer in turn; `extraWaitMs[i]` delays the i-th send further. */
function drive(answers: readonly Answer[], extraWaitMs: readonly number[] = []): Run {
  let now = NOW;
  let attempts: GenerationAttempt[] = [];
  let lastGenerateAt: number | null = null;
  const sent: { answer: Answer; at: number }[] = [];
  for (const [i, answer] of answers.entries()) {
    now = Math.max(now, nextGenerationAt(lastGenerateAt, attempts, TIMING) ?? now) + (extraWaitMs[i] ?? 0);
    if (budgetVerdict(attempts, now).spent) return { sent, stopped: true };
    const { outcome, fact } = ANSWER_FACTS[answer];
    attempts = withPendingAttempt(attempts, now, Math.floor(now / 30_000));
    sent.push({ answer, at: now });
    const end = now + 700;
    attempts = withFinishedAttempt(attempts, now, {
      endedAt: end,
      outcome,
      answer: answer,
      retryAfterMs: fact.retryAfterMs,
    });
    lastGenerateAt = end;
    now = end;
    const decision = decideAfterFailure({
      endpoint: 'generate',
      ...fact,
      dhanCode: undefined,
      oldTokenMayBeDead: false,
      verdict: 'not-asked',
      mode: 'auto',
      canGenerate: true,
      hasLiveToken: false,
      kindKnownNotRenewable: false,
      similar: { count: 1, firstAt: now },
      generation: { lastGenerateAt, attempts, timing: TIMING },
      now,
    });
    if (decision.action === 'stop-generation') return { sent, stopped: true };
    if (decision.action !== 'retry' || typeof decision.after !== 'number')
      throw new Error(`unexpected ${decision.action}`);
    now += decision.after;
  }
  return { sent, stopped: false };
}

/** What breaks the promises in a run, or undefined (plain checks: the exhaustive test makes millions). */
function boundsProblem(run: Run): string | undefined {
  if (run.sent.filter((s) => s.answer === 'C').length > COUNTED_REFUSALS_TO_STOP) return 'more than 2 counted refusals';
  const answered = run.sent.filter((s) => s.answer === 'C' || s.answer === 'R');
  for (const first of answered) {
    const inDay = answered.filter((s) => s.at >= first.at && s.at < first.at + BACKSTOP_WINDOW_MS);
    if (inDay.length > BACKSTOP_ANSWERS) return `${inDay.length} answers without a token in 24 h`;
  }
  // Every attempt waited out Dhan's window, plus the margin, from the previous attempt's end.
  for (let i = 1; i < run.sent.length; i++)
    if (run.sent[i]!.at - run.sent[i - 1]!.at - 700 < BASE) return `attempt ${i + 1} sent within the window`;
  return undefined;
}

function boundsHold(run: Run): void {
  expect(boundsProblem(run)).toBeUndefined();
}

describe('credential budget: every interleaving of refusals, rate limits, network errors and 5xx', () => {
  it('all 87,380 sequences of length 1 to 8: at most 2 counted refusals and at most 6 answers a day', () => {
    const symbols: readonly Answer[] = ['C', 'R', 'N', 'S'];
    let sequences = 0;
    const problems: string[] = [];
    const visit = (prefix: Answer[]): void => {
      if (prefix.length > 0) {
        sequences++;
        const run = drive(prefix);
        const problem = boundsProblem(run);
        if (problem) problems.push(`${prefix.join('')}: ${problem}`);
        // Never a stop for what is not an answer: server failures and lost answers only slow down.
        if (prefix.every((a) => a === 'N' || a === 'S') && run.stopped) problems.push(`${prefix.join('')}: stopped`);
        // A stop comes only once the record says so (two counted refusals or six answers).
        const counted = run.sent.filter((s) => s.answer === 'C').length;
        const answered = run.sent.filter((s) => s.answer !== 'N' && s.answer !== 'S').length;
        if (run.stopped && counted < COUNTED_REFUSALS_TO_STOP && answered < BACKSTOP_ANSWERS)
          problems.push(`${prefix.join('')}: stopped early`);
      }
      if (prefix.length === 8) return;
      for (const s of symbols) visit([...prefix, s]);
    };
    visit([]);
    expect(problems.slice(0, 10)).toEqual([]);
    expect(sequences).toBe(4 + 16 + 64 + 256 + 1024 + 4096 + 16384 + 65536);
  });

  it('a rate-limit answer neither counts nor resets: C R C stops at the second C, R×5 C stops at the C', () => {
    expect(drive(['C', 'R', 'C', 'C']).sent.map((s) => s.answer)).toEqual(['C', 'R', 'C']);
    expect(drive(['R', 'R', 'R', 'R', 'R', 'C', 'C']).sent.map((s) => s.answer)).toEqual([
      'R',
      'R',
      'R',
      'R',
      'R',
      'C',
    ]);
    // The alternation, for ever: "Invalid Pin", then the rate-limit answer, again and again.
    expect(drive(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 'C' : 'R'))).sent).toHaveLength(3);
  });

  it('a night-long outage never stops an account, and costs at most one attempt per 30 min once slowed down', () => {
    const run = drive(Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? 'N' : 'S')));
    expect(run.stopped).toBe(false);
    const gaps = run.sent.slice(1).map((s, i) => s.at - run.sent[i]!.at - 700);
    expect(gaps.slice(5).every((gap) => gap === SLOWEST_RETRY_MS)).toBe(true);
    expect(run.sent.filter((s) => s.at < NOW + 12 * 3_600_000).length).toBeLessThan(30);
  });

  it('with any extra waits between attempts (a day and more), the bounds hold', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom<Answer>('C', 'R', 'N', 'S'), { minLength: 1, maxLength: 16 }),
        fc.array(fc.integer({ min: 0, max: 30 * 3_600_000 }), { maxLength: 16 }),
        (answers, waits) => {
          boundsHold(drive(answers, waits));
        },
      ),
      { numRuns: 3_000 },
    );
  });
});
