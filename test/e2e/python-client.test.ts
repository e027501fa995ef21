import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { startSimulator } from '../../src/sim/index.js';
import type { Simulator } from '../../src/sim/simulator-api.js';
import { CLI_PATH, REPO_ROOT, configYaml, tempDir, writeSecretFile } from '../helpers/cli.js';

/*
 * The Python client's own tests (clients/python/tests, `python3 -m unittest`) against a real
 * keeper and the simulator. They start and restart the keeper themselves (a restart is one
 * of the things they test), so this file only provides the world: the simulator, a config on
 * a fixed free port, and the keys.
 */

const PIN = '771903';
const TOTP_SECRET = 'MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U';
const MAIN = '1000001301';
const SIDE = '1000001302';
const WEBONLY = '1000001303';
const API_KEY = randomBytes(24).toString('hex');
const OTHER_KEY = randomBytes(24).toString('hex');

let sim: Simulator;
let python: ChildProcess | undefined;
let configPath: string;
let port: number;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const found = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(found));
    });
  });
}

beforeAll(async () => {
  sim = await startSimulator({
    accounts: [MAIN, SIDE].map((clientId) => ({ clientId, pin: PIN, totpSecret: TOTP_SECRET })),
    clock: systemClock,
    tokenLifetimeMs: 24 * 3_600_000,
    generateIntervalMs: 1_000,
  });
  port = await freePort();
  configPath = writeSecretFile(
    join(tempDir('dtk-py-'), 'config.yaml'),
    configYaml({
      simUrl: sim.baseUrl,
      minGenerateInterval: '1s',
      serverYaml: `  listen: 127.0.0.1:${port}
  apiKeys:
    - name: bot
      key: ${API_KEY}
      clients: ["*"]
    - name: other
      key: ${OTHER_KEY}
      clients: ["${SIDE}"]`,
      accounts: [
        { clientId: MAIN, name: 'main', pin: PIN, totpSecret: TOTP_SECRET },
        { clientId: SIDE, name: 'side', pin: PIN, totpSecret: TOTP_SECRET },
        { clientId: WEBONLY, name: 'web', mode: 'renew-only' },
      ],
    }),
  );
});

afterAll(async () => {
  // A hung suite must not outlive the test; SIGTERM lets Python's own cleanup stop the keeper it started.
  if (python && python.exitCode === null) python.kill('SIGTERM');
  await sim?.close();
});

describe('the Python client (clients/python)', () => {
  it('passes its unittest suite against a spawned keeper', async () => {
    const child = spawn('python3', ['-m', 'unittest', 'discover', '-v', '-s', 'tests', '-t', '.'], {
      cwd: join(REPO_ROOT, 'clients', 'python'),
      env: {
        ...process.env,
        PYTHONDONTWRITEBYTECODE: '1',
        DTK_NODE: process.execPath,
        DTK_CLI: CLI_PATH,
        DTK_CONFIG: configPath,
        DTK_KEEPER_URL: `http://127.0.0.1:${port}`,
        DTK_API_KEY: API_KEY,
        DTK_OTHER_KEY: OTHER_KEY,
        DTK_CLIENT_ID: MAIN,
        DTK_NO_TOKEN_CLIENT: WEBONLY,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    python = child;
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => {
      child.once('close', resolve);
      child.once('error', (err) => {
        out += `spawn error: ${err.message} — python3 (3.9 or newer) must be installed\n`;
        resolve(null);
      });
    });
    console.log(
      out
        .split('\n')
        .filter((l) => /python follower|^Ran |^OK|FAILED/.test(l))
        .join('\n'),
    );
    expect(code, out).toBe(0);
    // Every test ran; none was skipped.
    expect(out).toMatch(/^Ran 5 tests/m);
    expect(out).not.toMatch(/skipped/);
  }, 180_000);
});
