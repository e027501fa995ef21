import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { KeeperError } from '../../src/errors.js';
import type { NewToken } from '../../src/store/index.js';
import { Leadership, type LeadershipState } from '../../src/store/postgres/leadership.js';
import { leaderMayAct, leadershipTiming, MIN_TAKEOVER_AFTER_MS } from '../../src/store/postgres/leadership-timing.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { dropSchemas, PG_URL, uniqueSchema, withAdmin } from '../helpers/postgres.js';
import { REPO_ROOT, waitUntil } from '../helpers/cli.js';

const distUrl = (file: string): string => pathToFileURL(join(REPO_ROOT, 'dist', 'store', 'postgres', file)).href;

/**
 * A keeper that leads, captures its fence (as a swap would before calling Dhan) and, once resumed
 * after SIGSTOP, tries to commit under it and reports whether it may still act.
 */
const PAUSED_LEADER = `
const [leadUrl, storeUrl, pgUrl, schema, takeoverAfter] = process.argv.slice(1);
const { Leadership } = await import(leadUrl);
const { PostgresStore } = await import(storeUrl);
const store = await PostgresStore.open({ connection: { connectionString: pgUrl }, schema });
const leadership = new Leadership({ connection: { connectionString: pgUrl }, schema, owner: { host: 'child', pid: process.pid }, takeoverAfterMs: Number(takeoverAfter) });
await leadership.start();
const fence = leadership.fence();
console.log('fence ' + JSON.stringify(fence));
process.on('SIGCONT', async () => {
  const now = Date.now();
  try {
    await store.saveToken({ clientId: '1000000001', accessToken: 'eyJ.from-the-paused-leader', source: 'renew', obtainedAt: now, expiresAt: now + 86400000, expiryTime: '2026-07-08T07:41:12' }, fence);
    console.log('commit ok');
  } catch (err) {
    console.log('commit refused ' + err.code);
  }
  console.log('may act ' + leadership.isLeader());
});
setInterval(() => {}, 1000);
`;

describe('leadership timing (pure)', () => {
  it.each([5_000, 6_000, 7_500, 10_000, 15_000, 30_000, 60_000, 120_000])(
    'fits every bound for takeoverAfter %i ms',
    (takeoverAfter) => {
      const t = leadershipTiming(takeoverAfter);
      // A standby takes over from a silent leader within takeoverAfter…
      expect(t.worstTakeoverMs).toBeLessThanOrEqual(takeoverAfter);
      // …and the leader has stopped acting before the server can have dropped its lock.
      expect(t.actWindowMs).toBeGreaterThan(0);
      expect(t.actWindowMs).toBeLessThan(t.serverDropAfterMs);
      expect(t.actWindowMs).toBeLessThan(takeoverAfter);
      expect(t.queryTimeoutMs).toBeLessThanOrEqual(t.checkEveryMs);
      expect(t.keepaliveCount).toBeGreaterThanOrEqual(2);
      // A lone keeper that lost its lock leads again within takeoverAfter.
      expect(t.standBackMs + t.checkEveryMs).toBeLessThanOrEqual(takeoverAfter);
      expect(t.standBackMs).toBeGreaterThan(t.checkEveryMs);
      // A paused leader is ended and replaced within takeoverAfter, after it stopped acting.
      expect(t.staleHeartbeatMs + t.checkEveryMs).toBeLessThanOrEqual(takeoverAfter);
      expect(t.staleHeartbeatMs).toBeGreaterThan(t.actWindowMs);
    },
  );

  it('has the documented default and refuses a bound too short for whole-second keepalives', () => {
    expect(leadershipTiming()).toMatchObject({
      checkEveryMs: 3_000,
      serverDropAfterMs: 8_000,
      actWindowMs: 5_000,
      worstTakeoverMs: 11_000,
    });
    expect(() => leadershipTiming(MIN_TAKEOVER_AFTER_MS - 1)).toThrow(RangeError);
  });

  const t = leadershipTiming(15_000);
  it.each([
    ['never confirmed', undefined, 1_000, false],
    ['just confirmed', 1_000, 1_000, true],
    ['confirmed within the window', 1_000, 1_000 + t.actWindowMs - 1, true],
    ['the window has passed', 1_000, 1_000 + t.actWindowMs, false],
    ['the clock went backwards', 5_000, 4_000, false],
  ])('a leader may act: %s', (_case, sentAt, now, expected) => {
    expect(leaderMayAct(sentAt, now, t)).toBe(expected);
  });
});

describe('leadership on a real PostgreSQL', () => {
  const TAKEOVER_AFTER = 5_000;
  const schemas: string[] = [];
  const running: Leadership[] = [];
  const stores: PostgresStore[] = [];
  afterEach(async () => {
    for (const l of running.splice(0)) await l.stop();
    for (const s of stores.splice(0)) await s.close();
  });
  afterAll(() => dropSchemas(schemas));

  async function world(): Promise<{ schema: string; store: PostgresStore }> {
    const schema = uniqueSchema('dtk_lead');
    schemas.push(schema);
    // Opening the store migrates the schema, leadership table included.
    const store = await PostgresStore.open({ connection: { connectionString: PG_URL }, schema });
    stores.push(store);
    await store.upsertAccount({ clientId: '1000000001', name: 'main', mode: 'auto' });
    return { schema, store };
  }

  function keeper(schema: string, host: string, pid: number): { leadership: Leadership; states: LeadershipState[] } {
    const states: LeadershipState[] = [];
    const leadership = new Leadership({
      connection: { connectionString: PG_URL },
      schema,
      owner: { host, pid },
      takeoverAfterMs: TAKEOVER_AFTER,
      onChange: (s) => states.push(s),
    });
    running.push(leadership);
    return { leadership, states };
  }

  const token = (n: number): NewToken => ({
    clientId: '1000000001',
    accessToken: `eyJ.lead-${n}`,
    source: 'renew',
    obtainedAt: 1_780_000_000_000 + n,
    expiresAt: 1_780_086_400_000 + n,
    expiryTime: '2026-07-08T07:41:12',
  });

  it('one leads, the other stands by; the epoch names the leader', async () => {
    const { schema } = await world();
    const a = keeper(schema, 'vps-a', 111);
    const b = keeper(schema, 'vps-b', 222);
    const before = Date.now();
    await a.leadership.start();
    await b.leadership.start();
    expect(a.leadership.fence()).toEqual({ epoch: 1 });
    expect(b.leadership.fence()).toBeUndefined();
    const leader = await b.leadership.leader();
    expect(leader).toMatchObject({ epoch: 1, host: 'vps-a', pid: 111 });
    expect(leader!.since).toBeGreaterThanOrEqual(before);
    expect(a.states).toEqual([{ role: 'leader', epoch: 1, since: leader!.since }]);
    expect(b.states).toEqual([]);
  });

  it('pg_terminate_backend on the leader: it stops acting at once, a standby takes over within takeoverAfter, the old epoch can never commit', async () => {
    const { schema, store } = await world();
    const a = keeper(schema, 'vps-a', 111);
    const b = keeper(schema, 'vps-b', 222);
    await a.leadership.start();
    await b.leadership.start();
    const staleFence = a.leadership.fence()!;
    // A swap begun by the leader before it loses the lock (its Dhan call in flight)…
    expect((await store.saveToken(token(1), staleFence)).accessToken).toBe('eyJ.lead-1');

    const cutAt = Date.now();
    await withAdmin((c) => c.query('SELECT pg_terminate_backend($1)', [a.leadership.backendPid]));
    await waitUntil(() => a.leadership.fence() === undefined, {
      timeoutMs: 2_000,
      what: 'the old leader to stop acting',
    });
    const stoppedAfter = Date.now() - cutAt;
    await waitUntil(() => b.leadership.isLeader(), {
      timeoutMs: TAKEOVER_AFTER + 2_000,
      what: 'the standby to take over',
    });
    const takeoverAfter = Date.now() - cutAt;
    console.log(
      `leader stopped acting ${stoppedAfter} ms after pg_terminate_backend; standby took over after ${takeoverAfter} ms`,
    );
    expect(takeoverAfter).toBeLessThanOrEqual(TAKEOVER_AFTER);
    expect(a.states.at(-1)).toMatchObject({ role: 'standby' });
    expect(b.leadership.fence()).toEqual({ epoch: 2 });
    expect(await a.leadership.leader().catch(() => undefined)).toMatchObject({ epoch: 2, host: 'vps-b', pid: 222 });

    // …and finishing after the takeover: refused, nothing stored.
    const refused = await store.saveToken(token(2), staleFence).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(KeeperError);
    expect(refused).toMatchObject({ code: 'not-leader' });
    expect((refused as Error).message).toContain('keeper pid 222 on vps-b leads with epoch 2');
    expect((await store.currentToken('1000000001'))?.accessToken).toBe('eyJ.lead-1');
    expect((await store.saveToken(token(3), b.leadership.fence())).accessToken).toBe('eyJ.lead-3');

    // The old leader comes back as a standby, not as a second leader.
    await new Promise((r) => setTimeout(r, a.leadership.timing.checkEveryMs * 2));
    expect(a.leadership.isLeader()).toBe(false);
    expect(b.leadership.isLeader()).toBe(true);
  });

  it('a takeover waits for a swap that is committing under the old epoch, then fences the next one', async () => {
    const { schema, store } = await world();
    const a = keeper(schema, 'vps-a', 111);
    await a.leadership.start();
    const fence = a.leadership.fence()!;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const swap = store.transaction(async (tx) => {
      const saved = await tx.saveToken(token(1), fence);
      await held;
      return saved;
    });
    await new Promise((r) => setTimeout(r, 100));
    // A takeover right now: it bumps the epoch, which must wait for the swap's FOR SHARE.
    const bump = withAdmin((c) =>
      c.query(`UPDATE "${schema}".leadership SET epoch = epoch + 1, host = 'vps-b', pid = 222 RETURNING epoch`),
    );
    await new Promise((r) => setTimeout(r, 200));
    let bumped = false;
    void bump.then(() => (bumped = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(bumped).toBe(false);
    release();
    expect((await swap).accessToken).toBe('eyJ.lead-1');
    expect((await bump).rows[0]).toEqual({ epoch: '2' });
    await expect(store.saveToken(token(2), fence)).rejects.toMatchObject({ code: 'not-leader' });
  });

  it('a leader that cannot confirm its lock stops acting within its window; a standby leads once the database answers', async () => {
    const { schema } = await world();
    const a = keeper(schema, 'vps-a', 111);
    const b = keeper(schema, 'vps-b', 222);
    await a.leadership.start();
    await b.leadership.start();
    const t = a.leadership.timing;
    // Another session locks the leadership row's table: the leader's confirmation hangs.
    await withAdmin(async (admin) => {
      await admin.query('BEGIN');
      await admin.query(`LOCK TABLE "${schema}".leadership IN ACCESS EXCLUSIVE MODE`);
      const stalledAt = Date.now();
      try {
        await waitUntil(() => !a.leadership.isLeader(), {
          timeoutMs: t.actWindowMs + t.queryTimeoutMs + 1_000,
          what: 'the stalled leader to stop acting',
        });
        const stoppedAfter = Date.now() - stalledAt;
        console.log(
          `a leader that could not confirm stopped acting after ${stoppedAfter} ms (window ${t.actWindowMs} ms)`,
        );
        // The promise is takeoverAfter; by design it happens within the act window.
        expect(stoppedAfter).toBeLessThanOrEqual(TAKEOVER_AFTER);
        expect(b.leadership.isLeader()).toBe(false);
      } finally {
        await admin.query('COMMIT');
      }
    });
    const answeredAt = Date.now();
    await waitUntil(() => b.leadership.isLeader() || a.leadership.isLeader(), {
      timeoutMs: TAKEOVER_AFTER,
      what: 'a new leader',
    });
    expect(Date.now() - answeredAt).toBeLessThanOrEqual(TAKEOVER_AFTER);
    const leader = await b.leadership.leader();
    expect(leader?.epoch).toBe(2);
    expect([a.leadership.isLeader(), b.leadership.isLeader()].filter(Boolean)).toHaveLength(1);
  });

  it('a paused leader (SIGSTOP) is ended and replaced within takeoverAfter, and commits nothing when it resumes', async () => {
    const { schema, store } = await world();
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        PAUSED_LEADER,
        distUrl('leadership.js'),
        distUrl('postgres-store.js'),
        PG_URL,
        schema,
        String(TAKEOVER_AFTER),
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    try {
      await waitUntil(() => out.includes('fence {"epoch":1}'), {
        timeoutMs: 10_000,
        what: `the child to lead: ${out}`,
      });
      const b = keeper(schema, 'vps-b', 222);
      await b.leadership.start();
      expect(b.leadership.isLeader()).toBe(false);

      const pausedAt = Date.now();
      child.kill('SIGSTOP');
      await waitUntil(() => b.leadership.isLeader(), {
        timeoutMs: TAKEOVER_AFTER * 2,
        what: 'the standby to take over from the paused leader',
      });
      const tookOver = Date.now() - pausedAt;
      console.log(`standby took over ${tookOver} ms after the leader was paused (takeoverAfter ${TAKEOVER_AFTER} ms)`);
      // The bound holds from the leader's last heartbeat; query round trips on a loaded machine add a little.
      expect(tookOver).toBeLessThanOrEqual(TAKEOVER_AFTER + b.leadership.timing.checkEveryMs);
      expect(await b.leadership.leader()).toMatchObject({ epoch: 2, host: 'vps-b' });

      child.kill('SIGCONT');
      await waitUntil(() => out.includes('may act'), {
        timeoutMs: 10_000,
        what: `the resumed child to report: ${out}`,
      });
      expect(out).toContain('commit refused not-leader');
      expect(out).toContain('may act false');
      expect(await store.currentToken('1000000001')).toBeUndefined();
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('stop() hands over at once', async () => {
    const { schema } = await world();
    const a = keeper(schema, 'vps-a', 111);
    const b = keeper(schema, 'vps-b', 222);
    await a.leadership.start();
    await b.leadership.start();
    const at = Date.now();
    await a.leadership.stop();
    await waitUntil(() => b.leadership.isLeader(), { timeoutMs: TAKEOVER_AFTER, what: 'the standby to take over' });
    expect(Date.now() - at).toBeLessThanOrEqual(b.leadership.timing.checkEveryMs + 500);
    expect(await b.leadership.leader()).toMatchObject({ epoch: 2, host: 'vps-b' });
  });
});
