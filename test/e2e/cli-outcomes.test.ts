import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { startSimulator } from '../../src/sim/index.js';
import type { Simulator } from '../../src/sim/simulator-api.js';
import { Children, configYaml, startKeeper, tempDir, waitUntil, writeSecretFile } from '../helpers/cli.js';

/* Issue 14, item 6: what the CLI says must be what happened. */

const PIN = '493817';
const TOTP_SECRET = 'KRSXG5CTMVRXEZLUKN2XAZLDNFQWY4ZA';
const AUTO = '1000000701';
const children = new Children();
let sim: Simulator;
let dir: string;
let configPath: string;

beforeAll(async () => {
  sim = await startSimulator({
    accounts: [{ clientId: AUTO, pin: PIN, totpSecret: TOTP_SECRET }],
    clock: systemClock,
    generateIntervalMs: 1_000,
  });
  dir = tempDir();
  configPath = writeSecretFile(
    join(dir, 'config.yaml'),
    configYaml({
      simUrl: sim.baseUrl,
      minGenerateInterval: '1s',
      accounts: [{ clientId: AUTO, name: 'auto', pin: PIN, totpSecret: TOTP_SECRET }],
    }),
  );
});
afterAll(() => sim.close());
afterEach(() => children.killAll());

function requestRows(): Array<{ status: string; result: string | null }> {
  const db = new Database(join(dir, 'keeper.db'), { readonly: true });
  try {
    return db.prepare('SELECT status, result FROM requests ORDER BY id').all() as Array<{
      status: string;
      result: string | null;
    }>;
  } finally {
    db.close();
  }
}

describe('CLI outcomes', () => {
  it('history --limit out of range is a usage error (exit 2), not a database error', async () => {
    for (const limit of ['9223372036854775807', '0', '-1', '1.5', 'ten']) {
      const res = await children.run(['history', '--limit', limit, '--config', configPath]);
      expect({ limit, code: res.code }).toEqual({ limit, code: 2 });
      expect(res.stderr).toMatch(/--limit/);
      expect(res.stderr).not.toMatch(/datatype mismatch/);
    }
  });

  it('renew reports the outcome of the request: a dead token renewed by generating is a success', async () => {
    const web = sim.issueWebToken(AUTO);
    const imported = await children.run(['import', AUTO, '--config', configPath], { input: web.accessToken });
    expect(imported.code, imported.proc.dump()).toBe(0);
    sim.killTokens(AUTO); // a login elsewhere
    const renew = await children.run(['renew', AUTO, '--config', configPath]);
    expect(renew.code, renew.proc.dump()).toBe(0);
    expect(renew.stdout).toMatch(/generated instead: new token [0-9a-f]{12}/);
  });

  it('notices a daemon that dies mid-command, says so, and the next daemon ends the taken row', async () => {
    // A live token first, and a renewal (no TOTP step or generation interval to wait out) held
    // by the simulator while the keeper dies.
    const imported = await children.run(['import', AUTO, '--config', configPath], {
      input: sim.issueWebToken(AUTO).accessToken,
    });
    expect(imported.code, imported.proc.dump()).toBe(0);
    const keeper = await startKeeper(children, configPath);
    await waitUntil(() => keeper.proc.logLines().some((l) => l['msg'] === 'dhan-token-keeper started'), {
      timeoutMs: 10_000,
      what: 'start',
    });
    sim.addFault({ endpoint: 'renew', clientId: AUTO, action: { type: 'delay', ms: 20_000 } });
    const cli = children.spawn(['renew', AUTO, '--config', configPath]);
    await keeper.proc.waitFor(
      () => keeper.proc.logLines().some((l) => l['msg'] === 'carrying out a command from the CLI'),
      20_000,
      'the daemon taking the command',
    );
    keeper.proc.kill('SIGKILL');
    const started = Date.now();
    const exit = await cli.waitForExit(60_000);
    expect(exit.code, cli.dump()).toBe(1);
    expect(cli.stderr).toMatch(/stopped while carrying out the command/);
    // Far sooner than the 90 s it used to wait (not a timing assertion of the keeper's speed).
    expect(Date.now() - started).toBeLessThan(45_000);
    expect(requestRows().at(-1)?.status).toBe('taken');

    sim.clearFaults();
    const restarted = await startKeeper(children, configPath);
    await waitUntil(() => requestRows().at(-1)?.status === 'failed', {
      timeoutMs: 15_000,
      what: 'the taken row to be failed',
    });
    expect(requestRows().at(-1)?.result).toMatch(/stopped while carrying out/);
    restarted.proc.kill('SIGTERM');
    await restarted.proc.waitForExit(15_000);
  }, 120_000);
});
