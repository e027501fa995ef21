import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { startSimulator } from '../../src/sim/index.js';
import type { Simulator } from '../../src/sim/simulator-api.js';
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
 * Issue 3 "Done when", checked from outside with tokens of 30 s: `dhan-token-keeper run` as a
 * real process against a simulated Dhan living in this test process, so that the test can ask
 * Dhan's side of the story (is the token in the sink live? which calls arrived, with which
 * method?) without trusting anything the keeper says about itself.
 * Real time, not a fake clock: the keeper is a spawned process whose clock a test cannot drive.
 *
 * Scenarios share daemons to keep the wall time down: the two worlds below run concurrently,
 * one with 30-s tokens (renewal rhythm, faults, wrong PIN), one with 10-min tokens (restart,
 * second instance, hand-off, a token killed at Dhan, expiry with TZ=UTC and opaque tokens),
 * where nothing refreshes unless the test makes it happen.
 */

const PIN = '493817';
const WRONG_PIN = '275064';
const TOTP_SECRET = 'KRSXG5CTMVRXEZLUKN2XAZLDNFQWY4ZA';

/** Every Dhan answer that carried a token, so that the test knows the simulator's own expiry. */
interface RecordingProxy {
  readonly url: string;
  /** accessToken → Dhan's expiryTime (IST, no offset), as sent on the wire. */
  readonly expiryTimes: Map<string, string>;
  close(): Promise<void>;
}

/** Hop-by-hop headers are the proxy's own business; everything else goes through as sent. */
const HOP_HEADERS = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive']);

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * A transparent proxy in front of the simulator. The keeper parses Dhan's offset-less IST
 * `expiryTime` itself; the test needs the true expiry of opaque tokens (no JWT `exp`) to judge
 * that parsing, and reads it off the wire with its own, independent arithmetic.
 */
async function recordingProxy(target: string): Promise<RecordingProxy> {
  const expiryTimes = new Map<string, string>();
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (typeof value === 'string' && !HOP_HEADERS.has(name)) headers[name] = value;
      }
      let upstream: Response;
      try {
        upstream = await fetch(`${target}${req.url ?? '/'}`, {
          method: req.method ?? 'GET',
          headers,
          ...(body.length > 0 ? { body } : {}),
        });
      } catch {
        req.socket.destroy();
        return;
      }
      const text = await upstream.text();
      try {
        const parsed = JSON.parse(text) as { accessToken?: unknown; token?: unknown; expiryTime?: unknown };
        const token = parsed.accessToken ?? parsed.token;
        if (typeof token === 'string' && typeof parsed.expiryTime === 'string')
          expiryTimes.set(token, parsed.expiryTime);
      } catch {
        // Not JSON: nothing to record, pass it on as is.
      }
      const out: Record<string, string> = {
        'content-type': upstream.headers.get('content-type') ?? 'application/json',
      };
      // The keeper measures clock skew from Dhan's Date header.
      const date = upstream.headers.get('date');
      if (date !== null) out['date'] = date;
      res.writeHead(upstream.status, out).end(text);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    expiryTimes,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Dhan's expiryTime is IST wall-clock time; IST has no DST, so +05:30 is always right. */
function istToEpochMs(expiryTime: string): number {
  return Date.parse(`${expiryTime}+05:30`);
}

function sinkToken(path: string): string | undefined {
  return readJsonSink(path)?.accessToken;
}

// Concurrent tests must use the hooks and expect of their own context: the global ones may bind
// to the other test and, say, close its simulator halfway through.
describe.concurrent('run keeps tokens alive (issue 3, tokens of 30 s)', () => {
  it('renews with GET without a gap, falls back from non-renewable tokens, recovers a lost renewal, stops on a wrong PIN; second instance refused; SIGTERM', async ({
    expect,
    onTestFinished,
  }) => {
    const children = new Children();
    onTestFinished(() => children.killAll());
    const A = '1000000301'; // plain: renewal rhythm and the gap measurement
    const B = '1000000302'; // TOTP tokens Dhan will not renew
    const C = '1000000303'; // its first renewal's answer is lost
    const D = '1000000304'; // the keeper has the wrong PIN
    const sim: Simulator = await startSimulator({
      accounts: [A, B, C, D].map((clientId) => ({ clientId, pin: PIN, totpSecret: TOTP_SECRET })),
      clock: systemClock,
      tokenLifetimeMs: 30_000,
      generateIntervalMs: 10_000,
    });
    onTestFinished(() => sim.close());
    sim.setAccountOptions(B, { renewableTotpTokens: false });
    sim.addFault({ endpoint: 'renew', clientId: C, action: { type: 'drop-after-commit' } });

    const dir = tempDir();
    const sink = (name: string): string => join(dir, 'tokens', `${name}.json`);
    const configPath = writeSecretFile(
      join(dir, 'config.yaml'),
      configYaml({
        simUrl: sim.baseUrl,
        accounts: [
          { clientId: A, name: 'a', pin: PIN, totpSecret: TOTP_SECRET, sinksYaml: fileSinkYaml('./tokens/a.json') },
          { clientId: B, name: 'b', pin: PIN, totpSecret: TOTP_SECRET, sinksYaml: fileSinkYaml('./tokens/b.json') },
          { clientId: C, name: 'c', pin: PIN, totpSecret: TOTP_SECRET, sinksYaml: fileSinkYaml('./tokens/c.json') },
          {
            clientId: D,
            name: 'd',
            pin: WRONG_PIN,
            totpSecret: TOTP_SECRET,
            sinksYaml: fileSinkYaml('./tokens/d.json'),
          },
        ],
      }),
    );

    const keeper = await startKeeper(children, configPath);
    const startedAt = Date.now();

    // Dhan's view, every 100 ms: is the token a consumer would read right now accepted?
    const OBSERVE_MS = 70_000;
    let maxGapA = 0;
    let deadSinceA: number | undefined;
    let firstLiveA: number | undefined;
    let lostRenewalAt: number | undefined;
    let lostToken: string | undefined;
    let previousTokenC: string | undefined;
    let recoveredAt: number | undefined;
    let generateCallsD60s: number | undefined;
    const observer = (async () => {
      while (Date.now() - startedAt < OBSERVE_MS) {
        const now = Date.now();
        // The simulator lives in this process: these reads see one consistent moment of Dhan.
        const tokenA = sinkToken(sink('a'));
        const liveA = tokenA !== undefined && sim.isLive(tokenA);
        if (liveA && firstLiveA === undefined) firstLiveA = now;
        if (firstLiveA !== undefined) {
          if (!liveA) deadSinceA ??= now;
          else if (deadSinceA !== undefined) {
            maxGapA = Math.max(maxGapA, now - deadSinceA);
            deadSinceA = undefined;
          }
        }
        const tokenC = sinkToken(sink('c'));
        if (lostRenewalAt === undefined && callsOf(sim.stats(), C).renew >= 1) {
          lostRenewalAt = now;
          // The token being renewed is the one the sink held a tick ago: the keeper may already
          // have written the replacement within this very tick.
          lostToken = previousTokenC;
        }
        previousTokenC = tokenC;
        if (
          lostRenewalAt !== undefined &&
          recoveredAt === undefined &&
          tokenC !== undefined &&
          tokenC !== lostToken &&
          sim.isLive(tokenC)
        ) {
          recoveredAt = now;
        }
        if (generateCallsD60s === undefined && now - startedAt >= 60_000)
          generateCallsD60s = callsOf(sim.stats(), D).generate;
        await sleep(100);
      }
      if (deadSinceA !== undefined) maxGapA = Math.max(maxGapA, Date.now() - deadSinceA);
    })();

    // While the observer runs: a second keeper on the same database must be turned away.
    await waitUntil(() => firstLiveA, { timeoutMs: 30_000, what: "account a's first token in its sink" });
    const second = await children.run(['run', '--config', configPath], { timeoutMs: 30_000 });
    expect(second.code, second.proc.dump()).toBe(1);
    expect(second.stderr).toContain(`pid ${keeper.proc.pid}`);
    expect(second.stderr).toContain(hostname());
    expect(keeper.proc.running).toBe(true);

    // The wrong PIN: attention, and the daemon still serves.
    await waitUntil(
      async () => (await statusJson(children, configPath)).find((r) => r.clientId === D)?.state === 'attention',
      {
        timeoutMs: 30_000,
        intervalMs: 1_000,
        what: 'account d in attention',
      },
    );
    const health = await fetch(`${keeper.url}/healthz`);
    expect(health.status).toBe(200);

    await observer;
    // B generates about every 20 s, but each generation may wait for a fresh TOTP step (30 s):
    // give a loaded machine a little longer to show the third one.
    await waitUntil(() => callsOf(sim.stats(), B).generate >= 3, {
      timeoutMs: 30_000,
      what: 'a third generation for b',
    }).catch(() => undefined);
    const stats = sim.stats();
    const [a, b, c, d] = [A, B, C, D].map((id) => callsOf(stats, id));
    console.log(
      `e2e-run 30-s tokens: max gap with a dead token in the sink ${maxGapA} ms; lost renewal recovered in ${
        recoveredAt !== undefined && lostRenewalAt !== undefined ? recoveredAt - lostRenewalAt : 'never'
      } ms; wrong-PIN generate calls after 60 s: ${generateCallsD60s}; calls a=${JSON.stringify(a)} b=${JSON.stringify(b)} c=${JSON.stringify(c)} d=${JSON.stringify(d)}`,
    );

    // A: live all along, renewed with GET only.
    expect(maxGapA, keeper.proc.dump(20_000)).toBeLessThan(2_000);
    expect(stats.wrongMethod).toBe(0);
    expect(a?.renew).toBeGreaterThanOrEqual(2);
    expect(a?.generate).toBe(1);
    expect(sim.isLive(sinkToken(sink('a')) ?? '')).toBe(true);

    // B: one refused renewal taught the keeper; generations carry on.
    expect(b?.renew).toBe(1);
    expect(b?.generate).toBeGreaterThanOrEqual(3);
    expect(sim.isLive(sinkToken(sink('b')) ?? '')).toBe(true);

    // C: the lost answer cost a new token, quickly.
    expect(lostRenewalAt).toBeDefined();
    expect(lostToken, 'the token C held before its first renewal').toBeDefined();
    expect(sim.isLive(lostToken ?? '')).toBe(false);
    expect(recoveredAt).toBeDefined();
    expect((recoveredAt ?? Infinity) - (lostRenewalAt ?? 0)).toBeLessThan(20_000);
    expect(sim.isLive(sinkToken(sink('c')) ?? '')).toBe(true);

    // D: never hammered, never a token.
    expect(generateCallsD60s).toBeLessThanOrEqual(3);
    expect(d?.generate).toBeLessThanOrEqual(3);
    expect(sinkToken(sink('d'))).toBeUndefined();
    const rows = await statusJson(children, configPath);
    expect(rows.find((r) => r.clientId === D)?.state).toBe('attention');
    for (const id of [A, B, C]) expect(rows.find((r) => r.clientId === id)?.state).toMatch(/^(valid|refreshing)$/);
    // With a daemon running, status says when it will act next (ISO 8601 with an offset).
    expect(rows.find((r) => r.clientId === A)?.nextActionAt).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+([+-]\d\d:\d\d|Z)$/);

    const stopAt = Date.now();
    keeper.proc.kill('SIGTERM');
    const exit = await keeper.proc.waitForExit(15_000);
    const stopMs = Date.now() - stopAt;
    console.log(`e2e-run: SIGTERM to exit ${stopMs} ms`);
    expect(exit.code, keeper.proc.dump()).toBe(0);
    expect(stopMs).toBeLessThan(10_000);
    expect(keeper.proc.stdout).toMatch(/dhan-token-keeper stopped/);
  }, 180_000);

  it('restart after SIGKILL reuses tokens; renew is handed to the daemon; a token killed at Dhan is replaced within a probe interval; expiry right with TZ=UTC and opaque tokens', async ({
    expect,
    onTestFinished,
  }) => {
    const children = new Children();
    onTestFinished(() => children.killAll());
    const E = '1000000311'; // imported web token (JWT)
    const F = '1000000312'; // opaque TOTP tokens: expiry only from expiryTime
    const LIFETIME_MS = 10 * 60_000;
    const sim: Simulator = await startSimulator({
      accounts: [E, F].map((clientId) => ({ clientId, pin: PIN, totpSecret: TOTP_SECRET })),
      clock: systemClock,
      tokenLifetimeMs: LIFETIME_MS,
      generateIntervalMs: 10_000,
    });
    onTestFinished(() => sim.close());
    sim.setAccountOptions(F, { tokenFormat: 'opaque' });
    const proxy = await recordingProxy(sim.baseUrl);
    onTestFinished(() => proxy.close());

    const dir = tempDir();
    const sink = (name: string): string => join(dir, 'tokens', `${name}.json`);
    const PROBE_MS = 10_000;
    const configPath = writeSecretFile(
      join(dir, 'config.yaml'),
      configYaml({
        simUrl: proxy.url,
        renewalYaml: `  probeInterval: ${PROBE_MS / 1000}s\n`,
        accounts: [
          { clientId: E, name: 'e', pin: PIN, totpSecret: TOTP_SECRET, sinksYaml: fileSinkYaml('./tokens/e.json') },
          { clientId: F, name: 'f', pin: PIN, totpSecret: TOTP_SECRET, sinksYaml: fileSinkYaml('./tokens/f.json') },
        ],
      }),
    );
    // A server in UTC is where a naive `new Date(expiryTime)` is 5.5 hours wrong.
    const env = { TZ: 'UTC' };

    const web = sim.issueWebToken(E);
    const imported = await children.run(['import', E, '--config', configPath], { input: `${web.accessToken}\n`, env });
    expect(imported.code, imported.proc.dump()).toBe(0);

    let keeper = await startKeeper(children, configPath, { env });
    await waitUntil(() => sinkToken(sink('f')) !== undefined && sinkToken(sink('e')) !== undefined, {
      timeoutMs: 30_000,
      what: 'both sinks written',
    });

    // Expiry as Dhan sees it, against what status --json shows (also in TZ=UTC).
    const tokenF = (await children.run(['token', F, '--config', configPath], { env })).stdout.trim();
    expect(sim.isLive(tokenF)).toBe(true);
    expect(tokenF.includes('.')).toBe(false); // opaque, not a JWT
    const wireExpiryF = proxy.expiryTimes.get(tokenF);
    expect(wireExpiryF, 'the proxy saw the generation that produced the token').toBeDefined();
    let rows = await statusJson(children, configPath, { env });
    const rowE = rows.find((r) => r.clientId === E);
    const rowF = rows.find((r) => r.clientId === F);
    expect(rowE?.state).toBe('valid');
    expect(rowF?.state).toBe('valid');
    const errE = Date.parse(rowE?.expiresAt ?? '') - web.expiresAt;
    const errF = Date.parse(rowF?.expiresAt ?? '') - istToEpochMs(wireExpiryF ?? '');
    console.log(`e2e-run TZ=UTC: expiry error ${errE} ms (imported JWT), ${errF} ms (generated opaque)`);
    expect(Math.abs(errE)).toBeLessThan(1_000);
    expect(Math.abs(errF)).toBeLessThan(1_000);
    expect(rowF?.secondsLeft).toBeGreaterThan(LIFETIME_MS / 1000 - 60);

    // SIGKILL, then a restart: the stored tokens are checked with Dhan and reused as they are.
    const tokenE = sinkToken(sink('e'));
    expect(tokenE).toBe(web.accessToken);
    const before = sim.stats();
    keeper.proc.kill('SIGKILL');
    await keeper.proc.waitForExit(10_000);
    keeper = await startKeeper(children, configPath, { env });
    await waitUntil(
      () => {
        const now = sim.stats();
        return (
          callsOf(now, E).profile > callsOf(before, E).profile && callsOf(now, F).profile > callsOf(before, F).profile
        );
      },
      { timeoutMs: 30_000, what: 'the restarted keeper to check both stored tokens with /v2/profile' },
    );
    await sleep(1_500);
    const afterRestart = sim.stats();
    for (const id of [E, F]) {
      expect(callsOf(afterRestart, id).generate, `generate calls of ${id}`).toBe(callsOf(before, id).generate);
      expect(callsOf(afterRestart, id).renew, `renew calls of ${id}`).toBe(callsOf(before, id).renew);
    }
    expect((await children.run(['token', E, '--config', configPath], { env })).stdout).toBe(`${web.accessToken}\n`);
    expect((await children.run(['token', F, '--config', configPath], { env })).stdout).toBe(`${tokenF}\n`);
    expect(sim.isLive(web.accessToken)).toBe(true);

    // The restarted keeper holds the lease now: the refusal names its pid.
    const second = await children.run(['run', '--config', configPath], { env, timeoutMs: 30_000 });
    expect(second.code, second.proc.dump()).toBe(1);
    expect(second.stderr).toContain(`pid ${keeper.proc.pid}`);

    // `renew` while the daemon runs is carried out by the daemon.
    const renew = await children.run(['renew', E, '--config', configPath], { env, timeoutMs: 60_000 });
    expect(renew.code, renew.proc.dump()).toBe(0);
    const renewedE = (await children.run(['token', E, '--config', configPath], { env })).stdout.trim();
    expect(renewedE).not.toBe(web.accessToken);
    expect(sim.isLive(renewedE)).toBe(true);
    expect(sim.isLive(web.accessToken)).toBe(false);
    expect(callsOf(sim.stats(), E).renew).toBe(callsOf(afterRestart, E).renew + 1);
    await waitUntil(() => sinkToken(sink('e')) === renewedE, {
      timeoutMs: 10_000,
      what: 'the renewed token in the sink',
    });
    expect(keeper.proc.logLines().some((l) => l['msg'] === 'carrying out a command from the CLI')).toBe(true);

    // A login elsewhere kills the token at Dhan: the probe finds out and the keeper replaces it.
    sim.killTokens(E);
    const killedAt = Date.now();
    await waitUntil(
      () => {
        const t = sinkToken(sink('e'));
        return t !== undefined && t !== renewedE && sim.isLive(t);
      },
      { timeoutMs: 40_000, intervalMs: 100, what: 'a live replacement of the killed token in the sink' },
    );
    const replacedMs = Date.now() - killedAt;
    console.log(
      `e2e-run: token killed at Dhan replaced in the sink after ${replacedMs} ms (probe interval ${PROBE_MS} ms ±10%)`,
    );
    // One probe interval (+10% jitter) plus a generation on a loaded machine.
    expect(replacedMs).toBeLessThan(PROBE_MS * 1.1 + 4_000);
    rows = await statusJson(children, configPath, { env });
    expect(rows.find((r) => r.clientId === E)?.state).toBe('valid');

    keeper.proc.kill('SIGTERM');
    const exit = await keeper.proc.waitForExit(15_000);
    expect(exit.code, keeper.proc.dump()).toBe(0);
  }, 180_000);
});
