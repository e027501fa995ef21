import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
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
  tempDir,
  writeSecretFile,
} from '../helpers/cli.js';

// Issue 4 §2: "one failing or hanging sink never blocks the others or the keeper".
// Real time, not a fake clock: the keeper is a spawned process whose clock a test cannot drive.
const children = new Children();
afterEach(() => children.killAll());

it('a hanging exec hook does not stop the keeper renewing the account', async () => {
  const ID = '1000000701';
  const SECRET = 'KRSXG5CTMVRXEZLUKN2XAZLDNFQWY4ZA';
  const sim = await startSimulator({
    accounts: [{ clientId: ID, pin: '493817', totpSecret: SECRET }],
    clock: systemClock,
    tokenLifetimeMs: 30_000,
    generateIntervalMs: 10_000,
  });
  try {
    const dir = tempDir();
    const config = writeSecretFile(
      join(dir, 'config.yaml'),
      configYaml({
        simUrl: sim.baseUrl,
        accounts: [
          {
            clientId: ID,
            name: 'a',
            pin: '493817',
            totpSecret: SECRET,
            sinksYaml:
              fileSinkYaml('./tokens/a.json') +
              `      - type: exec\n        command: ["${process.execPath}", "-e", "setTimeout(() => {}, 40000)"]\n        timeout: 25s\n`,
          },
        ],
      }),
    );
    await startKeeper(children, config);
    await sleep(45_000);
    const token = readJsonSink(join(dir, 'tokens', 'a.json'))?.accessToken ?? '';
    expect(callsOf(sim.stats(), ID).renew, 'renewals in 45 s of 30-s tokens').toBeGreaterThanOrEqual(1);
    expect(sim.isLive(token), 'the file sink holds a live token').toBe(true);
  } finally {
    await sim.close();
  }
}, 90_000);
