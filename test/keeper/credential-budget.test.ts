import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { resetAccount } from '../../src/keeper/account-commands.js';
import { assembleKeeper } from '../../src/keeper/assemble.js';
import { createLogger } from '../../src/log.js';
import type { SimAccountOptions, SimFaultAction } from '../../src/sim/simulator-api.js';
import type { LeaderFence } from '../../src/store/postgres/leadership.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { dropSchemas, PG_URL, uniqueSchema, withAdmin } from '../helpers/postgres.js';
import { CLIENT, fakeClockSweep, HOUR, PIN, World } from '../helpers/world.js';

/*
 * Issue 27 §1 and §2 on the fake clock, against the simulator as the field reports Dhan (every
 * attempt re-arms its 2-minute window, judged before the PIN): an account with a wrong PIN meets
 * every interleaving of answers, and the durable credential budget bounds what it sends.
 * Answers: C the PIN refused (the simulator's own "Invalid Pin"), R the rate-limit answer under
 * HTTP 200, N a network error after the request left, S an HTTP 503.
 */

const WRONG_PIN = '654321';
const MARGIN_MS = 10_000;
const WINDOW_MS = 120_000;

type Answer = 'C' | 'R' | 'N' | 'S';
const FAULT: Record<Exclude<Answer, 'C'>, SimFaultAction> = {
  R: { type: 'rate-limit-body', status: 200 },
  N: { type: 'drop' },
  S: { type: 'status', status: 503, body: { message: 'Service Unavailable' } },
};

const schemas: string[] = [];
let world: World | undefined;
async function closeWorld(): Promise<void> {
  await world?.close();
  world = undefined;
}
afterEach(async () => {
  await closeWorld();
  await dropSchemas(schemas.splice(0));
});

interface Run {
  /** When each generation left, in order (history rows). */
  readonly sentAt: readonly number[];
  /** What Dhan answered each, as the sequence and the simulator say. */
  readonly answers: readonly Answer[];
  readonly credentialRefusals: number;
  /** Rate-limit answers the simulator gave by itself: the keeper came back inside Dhan's window. */
  readonly windowMisses: number;
  readonly attention: string | null;
}

/**
 * Two virtual hours of a wrong-PIN account whose generations Dhan answers as `sequence` says, then
 * as the simulator does; with `restartAt`, the keeper process is replaced at that moment.
 */
async function twoHours(
  sequence: readonly Answer[],
  options: { restartAt?: number; postgresSchema?: string } = {},
): Promise<Run> {
  world = await World.create({
    pin: WRONG_PIN,
    logLevel: 'silent',
    ...(options.postgresSchema === undefined ? {} : { postgresSchema: options.postgresSchema }),
  });
  const w = world;
  const start = w.clock.now();
  let sent = 0;
  // The fault for the next attempt only: faults answer in order, and C is the simulator itself.
  const arm = (): void => {
    const next = sequence[sent];
    if (next !== undefined && next !== 'C')
      w.sim.addFault({ endpoint: 'generate', clientId: CLIENT, times: 1, action: FAULT[next] });
  };
  const onStep = (): void => {
    const calls = w.sim.stats().calls.generate[CLIENT] ?? 0;
    if (calls > sent) {
      sent = calls;
      arm();
    }
  };
  arm();
  await w.keeper.start();
  await w.keeper.settle();
  onStep();
  if (options.restartAt === undefined) {
    await w.runFor(2 * HOUR, onStep);
  } else {
    await w.runFor(options.restartAt, onStep);
    await w.restart();
    onStep();
    await w.runFor(2 * HOUR - (w.clock.now() - start), onStep);
  }
  const stats = w.sim.stats();
  const history = await w.asyncStore.listEvents({ clientId: CLIENT, kinds: ['generate'], limit: 1000 });
  const sentAt = history.map((e) => e.at).sort((a, b) => a - b);
  const attention = (await w.asyncStore.getAccount(CLIENT))?.attention ?? null;
  return {
    sentAt,
    answers: sentAt.map((_, i) => sequence[i] ?? 'C'),
    credentialRefusals: stats.credentialRefusals[CLIENT] ?? 0,
    windowMisses: stats.rateLimitAnswers[CLIENT] ?? 0,
    attention: attention === null ? null : `${attention.scope}:${attention.cause}`,
  };
}

/** The promises every run keeps, whatever Dhan answered. */
function expectWithinBudget(run: Run, label: string): void {
  const answered = run.answers.filter((a) => a === 'C' || a === 'R').length;
  expect({ label, credentialRefusals: run.credentialRefusals }).toEqual({
    label,
    credentialRefusals: run.answers.filter((a) => a === 'C').length,
  });
  expect(run.credentialRefusals, label).toBeLessThanOrEqual(2);
  expect(answered, label).toBeLessThanOrEqual(6);
  // The keeper never came back inside Dhan's re-armed window: each attempt waited it out from the last.
  expect(run.windowMisses, label).toBe(0);
  for (let i = 1; i < run.sentAt.length; i++)
    expect(run.sentAt[i]! - run.sentAt[i - 1]!, label).toBeGreaterThanOrEqual(WINDOW_MS + MARGIN_MS);
  // A stop comes exactly when the budget is spent, and only then.
  const spent = run.credentialRefusals >= 2 || answered >= 6;
  expect(run.attention, label).toBe(
    spent ? (run.credentialRefusals >= 2 ? 'generation:credentials-refused' : 'generation:budget-spent') : null,
  );
}

describe('the credential budget against the field-like simulator (wrong PIN, two virtual hours)', () => {
  const NAMED: ReadonlyArray<readonly [string, readonly Answer[]]> = [
    ['the issue: "Invalid Pin" and the rate-limit answer alternating', ['C', 'R', 'C', 'R', 'C', 'R', 'C', 'R']],
    ['rate-limit answers only (the backstop)', ['R', 'R', 'R', 'R', 'R', 'R', 'R', 'R']],
    ['five rate-limit answers, then the PIN refused', ['R', 'R', 'R', 'R', 'R', 'C', 'C', 'C']],
    ['a night of 503s and lost answers never stops the account', ['S', 'N', 'S', 'N', 'S', 'N', 'S', 'N']],
    ['refusals disguised among server failures', ['S', 'C', 'N', 'S', 'R', 'N', 'C', 'C']],
  ];
  for (const [label, sequence] of NAMED) {
    it(`${label}: ${sequence.join(' ')}; a restart in the middle changes nothing`, async () => {
      const straight = await twoHours(sequence);
      expectWithinBudget(straight, label);
      await closeWorld();
      const restarted = await twoHours(sequence, { restartAt: HOUR });
      expectWithinBudget(restarted, `${label}, restarted`);
      expect(restarted).toEqual(straight);
    });
  }

  it('a night of server failures slows generation to one attempt per 30 min, never a stop', async () => {
    const run = await twoHours(['S', 'N', 'S', 'N', 'S', 'N', 'S', 'N']);
    expect(run.attention).toBeNull();
    const gaps = run.sentAt.slice(1).map((at, i) => at - run.sentAt[i]!);
    expect(gaps).toEqual([130_000, 260_000, 520_000, 1_040_000, 1_800_000, 1_800_000]);
  });

  it('random interleavings up to 8 answers, each with and without a restart at a random moment', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom<Answer>('C', 'R', 'N', 'S'), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 2 * HOUR - 1 }),
        async (sequence, restartAt) => {
          const label = sequence.join(' ');
          const straight = await twoHours(sequence);
          await closeWorld();
          const restarted = await twoHours(sequence, { restartAt });
          await closeWorld();
          expectWithinBudget(straight, label);
          expect(restarted, `${label}, restart at ${restartAt} ms`).toEqual(straight);
        },
      ),
      { numRuns: 30, seed: 2027, endOnFailure: true },
    );
  }, 300_000);

  // Every interleaving up to DTK_EXHAUSTIVE answers (8: 40,588 runs, 5: 1,052). A sequence is
  // extended only when its run sent an attempt past it (answered by the simulator itself): else
  // every longer one runs the same. Hours of two-hour runs: for a quiet machine, not `npm test`.
  const depth = Number(process.env['DTK_EXHAUSTIVE'] ?? 0);
  it.runIf(depth > 0)(
    `every interleaving up to ${depth} answers, each also with a restart after its first hour (DTK_EXHAUSTIVE)`,
    async () => {
      let runs = 0;
      const visit = async (prefix: Answer[]): Promise<void> => {
        for (const next of ['C', 'R', 'N', 'S'] as const) {
          const sequence = [...prefix, next];
          const label = sequence.join(' ');
          const straight = await twoHours(sequence);
          await closeWorld();
          const restarted = await twoHours(sequence, { restartAt: HOUR });
          await closeWorld();
          runs++;
          expectWithinBudget(straight, label);
          expect(restarted, `${label}, restarted`).toEqual(straight);
          if (sequence.length < depth && straight.sentAt.length > sequence.length) await visit(sequence);
        }
      };
      await visit([]);
      console.log(`credential budget: ${runs} interleavings up to ${depth}, each straight and with a restart`);
    },
    24 * HOUR,
  );
});

describe('the budget on PostgreSQL: a restart, and a takeover by another keeper, between two refusals', () => {
  it('the same run with a restart between the refusals stops after the second, as on SQLite', async () => {
    const schema = uniqueSchema('dtk_budget');
    schemas.push(schema);
    const run = await twoHours(['C', 'R', 'C', 'R', 'C'], { restartAt: 3 * 60_000, postgresSchema: schema });
    expectWithinBudget(run, 'postgres');
    expect(run.answers.slice(0, 3)).toEqual(['C', 'R', 'C']);
    expect(run.attention).toBe('generation:credentials-refused');
  });

  it('a new leader reads the refusal its predecessor recorded and sends the second try only once the window has passed', async () => {
    const schema = uniqueSchema('dtk_budget_ha');
    schemas.push(schema);
    const first: { fence: LeaderFence | undefined } = { fence: { epoch: 1 } };
    world = await World.create({
      pin: WRONG_PIN,
      logLevel: 'silent',
      postgresSchema: schema,
      leadership: { fence: () => first.fence },
    });
    const w = world;
    await setEpoch(schema, 1);
    await w.keeper.start();
    await w.keeper.settle();
    expect(w.sim.stats().credentialRefusals[CLIENT]).toBe(1);
    const refusedAt = w.clock.now();

    // Another keeper takes over 20 s later: the first may no longer act, and stands down.
    await w.clock.advance(20_000);
    await setEpoch(schema, 2);
    first.fence = undefined;
    await w.keeper.stop();
    await w.asyncStore.close();
    w.asyncStore = await PostgresStore.open({ connection: { connectionString: PG_URL }, schema });
    w.keeper = assembleKeeper(w.config, w.asyncStore, {
      clock: w.clock,
      log: createLogger({ level: 'silent' }),
      startSweep: fakeClockSweep(w.clock, 60_000),
      random: () => 0.5,
      leadership: { fence: () => ({ epoch: 2 }) },
    });
    await w.keeper.start();
    await w.keeper.settle();
    await w.runFor(HOUR);

    const history = await w.asyncStore.listEvents({ clientId: CLIENT, kinds: ['generate'], limit: 10 });
    expect(history.map((e) => e.at).sort((a, b) => a - b)).toEqual([refusedAt, refusedAt + WINDOW_MS + MARGIN_MS]);
    expect(w.sim.stats()).toMatchObject({ credentialRefusals: { [CLIENT]: 2 }, rateLimitAnswers: { [CLIENT]: 0 } });
    expect((await w.asyncStore.getAccount(CLIENT))?.attention).toMatchObject({
      scope: 'generation',
      cause: 'credentials-refused',
    });
  });
});

describe("Dhan's window, counted from the attempt's end", () => {
  it('an answer that took 20 s (a slow auth tier) moves the second try 20 s later, so Dhan never refuses it as too soon', async () => {
    world = await World.create({ pin: WRONG_PIN, logLevel: 'silent' });
    const w = world;
    // Held for 400 ms of real time, during which 20 virtual seconds pass: Dhan processes the call late.
    w.sim.addFault({ endpoint: 'generate', clientId: CLIENT, action: { type: 'delay', ms: 400 } });
    const sentAt = w.clock.now();
    const starting = w.keeper.start().then(() => w.keeper.settle());
    while ((w.sim.stats().calls.generate[CLIENT] ?? 0) === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await w.clock.advance(20_000);
    await starting;
    expect(w.store.getAccount(CLIENT)!.generationAttempts).toMatchObject([
      { at: sentAt, endedAt: sentAt + 20_000, outcome: 'credentials-refused' },
    ]);
    await w.runFor(10 * 60_000);
    const history = await w.asyncStore.listEvents({ clientId: CLIENT, kinds: ['generate'], limit: 10 });
    // Counted from the start, the second try would have come 110 s after Dhan processed the first.
    expect(history.map((e) => e.at).sort((a, b) => a - b)).toEqual([sentAt, sentAt + 20_000 + WINDOW_MS + MARGIN_MS]);
    expect(w.sim.stats()).toMatchObject({ credentialRefusals: { [CLIENT]: 2 }, rateLimitAnswers: { [CLIENT]: 0 } });
  });
});

describe('the runs of the issue, each ending with at most two wrong-credential attempts and the account stopped', () => {
  const SHAPES: ReadonlyArray<readonly [string, Partial<SimAccountOptions>, string]> = [
    ['wrong PIN, window re-armed by every attempt', {}, 'HTTP 200: Invalid Pin'],
    ['200 {"message"}', { generateRefusal: 'message-200' }, 'HTTP 200: Invalid Pin'],
    ['401 {"message"}', { generateRefusal: 'message-401' }, 'HTTP 401: Invalid Pin'],
    ['403 {"error"}', { generateRefusal: 'error-403' }, 'HTTP 403: Invalid Pin'],
  ];
  for (const [label, simAccount, answer] of SHAPES) {
    it(`${label}: stopped at the second refusal, Dhan's answer quoted, then nothing more for a day`, async () => {
      world = await World.create({ pin: WRONG_PIN, logLevel: 'silent', simAccount });
      const w = world;
      await w.keeper.start();
      await w.runFor(10 * 60_000);
      expect(w.sim.stats()).toMatchObject({
        calls: { generate: { [CLIENT]: 2 } },
        credentialRefusals: { [CLIENT]: 2 },
        rateLimitAnswers: { [CLIENT]: 0 },
      });
      const account = w.store.getAccount(CLIENT)!;
      expect(account.attention).toMatchObject({
        scope: 'generation',
        cause: 'credentials-refused',
        reason: `Dhan refused token generation 2 times since the last token (last answer: ${answer})`,
      });
      expect(w.keeper.statuses()[0]).toMatchObject({ state: 'attention', attentionScope: 'generation' });
      await w.runFor(24 * HOUR);
      expect(w.sim.stats().calls.generate[CLIENT]).toBe(2);
    });
  }

  it('a keeper whose interval is set below Dhan’s window still sends the PIN at most twice', async () => {
    // The simulator's window is Dhan's 2 minutes; the keeper was told 30 s (the config warns).
    world = await World.create({ pin: WRONG_PIN, logLevel: 'silent', minGenerateInterval: '30s' });
    const w = world;
    await w.keeper.start();
    await w.runFor(HOUR);
    const stats = w.sim.stats();
    expect(stats.credentialRefusals[CLIENT]).toBe(2);
    // The second try came inside the re-armed window: Dhan's own rate-limit answer, which neither
    // counts nor resets, and its hint is waited out from that attempt.
    expect(stats.rateLimitAnswers[CLIENT]).toBe(1);
    expect(stats.calls.generate[CLIENT]).toBe(3);
    expect(w.store.getAccount(CLIENT)!.attention).toMatchObject({ cause: 'credentials-refused' });
  });

  it('reset clears the budget (and the PIN, still wrong, is refused twice more); new credentials lift the stop', async () => {
    world = await World.create({ pin: WRONG_PIN, logLevel: 'silent' });
    const w = world;
    await w.keeper.start();
    await w.runFor(10 * 60_000);
    expect(w.store.getAccount(CLIENT)!.generationAttempts.map((a) => a.outcome)).toEqual([
      'credentials-refused',
      'credentials-refused',
    ]);
    expect((await resetAccount(w.keeper.worker(CLIENT)!)).ok).toBe(true);
    expect(w.store.getAccount(CLIENT)).toMatchObject({ attention: null, generationAttempts: [] });
    w.keeper.scheduler.poke(CLIENT);
    await w.runFor(10 * 60_000);
    expect(w.sim.stats().credentialRefusals[CLIENT]).toBe(4);
    expect(w.store.getAccount(CLIENT)!.attention).toMatchObject({ cause: 'credentials-refused' });

    w.writeConfig(PIN);
    await w.restart();
    // New credentials lift the stop and start a new budget; Dhan's window still holds.
    expect(w.store.getAccount(CLIENT)).toMatchObject({ attention: null, generationAttempts: [] });
    await w.runFor(5 * 60_000);
    expect(w.sim.isLive(w.current()!.accessToken)).toBe(true);
    expect(w.store.getAccount(CLIENT)!.generationAttempts).toEqual([]);
  });
});

/** A leadership row at `epoch`, as a keeper taking over would write it. */
async function setEpoch(schema: string, epoch: number): Promise<void> {
  await withAdmin((client) =>
    client.query(
      `INSERT INTO "${schema}".leadership (id, epoch, host, pid, since, heartbeat_at, backend_pid) VALUES (1, $1, 'test', 1, 0, 0, 0)
       ON CONFLICT (id) DO UPDATE SET epoch = excluded.epoch`,
      [epoch],
    ),
  );
}
