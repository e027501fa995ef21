import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { startSimulator } from '../../src/sim/index.js';
import type { Simulator } from '../../src/sim/simulator-api.js';
import {
  Children,
  REPO_ROOT,
  configYaml,
  fileSinkYaml,
  readJsonSink,
  statusJson,
  tempDir,
  writeSecretFile,
} from '../helpers/cli.js';
import { totpAt } from '../helpers/totp.js';

/*
 * Issue 2 "Done when", checked from outside: the built CLI spawned as a process, judged by its
 * exit code and by what it prints where. The simulator in this process only hands out web tokens
 * for `import`; nothing here needs a keeper daemon.
 */

const children = new Children();
afterEach(() => children.killAll());

// Unusual digits, so that a PIN found in output cannot be a coincidence.
const PIN = '493817';
// 32 base32 characters (160 bits): otplib's default guardrails accept it as is.
const TOTP_SECRET = 'KRSXG5CTMVRXEZLUKN2XAZLDNFQWY4ZA';
const IMPORT_CLIENT = '1000000201';
const FILE_CLIENT = '1000000202';
const EMPTY_CLIENT = '1000000203';
const OPAQUE_CLIENT = '1000000204';

describe('usage, version and exit codes', () => {
  it('--help, --version and version exit 0; an unknown command exits 2', async () => {
    const help = await children.run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: dhan-token-keeper/);
    expect(help.stdout).toMatch(/check-config/);

    const subHelp = await children.run(['import', '--help']);
    expect(subHelp.code).toBe(0);
    expect(subHelp.stdout).toMatch(/--token-file/);

    const version = await children.run(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);

    const versionCmd = await children.run(['version']);
    expect(versionCmd.code).toBe(0);
    expect(versionCmd.stdout).toContain(version.stdout.trim());

    const unknown = await children.run(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command/);
    expect(unknown.stdout).toBe('');
  });
});

describe('check-config', () => {
  it('passes config.example.yaml when its variables are set, and prints no secret', async () => {
    const res = await children.run(['check-config', '--config', join(REPO_ROOT, 'config.example.yaml')], {
      env: { DHAN_PIN: '123456', DHAN_TOTP_SECRET: 'JBSWY3DPEHPK3PXP' },
    });
    expect(res.code, res.proc.dump()).toBe(0);
    expect(res.stdout).toMatch(/is valid/);
    expect(res.stdout).toMatch(/1000000001 \(main\): mode auto/);
    for (const secret of ['123456', 'JBSWY3DPEHPK3PXP', 'jbswy3dpehpk3pxp']) {
      expect(res.stdout).not.toContain(secret);
      expect(res.stderr).not.toContain(secret);
    }
  });

  it('names the missing variable when the example config is checked without it', async () => {
    const res = await children.run(['check-config', '--config', join(REPO_ROOT, 'config.example.yaml')], {
      env: { DHAN_TOTP_SECRET: 'JBSWY3DPEHPK3PXP' },
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/DHAN_PIN/);
  });

  it('reports every problem of a bad config at once, each with its key path, exit 2, no stack trace', async () => {
    const dir = tempDir();
    const path = writeSecretFile(
      join(dir, 'bad.yaml'),
      `storage:
  paht: ./keeper.db
dhan:
  requestTimeout: 10 parsecs
accounts:
  - clientId: "1000000001"
    name: main
    mode: auto
    pin: "12"
    totpSecret: JBSWY3DPEHPK3PXP
`,
    );
    const res = await children.run(['check-config', '--config', path]);
    expect(res.code, res.proc.dump()).toBe(2);
    expect(res.stderr).toMatch(/storage\.paht/);
    expect(res.stderr).toMatch(/dhan\.requestTimeout/);
    expect(res.stderr).toMatch(/accounts\[0\]\.pin/);
    // A stack trace has "    at fn (file:line)" frames.
    expect(res.stderr).not.toMatch(/^\s+at .+:\d+/m);
    expect(res.stdout).toBe('');
  });

  it('exits 2 for a missing config file, saying how to point at one', async () => {
    const dir = tempDir();
    const res = await children.run(['check-config', '--config', join(dir, 'nope.yaml')]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/nope\.yaml/);
    expect(res.stderr).not.toMatch(/^\s+at .+:\d+/m);
  });

  it('finds the config through DHAN_TOKEN_KEEPER_CONFIG when --config is absent', async () => {
    const dir = tempDir();
    const path = writeSecretFile(
      join(dir, 'env-config.yaml'),
      configYaml({
        simUrl: 'http://127.0.0.1:9',
        accounts: [{ clientId: '1000000299', name: 'viaenv', pin: PIN, totpSecret: TOTP_SECRET }],
      }),
    );
    // The working directory has no config.yaml, so only the variable can lead to this file.
    const res = await children.run(['check-config'], { env: { DHAN_TOKEN_KEEPER_CONFIG: path }, cwd: dir });
    expect(res.code, res.proc.dump()).toBe(0);
    expect(res.stdout).toContain(path);
    expect(res.stdout).toMatch(/1000000299 \(viaenv\)/);
    expect(res.stdout).not.toContain(PIN);
  });

  it('prints the probe interval the rate limit stretches it to', async () => {
    const dir = tempDir();
    const accounts = ['1000000301', '1000000302', '1000000303'].map((clientId, i) => ({
      clientId,
      name: `a${i}`,
      pin: PIN,
      totpSecret: TOTP_SECRET,
    }));
    const check = async (renewalYaml: string): Promise<string> => {
      const path = writeSecretFile(
        join(dir, 'config.yaml'),
        configYaml({ simUrl: 'http://127.0.0.1:9', accounts, renewalYaml }),
      );
      const res = await children.run(['check-config', '--config', path]);
      expect(res.code, res.proc.dump()).toBe(0);
      return res.stdout;
    };
    // Three accounts at one probe per 1,000 s in all: each every 50 minutes.
    expect(await check('  maxProbeRate: 0.001')).toContain(
      'probe every 15m, at most 0.001/s in all: every 50m for 3 accounts,',
    );
    expect(await check('')).toContain('probe every 15m, at most 3/s in all,');
    expect(await check('  maxProbeRate: "off"')).toContain('probe every 15m, no limit on the rate,');
    expect(await check('  probeInterval: "off"')).toContain('probe off,');
  });
});

describe('simulate', () => {
  it('prints its base URL first and behaves as Dhan does to an independent client', async () => {
    const dir = tempDir();
    const accounts = writeSecretFile(
      join(dir, 'sim-accounts.yaml'),
      `- clientId: "1000000101"\n  pin: "${PIN}"\n  totpSecret: ${TOTP_SECRET}\n  name: E2E TRADER\n`,
    );
    const sim = children.spawn([
      'simulate',
      '--listen',
      '127.0.0.1:0',
      '--accounts',
      accounts,
      '--token-lifetime',
      '30s',
      '--generate-interval',
      '10s',
    ]);
    const firstLine = await sim.waitForLine(() => true, 20_000);
    expect(sim.stdoutLines()[0]).toBe(firstLine);
    expect(firstLine).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const base = firstLine;

    // Generation: POST with PIN and a TOTP code in the query, as Dhan documents it (docs/dhan-quirks.md, "Endpoints").
    const wrongPin = await fetch(
      `${base}/app/generateAccessToken?dhanClientId=1000000101&pin=000000&totp=${totpAt(TOTP_SECRET, Date.now())}`,
      { method: 'POST' },
    );
    const wrongPinBody = (await wrongPin.json()) as { status?: string };
    expect(wrongPinBody.status).toBe('error');
    // As the field reports Dhan: the refused attempt re-armed the window, which is judged first.
    const tooSoon = await fetch(
      `${base}/app/generateAccessToken?dhanClientId=1000000101&pin=${PIN}&totp=${totpAt(TOTP_SECRET, Date.now())}`,
      { method: 'POST' },
    );
    expect(tooSoon.status).toBe(200);
    expect(await tooSoon.json()).toEqual({ status: 'error', message: 'Token can be generated once every 2 minutes.' });
    // The friendlier Dhan is an option of the control surface: only a token arms the window.
    const friendly = await fetch(`${base}/__sim/accounts/1000000101`, {
      method: 'PATCH',
      body: JSON.stringify({ generateWindow: 'success-only' }),
    });
    expect(friendly.status).toBe(204);

    const gen = await fetch(
      `${base}/app/generateAccessToken?dhanClientId=1000000101&pin=${PIN}&totp=${totpAt(TOTP_SECRET, Date.now())}`,
      { method: 'POST' },
    );
    expect(gen.status).toBe(200);
    const generated = (await gen.json()) as { dhanClientId: string; accessToken: string; expiryTime: string };
    expect(generated.dhanClientId).toBe('1000000101');
    expect(generated.accessToken.split('.')).toHaveLength(3);
    // IST wall-clock time without an offset; the token lives 30 s.
    expect(generated.expiryTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?$/);
    const expiresAt = Date.parse(`${generated.expiryTime}+05:30`);
    expect(Math.abs(expiresAt - (Date.now() + 30_000))).toBeLessThan(5_000);

    const profile = await fetch(`${base}/v2/profile`, { headers: { 'access-token': generated.accessToken } });
    expect(profile.status).toBe(200);
    expect(((await profile.json()) as { dhanClientId: string }).dhanClientId).toBe('1000000101');

    // Renewal is a GET with access-token and dhanClientId headers; POST is DH-905.
    const post = await fetch(`${base}/v2/RenewToken`, {
      method: 'POST',
      headers: { 'access-token': generated.accessToken, dhanClientId: '1000000101' },
    });
    expect(post.status).toBe(400);
    expect(((await post.json()) as { errorCode: string }).errorCode).toBe('DH-905');

    const renew = await fetch(`${base}/v2/RenewToken`, {
      headers: { 'access-token': generated.accessToken, dhanClientId: '1000000101' },
    });
    expect(renew.status).toBe(200);
    const renewed = (await renew.json()) as { accessToken: string };
    expect(renewed.accessToken).not.toBe(generated.accessToken);

    // The renewal killed the old token at once.
    const oldProfile = await fetch(`${base}/v2/profile`, { headers: { 'access-token': generated.accessToken } });
    expect(((await oldProfile.json()) as { errorCode: string }).errorCode).toBe('DH-901');
    const newProfile = await fetch(`${base}/v2/profile`, { headers: { 'access-token': renewed.accessToken } });
    expect(newProfile.status).toBe(200);

    const stats = (await (await fetch(`${base}/__sim/stats`)).json()) as {
      wrongMethod: number;
      calls: { renew: Record<string, number> };
    };
    expect(stats.wrongMethod).toBe(1);
    expect(stats.calls.renew['1000000101']).toBe(2);

    sim.kill('SIGTERM');
    expect((await sim.waitForExit(10_000)).code).toBe(0);
  });

  it('exits 2 naming --accounts when the accounts file is missing', async () => {
    const res = await children.run(['simulate', '--accounts', join(tempDir(), 'none.yaml')]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--accounts/);
  });
});

describe('import, token, status and history without a daemon', () => {
  let sim: Simulator;
  let dir: string;
  let configPath: string;

  beforeAll(async () => {
    sim = await startSimulator({
      accounts: [IMPORT_CLIENT, FILE_CLIENT, EMPTY_CLIENT, OPAQUE_CLIENT].map((clientId) => ({
        clientId,
        pin: PIN,
        totpSecret: TOTP_SECRET,
      })),
      clock: systemClock,
    });
    sim.setAccountOptions(OPAQUE_CLIENT, { tokenFormat: 'opaque' });
    dir = tempDir();
    configPath = writeSecretFile(
      join(dir, 'config.yaml'),
      configYaml({
        simUrl: sim.baseUrl,
        accounts: [
          {
            clientId: IMPORT_CLIENT,
            name: 'imported',
            mode: 'renew-only',
            sinksYaml: fileSinkYaml('./tokens/imported.json'),
          },
          { clientId: FILE_CLIENT, name: 'fromfile', mode: 'renew-only' },
          { clientId: EMPTY_CLIENT, name: 'empty', mode: 'renew-only' },
          { clientId: OPAQUE_CLIENT, name: 'opaque', mode: 'renew-only' },
        ],
      }),
    );
  });
  afterAll(() => sim.close());

  it('imports a web token from stdin; token prints exactly it; status --json shows it valid with its real expiry', async () => {
    const web = sim.issueWebToken(IMPORT_CLIENT);
    const imported = await children.run(['import', IMPORT_CLIENT, '--config', configPath], {
      input: `${web.accessToken}\n`,
    });
    expect(imported.code, imported.proc.dump()).toBe(0);
    expect(imported.stdout).not.toContain(web.accessToken);
    expect(imported.stderr).not.toContain(web.accessToken);

    const token = await children.run(['token', IMPORT_CLIENT, '--config', configPath]);
    expect(token.code, token.proc.dump()).toBe(0);
    expect(token.stdout).toBe(`${web.accessToken}\n`);

    // The account name works wherever a client id does.
    const byName = await children.run(['token', 'imported', '--config', configPath]);
    expect(byName.stdout).toBe(`${web.accessToken}\n`);

    const before = Date.now();
    const rows = await statusJson(children, configPath);
    const row = rows.find((r) => r.clientId === IMPORT_CLIENT);
    expect(row?.state).toBe('valid');
    expect(row?.source).toBe('web');
    expect(row?.expiresAt).toMatch(/[+-]\d\d:\d\d$|Z$/);
    // JWT exp has whole seconds: the keeper's expiry is the simulator's, floored to a second.
    const shownExpiry = Date.parse(row?.expiresAt ?? '');
    expect(Math.abs(shownExpiry - web.expiresAt)).toBeLessThan(1_000);
    const expectedLeft = (web.expiresAt - before) / 1000;
    expect(row?.secondsLeft).toBeGreaterThan(expectedLeft - 30);
    expect(row?.secondsLeft).toBeLessThanOrEqual(expectedLeft + 1);
    expect(JSON.stringify(rows)).not.toContain(web.accessToken);

    // The file sink got it too, as a consumer would read it.
    expect(readJsonSink(join(dir, 'tokens', 'imported.json'))?.accessToken).toBe(web.accessToken);
  });

  it('imports from --token-file', async () => {
    const web = sim.issueWebToken(FILE_CLIENT);
    const file = writeSecretFile(join(dir, 'pasted-token.txt'), `  ${web.accessToken}  \n`);
    const res = await children.run(['import', FILE_CLIENT, '--token-file', file, '--config', configPath]);
    expect(res.code, res.proc.dump()).toBe(0);
    const token = await children.run(['token', FILE_CLIENT, '--config', configPath]);
    expect(token.stdout).toBe(`${web.accessToken}\n`);
  });

  it('refuses garbage on stdin with exit 2 and stores nothing', async () => {
    const res = await children.run(['import', EMPTY_CLIENT, '--config', configPath], {
      input: 'this is not a token; "quotes" and\ttabs\n',
    });
    expect(res.code, res.proc.dump()).toBe(2);
    expect(res.stderr).toMatch(/error:/);
    const empty = await children.run(['import', EMPTY_CLIENT, '--config', configPath], { input: '' });
    expect(empty.code).toBe(2);
    const token = await children.run(['token', EMPTY_CLIENT, '--config', configPath]);
    expect(token.code).toBe(1);
  });

  it('token exits 1 with a message on stderr and nothing on stdout when no token is live', async () => {
    const res = await children.run(['token', EMPTY_CLIENT, '--config', configPath]);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toMatch(new RegExp(`no live token for ${EMPTY_CLIENT}`));
    const rows = await statusJson(children, configPath);
    expect(rows.find((r) => r.clientId === EMPTY_CLIENT)?.state).toBe('missing');
  });

  it('history --json is an array, newest first, holding the imports', async () => {
    const res = await children.run(['history', '--json', '--config', configPath]);
    expect(res.code, res.proc.dump()).toBe(0);
    const events = JSON.parse(res.stdout) as Array<{
      clientId: string | null;
      kind: string;
      result: string;
      at: number | string;
    }>;
    expect(Array.isArray(events)).toBe(true);
    const imports = events.filter((e) => e.kind === 'import' && e.result === 'success');
    expect(imports.map((e) => e.clientId)).toEqual([FILE_CLIENT, IMPORT_CLIENT]);
    const times = events.map((e) => (typeof e.at === 'number' ? e.at : Date.parse(e.at)));
    expect(times).toEqual([...times].sort((a, b) => b - a));

    const limited = await children.run([
      'history',
      '--json',
      '--client',
      IMPORT_CLIENT,
      '--limit',
      '1',
      '--config',
      configPath,
    ]);
    const one = JSON.parse(limited.stdout) as Array<{ clientId: string }>;
    expect(one).toHaveLength(1);
    expect(one[0]?.clientId).toBe(IMPORT_CLIENT);

    const human = await children.run(['history', '--config', configPath]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/import/);
  });

  it("reads an opaque token's expiry from --expiry-time or --verify, right on a UTC server", async () => {
    // TZ=UTC is where reading Dhan's offset-less IST expiryTime as local time is 5.5 hours off.
    const env = { TZ: 'UTC' };
    const web = sim.issueWebToken(OPAQUE_CLIENT);
    expect(web.accessToken).not.toContain('.');
    const expiryOf = async (): Promise<number> =>
      Date.parse(
        (await statusJson(children, configPath, { env })).find((r) => r.clientId === OPAQUE_CLIENT)?.expiresAt ?? '',
      );

    // Nothing to read the expiry from: refused, saying what to pass.
    const bare = await children.run(['import', OPAQUE_CLIENT, '--no-verify', '--config', configPath], {
      env,
      input: web.accessToken,
    });
    expect(bare.code, bare.proc.dump()).toBe(2);
    expect(bare.stderr).toMatch(/--expiry-time/);

    const withTime = await children.run(
      ['import', OPAQUE_CLIENT, '--no-verify', '--expiry-time', web.expiryTime, '--config', configPath],
      { env, input: web.accessToken },
    );
    expect(withTime.code, withTime.proc.dump()).toBe(0);
    expect(Math.abs((await expiryOf()) - web.expiresAt)).toBeLessThan(1_000);

    // /v2/profile gives the validity to the minute (DD/MM/YYYY HH:mm, IST).
    const verified = await children.run(['import', OPAQUE_CLIENT, '--verify', '--config', configPath], {
      env,
      input: web.accessToken,
    });
    expect(verified.code, verified.proc.dump()).toBe(0);
    const shown = await expiryOf();
    expect(shown).toBeLessThanOrEqual(web.expiresAt);
    expect(web.expiresAt - shown).toBeLessThan(60_000);

    // --verify refuses a token Dhan no longer accepts.
    sim.issueWebToken(OPAQUE_CLIENT); // issuing a new one kills web.accessToken, as Dhan does
    const dead = await children.run(['import', OPAQUE_CLIENT, '--verify', '--config', configPath], {
      env,
      input: web.accessToken,
    });
    expect(dead.code).toBe(1);
    expect(dead.stderr).toMatch(/DH-901/);
    expect(dead.stderr).not.toContain(web.accessToken);
  });

  it('sends warnings to stderr only: token and --json stay clean for scripts', async () => {
    // A config readable by others draws a warning on every command.
    const loose = join(dir, 'loose.yaml');
    writeFileSync(
      loose,
      configYaml({
        simUrl: sim.baseUrl,
        accounts: [{ clientId: IMPORT_CLIENT, name: 'imported', mode: 'renew-only' }],
      }),
      { mode: 0o644 },
    );
    const expected = (await children.run(['token', IMPORT_CLIENT, '--config', configPath])).stdout;

    const token = await children.run(['token', IMPORT_CLIENT, '--config', loose]);
    expect(token.code).toBe(0);
    expect(token.stderr).toMatch(/warning:/);
    expect(token.stdout).toBe(expected);
    expect(token.stdout).toMatch(/^[^\n]+\n$/);

    const status = await children.run(['status', '--json', '--config', loose]);
    expect(status.stderr).toMatch(/warning:/);
    expect(() => JSON.parse(status.stdout) as unknown).not.toThrow();
    const history = await children.run(['history', '--json', '--config', loose]);
    expect(() => JSON.parse(history.stdout) as unknown).not.toThrow();
  });
});
