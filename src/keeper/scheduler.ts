import { setMaxListeners } from 'node:events';
import type { Clock, Timer } from '../clock.js';
import { isAbortError } from '../clock.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { AsyncStore } from '../store/contract.js';
import type { AccountWorker } from './account-worker.js';
import { nextOfAny, type CronSchedule } from '../cron-times.js';
import type { SweepStarter } from './sweep.js';
import { ProbeWheel } from './probe-wheel.js';

export interface SchedulerDeps {
  readonly clock: Clock;
  readonly store: AsyncStore;
  readonly workers: readonly AccountWorker[];
  readonly log: Logger;
  /** 0 disables probes. */
  readonly probeIntervalMs: number;
  /** Extra profile checks of every account at these moments (`renewal.probeAt`). */
  readonly probeAt?: readonly CronSchedule[];
  readonly startSweep: SweepStarter;
  readonly random?: () => number;
  /**
   * A clock that never jumps, to tell a wall-clock jump from time passing; default
   * performance.now(). A fake wall clock moves without it, so every sweep re-plans every account.
   */
  readonly monotonic?: () => number;
}

/** A wall clock that moved this much more (or less) than the monotonic clock between sweeps jumped. */
const CLOCK_JUMP_MS = 5_000;
/** A plan that stays "act now" after this many acts in a row is re-checked a second later instead. */
const MAX_IMMEDIATE_ACTS = 5;
const RECHECK_MS = 1_000;
const PLAN_RETRY_MS = 5_000;
/**
 * Interval probes due within the same few seconds run together (see ProbeWheel), a slot of at
 * most 5% of the interval, so that gathering moves a probe by far less than its ±10% jitter.
 */
const PROBE_SLOT_MS = 5_000;
const PROBE_SLOT_SHARE = 0.05;

/**
 * A timer per account at its planned moment, a wheel of probe slots, and the sweep.
 * `stop()` aborts waits and in-flight Dhan calls and resolves only once everything has
 * finished, like certmagic's Stop, which waits for its loop to end: a stopped keeper
 * must not write to the store or call Dhan afterwards.
 */
export class Scheduler {
  private readonly controller = new AbortController();
  private readonly actionTimers = new Map<string, Timer>();
  private readonly probes: ProbeWheel<AccountWorker>;
  private probeAtTimer: Timer | undefined;
  private readonly running = new Set<Promise<void>>();
  private readonly immediateActs = new Map<string, number>();
  private stopSweep: (() => Promise<void>) | undefined;
  private stopped = false;
  private readonly random: () => number;
  /** When each armed action timer is due, for the sweep. */
  private readonly actionDue = new Map<string, number>();
  private readonly monotonic: () => number;
  private sweptAt: { wall: number; mono: number };
  /** Next-action moments planned but not yet written, committed together (see `batched`). */
  private readonly unwritten = new Map<AccountWorker, number | null>();
  private writing: Promise<void> | undefined;

  constructor(private readonly deps: SchedulerDeps) {
    this.random = deps.random ?? Math.random;
    this.monotonic = deps.monotonic ?? (() => performance.now());
    this.sweptAt = { wall: deps.clock.now(), mono: this.monotonic() };
    // Every call waiting for a Dhan slot listens for this signal, and a probe slot queues dozens
    // at once: a crowd by design, not the listener leak Node warns about past ten.
    setMaxListeners(0, this.controller.signal);
    const probeSlotMs = Math.max(1, Math.min(PROBE_SLOT_MS, Math.floor(deps.probeIntervalMs * PROBE_SLOT_SHARE)));
    this.probes = new ProbeWheel(deps.clock, probeSlotMs, (worker) => {
      if (this.stopped) return;
      if (!worker.busy) void this.track(worker, () => worker.probe(this.signal));
      this.armProbe(worker);
    });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  start(): void {
    this.batched(() => {
      for (const worker of this.deps.workers) {
        this.tick(worker);
        this.armProbe(worker, true);
      }
    });
    this.armProbeAt();
    this.stopSweep = this.deps.startSweep(() => this.sweep());
  }

  /**
   * The safety net: re-plans every account whose timer should have fired by now, or every
   * account when the wall clock moved differently from the monotonic one (a suspend, an NTP
   * step), which is what a timer cannot notice. On a quiet day with 10,000 accounts that is a
   * loop over a map instead of 10,000 plans read from SQLite every minute.
   */
  sweep(): void {
    const wall = this.deps.clock.now();
    const mono = this.monotonic();
    const jumped = Math.abs(wall - this.sweptAt.wall - (mono - this.sweptAt.mono)) > CLOCK_JUMP_MS;
    this.sweptAt = { wall, mono };
    this.batched(() => {
      for (const worker of this.deps.workers) {
        const due = this.actionDue.get(worker.clientId);
        if (jumped || due === undefined || due <= wall) this.tick(worker);
      }
    });
  }

  /**
   * Planning every account writes its next action moment (for status and metrics, never for
   * deciding): the moments planned in one go are committed together, one commit for all of
   * them rather than one fsync per account (10,000 at start).
   */
  private batched(fn: () => void): void {
    fn();
    this.writeNextActions();
  }

  private writeNextActions(): void {
    if (this.writing !== undefined || this.unwritten.size === 0) return;
    const batch = new Map(this.unwritten);
    this.unwritten.clear();
    this.writing = this.deps.store
      .transaction(async (tx) => {
        for (const [worker, nextActionAt] of batch) await worker.update({ nextActionAt }, tx);
      })
      .catch((err: unknown) => {
        // Timers are armed either way; a lost commit costs only the stored next-action moments.
        this.deps.log.error({ err: errorMessage(err) }, 'committing the planned next actions failed');
      })
      .finally(() => {
        this.writing = undefined;
        this.writeNextActions();
      });
  }

  /** Resolves when every planned moment is written (a stopped keeper writes nothing afterwards). */
  private async written(): Promise<void> {
    while (this.writing !== undefined) await this.writing;
  }

  /** Re-plans one account now (after a command changed its state). */
  poke(clientId: string): void {
    const worker = this.deps.workers.find((w) => w.clientId === clientId);
    if (worker) this.batched(() => this.tick(worker));
  }

  /** Runs work for a worker under the scheduler's lifecycle, then re-plans it. */
  track(worker: AccountWorker, work: () => Promise<unknown>): Promise<void> {
    const run = work()
      .then(() => undefined)
      .catch((err: unknown) => {
        if (!isAbortError(err))
          this.deps.log.error(
            { clientId: worker.clientId, err: errorMessage(err) },
            'account work failed unexpectedly',
          );
      })
      .finally(() => {
        this.running.delete(run);
        this.batched(() => this.tick(worker));
      });
    this.running.add(run);
    return run;
  }

  /** Work that settle() and stop() wait for, without re-planning after it. */
  private background(worker: AccountWorker, work: () => Promise<void>): void {
    const run = work()
      .catch((err: unknown) => {
        if (!isAbortError(err))
          this.deps.log.error(
            { clientId: worker.clientId, err: errorMessage(err) },
            'account work failed unexpectedly',
          );
      })
      .finally(() => this.running.delete(run));
    this.running.add(run);
  }

  /** Resolves once no account has work in flight and every sink has been written (for tests and one-shot commands). */
  async settle(): Promise<void> {
    do {
      while (this.running.size > 0) await Promise.all([...this.running]);
      await Promise.all(this.deps.workers.map((w) => w.published()));
      await this.written();
    } while (this.running.size > 0 || this.writing !== undefined);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.controller.abort();
    for (const timer of this.actionTimers.values()) timer.cancel();
    this.probes.clear();
    this.probeAtTimer?.cancel();
    this.actionTimers.clear();
    this.actionDue.clear();
    await this.stopSweep?.();
    await this.settle();
    await Promise.all(
      this.deps.workers.map(async (w) => {
        await w.idle();
        await w.published();
      }),
    );
    this.unwritten.clear();
    await this.written();
  }

  private tick(worker: AccountWorker): void {
    if (this.stopped || worker.busy) return;
    try {
      this.plan(worker);
    } catch (err) {
      // Runs from timers and the sweep: a throw here would take the whole daemon down for what is
      // usually a passing database problem (a lock held past busy_timeout). Look again shortly.
      this.deps.log.error({ clientId: worker.clientId, err: errorMessage(err) }, 'planning failed; retrying in 5 s');
      this.arm(worker, this.deps.clock.now() + PLAN_RETRY_MS);
    }
  }

  private plan(worker: AccountWorker): void {
    const { clock, log } = this.deps;
    this.actionTimers.get(worker.clientId)?.cancel();
    this.actionTimers.delete(worker.clientId);
    this.actionDue.delete(worker.clientId);

    const plan = worker.plan();
    const now = clock.now();
    const nextActionAt = plan.action === 'attention' ? null : plan.at;
    if (worker.state !== undefined && worker.state.nextActionAt !== nextActionAt)
      this.unwritten.set(worker, nextActionAt);
    else this.unwritten.delete(worker);

    if (plan.action === 'renew' || plan.action === 'generate') {
      const streak = (this.immediateActs.get(worker.clientId) ?? 0) + 1;
      this.immediateActs.set(worker.clientId, streak);
      if (streak > MAX_IMMEDIATE_ACTS) {
        // The plan keeps saying "now" but acting changes nothing: look again shortly rather than spin.
        this.immediateActs.set(worker.clientId, 0);
        log.warn({ clientId: worker.clientId, action: plan.action }, 'plan stays due after acting; re-checking in 1 s');
        this.arm(worker, now + RECHECK_MS);
        return;
      }
      void this.track(worker, () => worker.actIfDue(this.signal));
      return;
    }
    this.immediateActs.set(worker.clientId, 0);
    switch (plan.action) {
      case 'wait':
        this.arm(worker, plan.at);
        break;
      case 'attention':
        // Recorded under the worker's single flight (so twice-planned is recorded once) and not
        // re-planned afterwards: the plan would only say the same again.
        this.background(worker, () => worker.exclusive(() => worker.acknowledgeAttention(plan)));
        break;
    }
  }

  /*
   * Timers take no abort signal: stop() cancels them all from its maps. With a signal each timer
   * would add and remove a listener on one shared AbortSignal, and Node's EventTarget walks
   * its whole listener list on both: quadratic in the number of accounts, every sweep.
   */
  private arm(worker: AccountWorker, at: number): void {
    const delay = Math.max(0, at - this.deps.clock.now());
    const timer = this.deps.clock.setTimer(delay, () => {
      this.actionTimers.delete(worker.clientId);
      this.actionDue.delete(worker.clientId);
      this.batched(() => this.tick(worker));
    });
    this.actionTimers.set(worker.clientId, timer);
    this.actionDue.set(worker.clientId, this.deps.clock.now() + delay);
  }

  /**
   * At each probeAt moment every account's token is checked, so that a token Dhan killed at a
   * known time (a nightly logout) is replaced right after, not at the next interval probe.
   */
  private armProbeAt(): void {
    const schedules = this.deps.probeAt ?? [];
    if (schedules.length === 0 || this.stopped) return;
    const now = this.deps.clock.now();
    const next = nextOfAny(schedules, now);
    if (next === undefined) return;
    this.probeAtTimer = this.deps.clock.setTimer(
      next - now,
      () => {
        this.probeAtTimer = undefined;
        for (const worker of this.deps.workers) {
          if (!worker.busy) void this.track(worker, () => worker.probe(this.signal));
        }
        this.armProbeAt();
      },
      this.signal,
    );
  }

  private armProbe(worker: AccountWorker, first = false): void {
    const interval = this.deps.probeIntervalMs;
    if (interval <= 0 || this.stopped) return;
    // The first probe of each account lands anywhere in one interval and later ones ±10% around
    // it, so that N accounts cost Dhan a steady N per interval rather than bursts in step.
    const delay = first ? interval * this.random() : interval * (0.9 + 0.2 * this.random());
    this.probes.schedule(worker, this.deps.clock.now() + delay);
  }
}
