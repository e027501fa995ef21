import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { startSimulator } from '../../src/sim/index.js';
import type { Simulator } from '../../src/sim/simulator-api.js';
import {
  Children,
  configYaml,
  sleep,
  startKeeper,
  tempDir,
  waitUntil,
  writeSecretFile,
  type RunningKeeper,
} from '../helpers/cli.js';

/*
 * /readyz from outside: a `run` whose second account is still waiting for its first token
 * (Dhan is slow to answer its generation) is not ready, even though the keeper is busy on it
 * and the first account's token is served.
 */

const PIN = '493817';
const TOTP_SECRET = 'KRSXG5CTMVRXEZLUKN2XAZLDNFQWY4ZA';
const FAST = '1000000501';
const SLOW = '1000000502';
const KEY = randomBytes(24).toString('hex');
const SLOW_GENERATION_MS = 10_000;

const children = new Children();
let sim: Simulator;
let keeper: RunningKeeper;

const get = (path: string, key?: string): Promise<Response> =>
  fetch(`${keeper.url}${path}`, { headers: key === undefined ? {} : { authorization: `Bearer ${key}` } });

beforeAll(async () => {
  sim = await startSimulator({
    accounts: [FAST, SLOW].map((clientId) => ({ clientId, pin: PIN, totpSecret: TOTP_SECRET })),
    clock: systemClock,
  });
  sim.addFault({ endpoint: 'generate', clientId: SLOW, action: { type: 'delay', ms: SLOW_GENERATION_MS } });
  const dir = tempDir();
  const configPath = writeSecretFile(
    join(dir, 'config.yaml'),
    configYaml({
      simUrl: sim.baseUrl,
      requestTimeout: '30s',
      serverYaml: `  listen: 127.0.0.1:0\n  apiKeys:\n    - { name: bot, key: ${KEY}, clients: ["*"] }`,
      accounts: [
        { clientId: FAST, name: 'fast', pin: PIN, totpSecret: TOTP_SECRET },
        { clientId: SLOW, name: 'slow', pin: PIN, totpSecret: TOTP_SECRET },
      ],
    }),
  );
  keeper = await startKeeper(children, configPath);
}, 60_000);

afterAll(async () => {
  await children.killAll();
  await sim?.close();
});

describe('/readyz', () => {
  it('stays 503 while an account has no token, and turns 200 once it has one', async () => {
    await waitUntil(async () => (await get(`/v1/tokens/${FAST}`, KEY)).status === 200, {
      timeoutMs: 30_000,
      what: "the fast account's token",
    });

    // Sample while the slow account has no token: its token answer after the probe proves it had none during it.
    let sampled = 0;
    for (;;) {
      const ready = await get('/readyz');
      const body = (await ready.json()) as { status: string; notReady?: string[] };
      if ((await get(`/v1/tokens/${SLOW}`, KEY)).status !== 503) break;
      expect(ready.status).toBe(503);
      expect(body.status).toBe('not-ready');
      expect(body.notReady?.[0]).toBe('1 of 2 account(s) have no live token');
      expect(body.notReady?.join('\n')).toContain(SLOW);
      expect(body.notReady?.join('\n')).not.toContain(FAST);
      sampled++;
      await sleep(250);
    }
    expect(sampled).toBeGreaterThan(0);

    await waitUntil(async () => (await get('/readyz')).status === 200, {
      timeoutMs: 30_000,
      what: '/readyz 200 once both accounts have a token',
    });
    expect((await get(`/v1/tokens/${SLOW}`, KEY)).status).toBe(200);
  });
});
