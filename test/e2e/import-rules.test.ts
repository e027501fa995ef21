import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { startSimulator } from '../../src/sim/index.js';
import type { Simulator } from '../../src/sim/simulator-api.js';
import { Children, configYaml, tempDir, writeSecretFile } from '../helpers/cli.js';

/*
 * Issue 14, items 3 and 5: a forged token must not replace the live one, and a token input is
 * bounded. The CLI is spawned; Dhan is the simulator, which knows the tokens it issued.
 */

const PIN = '493817';
const TOTP_SECRET = 'KRSXG5CTMVRXEZLUKN2XAZLDNFQWY4ZA';
const WEB = '1000000601';
const children = new Children();
let sim: Simulator;
let configPath: string;

/** The token with its payload rewritten: what an attacker can do without Dhan's key. */
function forge(token: string, claims: Record<string, unknown>): string {
  const [header, payload, signature] = token.split('.');
  const body = {
    ...(JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as Record<string, unknown>),
    ...claims,
  };
  return `${header}.${Buffer.from(JSON.stringify(body)).toString('base64url')}.${signature}`;
}

async function currentToken(): Promise<string> {
  const res = await children.run(['token', WEB, '--config', configPath]);
  return res.stdout.trim();
}

beforeAll(async () => {
  sim = await startSimulator({ accounts: [{ clientId: WEB, pin: PIN, totpSecret: TOTP_SECRET }], clock: systemClock });
  const dir = tempDir();
  configPath = writeSecretFile(
    join(dir, 'config.yaml'),
    configYaml({ simUrl: sim.baseUrl, accounts: [{ clientId: WEB, name: 'web', mode: 'renew-only' }] }),
  );
});
afterAll(() => sim.close());
afterEach(() => children.killAll());

describe('import', () => {
  it('verifies with Dhan by default, and a forged token never replaces the live one', async () => {
    const web = sim.issueWebToken(WEB);
    const first = await children.run(['import', WEB, '--config', configPath], { input: web.accessToken });
    expect(first.code, first.proc.dump()).toBe(0);
    expect(first.stderr).toMatch(/verified with Dhan/);
    expect(await currentToken()).toBe(web.accessToken);

    const nowS = Math.floor(Date.now() / 1000);
    const tenYears = forge(web.accessToken, { exp: nowS + 10 * 365 * 86400, iat: nowS });
    const byDefault = await children.run(['import', WEB, '--config', configPath], { input: tenYears });
    expect(byDefault.code).toBe(1);
    expect(byDefault.stderr).toMatch(/DH-901/);

    const offline = await children.run(['import', WEB, '--no-verify', '--config', configPath], { input: tenYears });
    expect(offline.code).toBe(1);
    expect(offline.stderr).toMatch(/not one of Dhan's/);

    // A plausible expiry, unverified, still may not push out the live token.
    const plausible = forge(web.accessToken, { exp: nowS + 20 * 3600, iat: nowS - 4 * 3600 });
    const replace = await children.run(['import', WEB, '--no-verify', '--config', configPath], { input: plausible });
    expect(replace.code).toBe(1);
    expect(replace.stderr).toMatch(/live token/);

    expect(await currentToken()).toBe(web.accessToken);
    for (const r of [byDefault, offline, replace])
      expect(r.stderr + r.stdout).not.toContain(web.accessToken.split('.')[2]!);
  });

  it('refuses a token input larger than a token at once, from a file or stdin', async () => {
    const started = Date.now();
    const zero = await children.run(['import', WEB, '--token-file', '/dev/zero', '--config', configPath], {
      timeoutMs: 20_000,
    });
    expect(zero.code, zero.proc.dump()).toBe(2);
    expect(zero.stderr).toMatch(/--token-file \/dev\/zero holds more than \d+ bytes/);
    const big = await children.run(['import', WEB, '--config', configPath], { input: 'x'.repeat(2 * 1024 * 1024) });
    expect(big.code, big.proc.dump()).toBe(2);
    expect(big.stderr).toMatch(/stdin holds more than \d+ bytes/);
    // Not a timing assertion: a read of /dev/zero to the end would never finish at all.
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});
