import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { startSimulator } from '../../src/sim/index.js';
import type { Simulator } from '../../src/sim/simulator-api.js';
import { sleep } from '../helpers/cli.js';
import { tokenHash, type DhanCall } from '../helpers/dhan-recording-proxy.js';
import {
  callsFromNonLeaders,
  deadIntervals,
  otherLeaderAt,
  overlappingRefreshes,
  percentile,
  pidAt,
  takeovers as epochChanges,
  type Interval,
} from '../helpers/ha-figures.js';
import { HaWorld } from '../helpers/ha-world.js';
import { dropSchemas, PG_URL, uniqueSchema } from '../helpers/postgres.js';
import { StandbyConsumer } from '../helpers/standby-consumer.js';

/*
 * Issue 11's proof: three `dhan-token-keeper run` processes on one PostgreSQL schema against a
 * simulated Dhan with 30-second tokens (each of four accounts renews every ~15 s), while the test
 * (a) SIGKILLs the leader at a random moment while the simulator holds its renewal's answer,
 *     again and again, restarting each killed keeper;
 * (b) cuts the leader off PostgreSQL (pg_terminate_backend on its sessions; SIGSTOP for longer
 *     than ha.takeoverAfter, then SIGCONT), once with a renewal in flight across the takeover;
 * (c) restarts PostgreSQL itself (as root, where pg_ctlcluster exists).
 * Each keeper reaches the simulator through a recording proxy of its own, so Dhan's side knows
 * who called; a consumer per account long-polls a standby's token API and asks the simulator
 * every 100 ms whether the token it holds is live.
 *
 * It restarts PostgreSQL, so `npm test` runs it alone, after everything else (`npm run test:ha`).
 * DTK_HA_CHAOS_SECONDS sets how long (a) runs (default 100: the whole test stays under about 4
 * minutes on a CI box); raise it for a longer soak.
 */

const CHAOS_MS = Number(process.env['DTK_HA_CHAOS_SECONDS'] ?? '100') * 1000;
const TOKEN_LIFETIME_MS = 30_000;
const TAKEOVER_AFTER = '5s';
const TAKEOVER_AFTER_MS = 5_000;
/** How long the simulator holds a renewal's answer in (a). */
const HOLD_MS = 3_000;
const PIN = '493817';
const TOTP_SECRET = 'KRSXG5CTMVRXEZLUKN2XAZLDNFQWY4ZA';
const ACCOUNTS = ['1000001101', '1000001102', '1000001103', '1000001104'].map((clientId) => ({
  clientId,
  pin: PIN,
  totpSecret: TOTP_SECRET,
}));
const API_KEY = 'c0ffee'.repeat(8);

async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const PG_UP = await postgresReachable();
if (!PG_UP) console.log(`ha-chaos: skipped: PostgreSQL is not reachable at ${PG_URL.replace(/:[^:@/]*@/, ':***@')}`);

const PG_CTLCLUSTER = '/usr/bin/pg_ctlcluster';
const CAN_RESTART_PG = process.getuid?.() === 0 && existsSync(PG_CTLCLUSTER) && existsSync('/etc/postgresql');

const rand = (min: number, max: number): number => min + Math.random() * (max - min);

/** Resolves with the next call of `endpoint` reaching any keeper's proxy, or undefined after `timeoutMs`. */
function nextCall(world: HaWorld, endpoint: DhanCall['endpoint'], timeoutMs: number): Promise<DhanCall | undefined> {
  return new Promise((resolve) => {
    const done = (call: DhanCall | undefined): void => {
      clearTimeout(timer);
      for (const slot of world.slots) slot.proxy.onCallStart = undefined;
      resolve(call);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    for (const slot of world.slots) {
      slot.proxy.onCallStart = (call) => {
        if (call.endpoint === endpoint) done(call);
      };
    }
  });
}

/** Waits (at most `timeoutMs`) for a moment with no Dhan call in flight and none answered in the last 500 ms (its commit may be pending). */
async function quietMoment(world: HaWorld, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const calls = world.slots.flatMap((s) => s.proxy.calls);
    const busy = calls.some((c) => c.end === undefined || Date.now() - c.end < 500);
    if (!busy) return true;
    await sleep(20);
  }
  return false;
}

describe.skipIf(!PG_UP)('three keepers on one PostgreSQL: one acts, none races, no dead token (issue 11)', () => {
  it(
    'survives SIGKILL mid-renewal, a leader cut off PostgreSQL or paused, and a PostgreSQL restart',
    async ({ onTestFinished }) => {
      const schema = uniqueSchema('dtk_ha_chaos');
      onTestFinished(() => dropSchemas([schema]));
      const sim: Simulator = await startSimulator({
        accounts: ACCOUNTS,
        clock: systemClock,
        tokenLifetimeMs: TOKEN_LIFETIME_MS,
        generateIntervalMs: 10_000,
      });
      onTestFinished(() => sim.close());
      const world = await HaWorld.create({
        keepers: 3,
        schema,
        simUrl: sim.baseUrl,
        accounts: ACCOUNTS,
        apiKey: API_KEY,
        takeoverAfter: TAKEOVER_AFTER,
        renewalYaml: '  renewBefore: 50%\n  jitter: 5%\n  probeInterval: 10s',
      });
      onTestFinished(() => world.close());
      world.startLeaderPoller();

      // The first keeper creates the schema; the others join it.
      await world.start(world.slots[0]!);
      await Promise.all(world.slots.slice(1).map((s) => world.start(s)));
      const first = await world.waitForLeader({ timeoutMs: 30_000 });

      const paused = new Set<number>();
      const consumers = ACCOUNTS.map(
        ({ clientId }) =>
          new StandbyConsumer({
            clientId,
            apiKey: API_KEY,
            isLive: (token) => sim.isLive(token),
            // In-process and cheap: a fine grain, so that a stretch is measured, not rounded up to a sample.
            sampleEveryMs: 10,
            targets: () => {
              const leaderPid = world.leaderSamples.at(-1)?.pid;
              return world
                .running()
                .filter((s) => !paused.has(s.index))
                .map((s) => ({ url: s.url, standby: s.proc!.pid !== leaderPid }));
            },
          }),
      );
      for (const c of consumers) c.start();
      // Every account live at the consumer before the chaos starts.
      const liveDeadline = Date.now() + 60_000;
      while (!consumers.every((c) => c.samples.at(-1)?.live === true)) {
        if (Date.now() > liveDeadline)
          throw new Error(
            `not every account got a live token within 60 s (leader slot ${first.slot.index})\n${world.children.transcript().slice(-6000)}`,
          );
        await sleep(100);
      }

      const takeovers = { kill: [] as number[], cut: [] as number[], pause: [] as number[] };
      const phases: Array<{ name: string; start: number; end: number }> = [];
      const phase = async (name: string, run: () => Promise<void>): Promise<void> => {
        const start = Date.now();
        await run();
        phases.push({ name, start, end: Date.now() });
      };
      let kills = 0;
      const killLog: Array<{ at: number; slot: number; clientId: string | undefined; callStart: number }> = [];
      const fence: { fenced?: { call: DhanCall; takeoverAt: number; resumedAt: number; stored: boolean } } = {};
      /** Dead stretches that follow from a renewal answered to a keeper already fenced off: Dhan's doing, reported apart. */
      const excused: Array<Interval & { clientId: string | undefined }> = [];
      const pgRestart: { result?: { ms: number; settleMs: number } } = {};

      // A phase that throws still leaves its figures printed below, then fails the test.
      let phaseError: Error | undefined;
      try {
        // (a) SIGKILL the leader at a random moment while the simulator holds its renewal.
        await phase('a: SIGKILL mid-renewal', async () => {
          const end = Date.now() + CHAOS_MS;
          while (Date.now() < end) {
            await sleep(rand(100, 1_000));
            const before = await world.waitForLeader({ timeoutMs: 30_000 });
            // The fault first: a renewal caught by nextCall is then one the simulator holds.
            sim.addFault({ endpoint: 'renew', action: { type: 'delay', ms: HOLD_MS, onDisconnect: 'discard' } });
            const call = await nextCall(world, 'renew', 25_000);
            if (call === undefined) {
              sim.clearFaults();
              continue;
            }
            await sleep(rand(50, HOLD_MS - 800));
            const victim = world.slots[call.keeper]!;
            // Only the held renewal may be in the victim's hands: a kill between Dhan's answer to
            // another refresh and its commit loses that token, which no keeper can prevent (docs/high-availability.md,
            // "The limits"). Wait for such a one to be committed, within the hold.
            const holdEnds = call.start + HOLD_MS - 300;
            const busyElsewhere = (): boolean =>
              victim.proxy.calls.some(
                (c) =>
                  c !== call &&
                  (c.endpoint === 'renew' || c.endpoint === 'generate') &&
                  (c.end === undefined || Date.now() - c.end < 500),
              );
            while (busyElsewhere() && Date.now() < holdEnds) await sleep(20);
            if (call.end !== undefined || busyElsewhere() || Date.now() >= holdEnds || victim.proc?.running !== true)
              continue;
            const killedAt = world.kill(victim);
            kills += 1;
            killLog.push({ at: killedAt, slot: victim.index, clientId: call.clientId, callStart: call.start });
            await victim.proc.exited;
            const next = await world.waitForLeader({ notEpoch: before.epoch, timeoutMs: 4 * TAKEOVER_AFTER_MS });
            takeovers.kill.push(next.at - killedAt);
            await world.start(victim);
          }
        });

        // (b) Cut the leader off PostgreSQL while it is idle: twice by ending its sessions, once paused.
        await phase('b: cut off PostgreSQL', async () => {
          for (let round = 0; round < 2; round++) {
            const before = await world.waitForLeader({ timeoutMs: 30_000 });
            await quietMoment(world, 10_000);
            const cutAt = Date.now();
            const ended = await world.terminatePgSessions(before.slot);
            expect(ended).toBeGreaterThan(0);
            const next = await world.waitForLeader({ notEpoch: before.epoch, timeoutMs: 4 * TAKEOVER_AFTER_MS });
            takeovers.cut.push(next.at - cutAt);
            await sleep(rand(1_000, 4_000));
          }

          const before = await world.waitForLeader({ timeoutMs: 30_000 });
          await quietMoment(world, 10_000);
          const stopped = before.slot;
          paused.add(stopped.index);
          for (const c of consumers) c.abandon(stopped.url);
          const stopAt = Date.now();
          stopped.proc!.kill('SIGSTOP');
          try {
            const next = await world.waitForLeader({ notEpoch: before.epoch, timeoutMs: 4 * TAKEOVER_AFTER_MS });
            takeovers.pause.push(next.at - stopAt);
            await sleep(Math.max(0, stopAt + TAKEOVER_AFTER_MS + 3_000 - Date.now()));
          } finally {
            stopped.proc!.kill('SIGCONT');
          }
          const pid = stopped.proc!.pid;
          await stopped.proc!.waitFor(
            () => world.leadershipLog().some((l) => l.pid === pid && !l.leads && l.at >= stopAt),
            15_000,
            'the resumed keeper to say it stands by',
          );
          paused.delete(stopped.index);

          // Once with a renewal in flight across the takeover: the leader is paused while the
          // simulator holds its renewal, Dhan answers (the old token dies), a standby takes over,
          // and the answer reaches the old leader only when it resumes: it must never be committed.
          const leader = await world.waitForLeader({ timeoutMs: 30_000 });
          sim.addFault({ endpoint: 'renew', action: { type: 'delay', ms: 1_500 } });
          const call = await nextCall(world, 'renew', 25_000);
          if (call !== undefined) {
            const slot = world.slots[call.keeper]!;
            paused.add(slot.index);
            for (const c of consumers) c.abandon(slot.url);
            const stopAt = Date.now();
            slot.proc!.kill('SIGSTOP');
            try {
              const next = await world.waitForLeader({ notEpoch: leader.epoch, timeoutMs: 4 * TAKEOVER_AFTER_MS });
              takeovers.pause.push(next.at - stopAt);
              await sleep(Math.max(0, stopAt + TAKEOVER_AFTER_MS + 3_000 - Date.now()));
              // Dhan killed this account's token answering a paused keeper: the new leader learns it
              // at its takeover check or next probe and generates. Dead time here is Dhan's doing.
              excused.push({ clientId: call.clientId, start: call.start, end: Date.now() + 20_000 });
              slot.proc!.kill('SIGCONT');
              paused.delete(slot.index);
              await sleep(3_000);
              const stored = await world.query<{ access_token: string }>('SELECT access_token FROM tokens');
              fence.fenced = {
                call,
                takeoverAt: next.at,
                resumedAt: Date.now() - 3_000,
                stored:
                  call.tokenHash !== undefined && stored.some((r) => tokenHash(r.access_token) === call.tokenHash),
              };
            } finally {
              slot.proc!.kill('SIGCONT');
              paused.delete(slot.index);
            }
            await sleep(17_000);
          } else sim.clearFaults();
        });

        // (c) Restart PostgreSQL under load.
        if (CAN_RESTART_PG) {
          await phase('c: PostgreSQL restart', async () => {
            const before = await world.waitForLeader({ timeoutMs: 30_000 });
            await quietMoment(world, 15_000);
            const version = execFileSync('ls', ['/etc/postgresql'], { encoding: 'utf8' }).trim().split('\n')[0]!;
            const restartAt = Date.now();
            execFileSync(PG_CTLCLUSTER, ['--skip-systemctl-redirect', version, 'main', 'restart'], {
              stdio: 'ignore',
              timeout: 60_000,
            });
            const restartedAt = Date.now();
            await world.waitForLeader({ notEpoch: before.epoch, timeoutMs: 30_000 });
            // Settled: one keeper says it leads, and it is the one the row names, for 2 s running.
            let steadySince: number | undefined;
            const deadline = Date.now() + 30_000;
            for (;;) {
              const leaders = world.selfDeclaredLeaders();
              const steady = leaders.length === 1 && leaders[0] === world.currentLeader()?.slot;
              if (!steady) steadySince = undefined;
              else if ((steadySince ??= Date.now()) <= Date.now() - 2_000) break;
              if (Date.now() > deadline)
                throw new Error(
                  `leadership did not settle after the PostgreSQL restart: ${leaders.length} keepers say they lead`,
                );
              await sleep(50);
            }
            pgRestart.result = { ms: restartedAt - restartAt, settleMs: steadySince - restartedAt };
            await sleep(15_000);
          });
        } else {
          console.log('ha-chaos: (c) PostgreSQL restart skipped: needs root and pg_ctlcluster');
        }
      } catch (err) {
        phaseError = err instanceof Error ? err : new Error(String(err));
      }

      // The end: every account live at Dhan in the store and in every running keeper's sink.
      await sleep(1_000);
      for (const c of consumers) await c.stop();
      // A renewal may sit between Dhan's answer and the commit at the moment of a look: look again.
      let storedLive: Record<string, boolean> = {};
      let sinkLive: string[] = [];
      for (let look = 0; look < 5; look++) {
        const current = await world.query<{ client_id: string; access_token: string }>(
          'SELECT client_id, access_token FROM tokens WHERE superseded_at IS NULL',
        );
        storedLive = Object.fromEntries(
          ACCOUNTS.map(({ clientId }) => [
            clientId,
            current.some((r) => r.client_id === clientId && sim.isLive(r.access_token)),
          ]),
        );
        sinkLive = [];
        for (const slot of world.running()) {
          for (const { clientId } of ACCOUNTS) {
            const file = join(slot.dir, 'tokens', `${clientId}.json`);
            const token = existsSync(file)
              ? (JSON.parse(readFileSync(file, 'utf8')) as { accessToken?: string }).accessToken
              : undefined;
            if (token === undefined || !sim.isLive(token)) sinkLive.push(`keeper ${slot.index} ${clientId}`);
          }
        }
        if (sinkLive.length === 0 && Object.values(storedLive).every(Boolean)) break;
        await sleep(300);
      }

      const now = Date.now();
      const calls = world.slots.flatMap((s) => s.proxy.calls);
      // The fenced call was in flight at Dhan when the new leader took over: nothing the keepers
      // do can take it back, so a refresh of the same account by the new leader overlaps it.
      // Counted apart; every other pair is a race between keepers.
      const allOverlaps = overlappingRefreshes(calls, now);
      const overlaps = allOverlaps.filter(([a, b]) => a !== fence.fenced?.call && b !== fence.fenced?.call);
      const fromNonLeaders = callsFromNonLeaders(calls, world.lives, world.leaderSamples);
      const storedHashes = new Set(
        (await world.query<{ access_token: string }>('SELECT access_token FROM tokens')).map((r) =>
          tokenHash(r.access_token),
        ),
      );
      // A stored token must have been answered to the keeper that led when the answer came.
      const commitsByNonLeaders = calls.filter((c) => {
        if (c.tokenHash === undefined || !storedHashes.has(c.tokenHash) || c.end === undefined) return false;
        const pid = pidAt(world.lives, c.keeper, c.end);
        return pid !== undefined && otherLeaderAt(world.leaderSamples, pid, c.end);
      });
      const dead = consumers.flatMap((c) =>
        deadIntervals(c.samples).map((d) => ({ ...d, clientId: c.options.clientId })),
      );
      const isExcused = (d: Interval & { clientId: string }): boolean =>
        excused.some((e) => e.clientId === d.clientId && d.start < e.end && d.end > e.start);
      const counted = dead.filter((d) => !isExcused(d));
      const deadMs = (list: readonly Interval[]): number => list.reduce((sum, d) => sum + (d.end - d.start), 0);
      const longest = (list: readonly Interval[]): number => list.reduce((max, d) => Math.max(max, d.end - d.start), 0);
      const refreshes = calls
        .filter((c) => c.endpoint === 'renew' || c.endpoint === 'generate')
        .sort((a, b) => a.start - b.start);
      const phaseAt = (at: number): string =>
        phases.find((p) => p.start <= at && at <= p.end)?.name.split(':')[0] ?? 'between phases';
      // The refresh that killed the token the consumer held: the last one for that account begun before the stretch.
      const causeOf = (d: Interval & { clientId: string }): string => {
        const cause = refreshes.filter((c) => c.clientId === d.clientId && c.start <= d.start).at(-1);
        if (cause === undefined) return 'no refresh before it';
        const answered =
          cause.end === undefined
            ? 'never answered'
            : `answered at ${cause.end - d.start >= 0 ? '+' : ''}${cause.end - d.start} ms`;
        return `keeper ${cause.keeper}'s ${cause.endpoint} sent at ${cause.start - d.start} ms, ${answered}`;
      };
      const staleAnswers = consumers.flatMap((c) => c.staleAnswers);
      const allTakeovers = [...takeovers.kill, ...takeovers.cut, ...takeovers.pause];
      const p50 = (values: readonly number[]): string => (values.length === 0 ? '-' : String(percentile(values, 50)));
      const fromStandby = consumers.reduce((n, c) => n + c.swapsSeen.fromStandby, 0);

      console.log(
        [
          '',
          '──── ha-chaos figures ─────────────────────────────────────────',
          `keepers 3, accounts ${ACCOUNTS.length}, token lifetime ${TOKEN_LIFETIME_MS / 1000} s, ha.takeoverAfter ${TAKEOVER_AFTER}, chaos ${CHAOS_MS / 1000} s`,
          ...phases.map((p) => `phase ${p.name}: ${((p.end - p.start) / 1000).toFixed(1)} s`),
          `kills (SIGKILL mid-renewal)          ${kills}`,
          `takeovers (epoch changes seen)       ${epochChanges(world.leaderSamples).length}`,
          `longest takeover                     ${Math.max(0, ...allTakeovers)} ms (after SIGKILL: max ${Math.max(0, ...takeovers.kill)} ms, p50 ${p50(takeovers.kill)} ms over ${takeovers.kill.length}; after pg_terminate_backend: ${takeovers.cut.join(', ')} ms; after SIGSTOP: ${takeovers.pause.join(', ')} ms)`,
          `Dhan calls                           ${calls.length} (renew/generate ${refreshes.length}, abandoned by a killed keeper ${calls.filter((c) => c.abandoned).length})`,
          `overlapping refreshes per account    ${overlaps.length} (with the fenced in-flight call: ${allOverlaps.length - overlaps.length})`,
          `calls from a keeper not leading      ${fromNonLeaders.length}`,
          `tokens committed by a non-leader     ${commitsByNonLeaders.length}`,
          `fenced renewal (b)                   ${fence.fenced === undefined ? 'not run' : `Dhan answered the paused leader ${fence.fenced.call.end === undefined ? '(never)' : `${fence.fenced.takeoverAt - fence.fenced.call.end} ms before the takeover`}, status ${fence.fenced.call.status ?? '-'}; it resumed ${fence.fenced.resumedAt - fence.fenced.takeoverAt} ms after the takeover; committed: ${fence.fenced.stored ? 'YES' : 'no'}`}`,
          `PostgreSQL restart (c)               ${pgRestart.result === undefined ? 'skipped' : `restart ${pgRestart.result.ms} ms, leadership settled ${pgRestart.result.settleMs} ms later`}`,
          `stale answers (an older token)       ${staleAnswers.length}${staleAnswers.length === 0 ? '' : ` (${staleAnswers.map((a) => `keeper ${world.slots.find((sl) => sl.url === a.url)?.index ?? '?'} at +${((a.at - first.at) / 1000).toFixed(1)} s, ${a.heldObtainedAt - a.answeredObtainedAt} ms older`).join('; ')})`}`,
          `swaps seen by consumers on a standby ${fromStandby} (on the leader ${consumers.reduce((n, c) => n + c.swapsSeen.fromLeader, 0)})`,
          `dead-token at consumers              ${(deadMs(counted) / 1000).toFixed(1)} s total (${deadMs(counted)} ms in ${counted.length} stretches), longest ${longest(counted)} ms`,
          `  after the fenced renewal (Dhan's)  ${deadMs(dead) - deadMs(counted)} ms (that account only)`,
          ...[...counted]
            .sort((x, y) => y.end - y.start - (x.end - x.start))
            .slice(0, 5)
            .map(
              (d) =>
                `  dead ${d.end - d.start} ms: ${d.clientId} at +${((d.start - first.at) / 1000).toFixed(1)} s, ${phaseAt(d.start)}, ${causeOf(d)}`,
            ),
          '───────────────────────────────────────────────────────────────',
        ].join('\n'),
      );

      // For a post-mortem: everything the judgements above read, and every keeper's log.
      const dumpPath = process.env['DTK_HA_CHAOS_DUMP'];
      if (dumpPath !== undefined) {
        writeFileSync(
          dumpPath,
          JSON.stringify({
            firstLeaderAt: first.at,
            phases,
            kills: killLog,
            calls,
            leaderSamples: world.leaderSamples,
            lives: world.lives,
            dead,
            switches: consumers.map((c) => ({ clientId: c.options.clientId, switches: c.switches })),
            logs: world.children.all.map((p) => ({ pid: p.child.pid, lines: p.logLines() })),
          }),
        );
      }
      if (phaseError !== undefined) throw phaseError;
      expect(kills).toBeGreaterThan(0);
      expect(
        overlaps.map(
          ([a, b]) =>
            `${a.clientId}: keeper ${a.keeper} ${a.start}-${a.end} and keeper ${b.keeper} ${b.start}-${b.end}`,
        ),
      ).toEqual([]);
      expect(fromNonLeaders.map((c) => `keeper ${c.keeper} ${c.endpoint} ${c.clientId} at ${c.start}`)).toEqual([]);
      expect(
        commitsByNonLeaders.map((c) => `keeper ${c.keeper} ${c.endpoint} ${c.clientId} answered at ${c.end}`),
      ).toEqual([]);
      if (fence.fenced !== undefined) expect(fence.fenced.stored).toBe(false);
      expect(
        counted
          .filter((d) => d.end - d.start >= 1_000)
          .map((d) => `${d.clientId} dead ${d.end - d.start} ms from ${d.start}`),
      ).toEqual([]);
      expect(storedLive).toEqual(Object.fromEntries(ACCOUNTS.map(({ clientId }) => [clientId, true])));
      expect(sinkLive).toEqual([]);
      expect(world.selfDeclaredLeaders()).toHaveLength(1);
      expect(fromStandby).toBeGreaterThan(0);
    },
    CHAOS_MS + 240_000,
  );
});
