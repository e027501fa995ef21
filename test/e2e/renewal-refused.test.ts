import { join } from 'node:path';
import { describe, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { startSimulator } from '../../src/sim/index.js';
import {
  Children,
  callsOf,
  configYaml,
  fileSinkYaml,
  readJsonSink,
  sleep,
  startKeeper,
  statusJson,
  tempDir,
  waitUntil,
  writeSecretFile,
} from '../helpers/cli.js';

/*
 * The set-up traders report failing on its first day: a PIN+TOTP account in `mode: auto` whose
 * first renewal Dhan answers with HTTP 500 DH-905 "Renewal of token not allowed for this token
 * type" while the token stays live. Through the spawned CLI: after that one refusal the keeper
 * must generate instead, keep the sink live through several generations, and never show attention.
 */

const PIN = '493817';
const TOTP_SECRET = 'KRSXG5CTMVRXEZLUKN2XAZLDNFQWY4ZA';
const CLIENT = '1000000901';
// 40-s tokens are swapped ~27 s after issue, when the next TOTP step has always begun.
const LIFETIME_MS = 40_000;
const OBSERVE_MS = 120_000;

describe('run with Dhan refusing renewal of TOTP tokens (HTTP 500 DH-905)', () => {
  it('learns once, then generates: the sink stays live for several generations and status never shows attention', async ({
    expect,
    onTestFinished,
  }) => {
    const children = new Children();
    onTestFinished(() => children.killAll());
    const sim = await startSimulator({
      accounts: [{ clientId: CLIENT, pin: PIN, totpSecret: TOTP_SECRET }],
      clock: systemClock,
      tokenLifetimeMs: LIFETIME_MS,
      generateIntervalMs: 10_000,
    });
    onTestFinished(() => sim.close());
    sim.setAccountOptions(CLIENT, { renewableTotpTokens: false, renewRefusal: 'not-allowed-905' });

    const dir = tempDir();
    const sinkPath = join(dir, 'tokens', 'main.json');
    const configPath = writeSecretFile(
      join(dir, 'config.yaml'),
      configYaml({
        simUrl: sim.baseUrl,
        accounts: [
          {
            clientId: CLIENT,
            name: 'main',
            pin: PIN,
            totpSecret: TOTP_SECRET,
            sinksYaml: fileSinkYaml('./tokens/main.json'),
          },
        ],
      }),
    );
    const keeper = await startKeeper(children, configPath);
    const startedAt = Date.now();

    let firstLive: number | undefined;
    let deadSince: number | undefined;
    let maxGap = 0;
    const observer = (async () => {
      while (Date.now() - startedAt < OBSERVE_MS) {
        const now = Date.now();
        const token = readJsonSink(sinkPath)?.accessToken;
        const live = token !== undefined && sim.isLive(token);
        if (live) firstLive ??= now;
        if (firstLive !== undefined) {
          if (!live) deadSince ??= now;
          else if (deadSince !== undefined) {
            maxGap = Math.max(maxGap, now - deadSince);
            deadSince = undefined;
          }
        }
        await sleep(100);
      }
      if (deadSince !== undefined) maxGap = Math.max(maxGap, Date.now() - deadSince);
    })();

    await waitUntil(() => callsOf(sim.stats(), CLIENT).renew >= 1, {
      timeoutMs: 60_000,
      what: 'the first (refused) renewal',
    });
    const states: string[] = [];
    while (Date.now() - startedAt < OBSERVE_MS) {
      const row = (await statusJson(children, configPath)).find((r) => r.clientId === CLIENT);
      states.push(row?.state ?? 'none');
      expect(row?.attention ?? null, keeper.proc.dump(20_000)).toBeNull();
      await sleep(8_000);
    }
    await observer;

    const calls = callsOf(sim.stats(), CLIENT);
    console.log(
      `e2e DH-905 (500): max gap with a dead token in the sink ${maxGap} ms; calls ${JSON.stringify(calls)}; states seen ${[...new Set(states)].join(',')}`,
    );
    expect(calls.renew, keeper.proc.dump(20_000)).toBe(1);
    expect(calls.generate).toBeGreaterThanOrEqual(4);
    expect(maxGap, keeper.proc.dump(20_000)).toBeLessThan(2_000);
    expect(states.every((s) => s === 'valid' || s === 'refreshing')).toBe(true);
    expect(sim.isLive(readJsonSink(sinkPath)?.accessToken ?? '')).toBe(true);

    keeper.proc.kill('SIGTERM');
    expect((await keeper.proc.waitForExit(15_000)).code).toBe(0);
  }, 240_000);
});

describe('run with renewal.refreshAt and renewal.probeAt', () => {
  it('refreshes at each refreshAt moment and replaces a killed token at the next probeAt moment', async ({
    expect,
    onTestFinished,
  }) => {
    const children = new Children();
    onTestFinished(() => children.killAll());
    const sim = await startSimulator({
      accounts: [{ clientId: CLIENT, pin: PIN, totpSecret: TOTP_SECRET }],
      clock: systemClock,
      tokenLifetimeMs: 3_600_000,
      generateIntervalMs: 10_000,
    });
    onTestFinished(() => sim.close());
    const dir = tempDir();
    const sinkPath = join(dir, 'tokens', 'main.json');
    const configPath = writeSecretFile(
      join(dir, 'config.yaml'),
      configYaml({
        simUrl: sim.baseUrl,
        // Six-field expressions (seconds first): moments every 20 s and probes every 15 s keep the
        // test short; the interval probe is off so that only probeAt can find the killed token.
        renewalYaml:
          '  probeInterval: "off"\n  refreshAt: ["*/20 * * * * *"]\n  refreshAtSkipIfNewerThan: 5s\n  probeAt: ["7,22,37,52 * * * * *"]\n',
        accounts: [
          {
            clientId: CLIENT,
            name: 'main',
            pin: PIN,
            totpSecret: TOTP_SECRET,
            sinksYaml: fileSinkYaml('./tokens/main.json'),
          },
        ],
      }),
    );
    const keeper = await startKeeper(children, configPath);
    await waitUntil(() => readJsonSink(sinkPath), { timeoutMs: 30_000, what: 'the first token' });
    const rows = await statusJson(children, configPath);
    expect((rows[0] as { nextRefreshAt?: string | null } | undefined)?.nextRefreshAt).toMatch(
      /:(00|20|40)\.000\+05:30$/,
    );

    // Refreshes land on :00, :20 and :40, each a renewal of an hour-long token.
    await waitUntil(() => callsOf(sim.stats(), CLIENT).renew >= 2, {
      timeoutMs: 60_000,
      what: 'two refreshAt renewals',
    });
    const renewedSecond = new Date(Date.parse(readJsonSink(sinkPath)?.expiresAt ?? '') - 3_600_000).getUTCSeconds();
    expect([0, 1, 20, 21, 40, 41]).toContain(renewedSecond);

    // Killed at Dhan: the next probeAt moment (within 15 s) finds it, and a new token follows.
    const killed = readJsonSink(sinkPath)?.accessToken ?? '';
    sim.killTokens(CLIENT);
    const killedAt = Date.now();
    await waitUntil(
      () => {
        const now = readJsonSink(sinkPath)?.accessToken;
        return now !== undefined && now !== killed && sim.isLive(now);
      },
      { timeoutMs: 40_000, what: 'a live token after the kill' },
    );
    const replacedMs = Date.now() - killedAt;
    console.log(
      `e2e refreshAt/probeAt: renewals ${callsOf(sim.stats(), CLIENT).renew}, killed token replaced in ${replacedMs} ms`,
    );
    expect(replacedMs).toBeLessThan(25_000);
    keeper.proc.kill('SIGTERM');
    expect((await keeper.proc.waitForExit(15_000)).code).toBe(0);
  }, 180_000);
});
