import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { startSimulator } from '../../src/sim/index.js';
import type { Simulator } from '../../src/sim/simulator-api.js';
import {
  Children,
  configYaml,
  fileSinkYaml,
  readJsonSink,
  startKeeper,
  tempDir,
  waitUntil,
  writeSecretFile,
  type RunningKeeper,
} from '../helpers/cli.js';
import { dropSchemas, PG_URL, uniqueSchema, withAdmin } from '../helpers/postgres.js';

/*
 * Two keepers on one PostgreSQL schema, as two VPS would run them, and the CLI from a third
 * machine's config (no keeper of its own): who leads is visible everywhere, commands reach the
 * leader, a standby serves and writes its own sink, and a SIGKILLed leader is replaced. The
 * failure modes under load are test/e2e/ha-chaos.test.ts.
 */

const PIN = '271828';
const TOTP_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const CLIENT = '1000000901';
const KEY = 'ha-cli-bot-key-0123456789abcdef';
/** Trust auth never asks for it; the keepers still read it and must never print it. */
const PG_PASSWORD = 'pg-pw-never-printed-4f1c9e';
const children = new Children();
const schema = uniqueSchema('dtk_ha_cli');
let sim: Simulator;
let dir: string;

function config(name: string, sink: boolean): string {
  const yaml = configYaml({
    simUrl: sim.baseUrl,
    minGenerateInterval: '1s',
    serverYaml: `  listen: 127.0.0.1:0\n  apiKeys:\n    - name: bot\n      key: ${KEY}\n      clients: ["*"]`,
    extraYaml: 'ha:\n  takeoverAfter: 5s\n',
    accounts: [
      {
        clientId: CLIENT,
        name: 'main',
        pin: PIN,
        totpSecret: TOTP_SECRET,
        ...(sink ? { sinksYaml: fileSinkYaml(`./${name}.json`) } : {}),
      },
    ],
  }).replace(
    'storage:\n  path: ./keeper.db',
    `storage:\n  url: ${PG_URL}\n  schema: ${schema}\n  passwordFile: ./pg-password`,
  );
  return writeSecretFile(join(dir, `${name}.yaml`), yaml);
}

async function leaderOf(keepers: readonly RunningKeeper[]): Promise<RunningKeeper> {
  return waitUntil(() => keepers.find((k) => k.proc.logLines().some((l) => l['msg'] === 'this keeper leads now')), {
    timeoutMs: 20_000,
    what: 'a keeper to lead',
  });
}

/** Every HTTP answer the test read, for the leak check at the end. */
const served: string[] = [];

async function statusRows(
  url: string,
): Promise<Array<{ state: string; leader?: { pid: number; host: string } | null }>> {
  const res = await fetch(`${url}/v1/status`, { headers: { authorization: `Bearer ${KEY}` } });
  expect(res.status).toBe(200);
  const text = await res.text();
  served.push(text);
  return JSON.parse(text) as Array<{ state: string; leader?: { pid: number; host: string } | null }>;
}

beforeAll(async () => {
  sim = await startSimulator({
    accounts: [{ clientId: CLIENT, pin: PIN, totpSecret: TOTP_SECRET }],
    clock: systemClock,
    generateIntervalMs: 1_000,
  });
  dir = tempDir('dtk-ha-cli-');
  writeSecretFile(join(dir, 'pg-password'), `${PG_PASSWORD}\n`);
});
afterEach(() => children.killAll());
afterAll(async () => {
  await sim.close();
  await dropSchemas([schema]);
});

describe('two keepers on PostgreSQL, driven from the CLI', () => {
  it('shows the leader, hands commands to it from any machine, serves from the standby, and fails over', async () => {
    const vpsA = config('vps-a', true);
    const vpsB = config('vps-b', true);
    const admin = config('admin', false);
    const a = await startKeeper(children, vpsA);
    const b = await startKeeper(children, vpsB);
    const leader = await leaderOf([a, b]);
    const standby = leader === a ? b : a;
    const standbySink = join(dir, leader === a ? 'vps-b.json' : 'vps-a.json');

    // Every keeper's sink gets the leader's token; only the leader called Dhan.
    const first = await waitUntil(() => readJsonSink(standbySink)?.accessToken, {
      timeoutMs: 20_000,
      what: "the standby's sink",
    });
    expect(sim.isLive(first)).toBe(true);

    // Who leads, from the admin machine's CLI and from the standby's API.
    const leaderPid = leader.proc.pid;
    const text = await children.run(['status', '--config', admin]);
    expect(text.code, text.proc.dump()).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^leader: pid ${leaderPid} on \\S+ since `));
    const json = await children.run(['status', '--json', '--config', admin]);
    expect((JSON.parse(json.stdout) as Array<{ leader: { pid: number } }>)[0]?.leader.pid).toBe(leaderPid);
    await waitUntil(async () => (await statusRows(standby.url))[0]?.leader?.pid === leaderPid, {
      timeoutMs: 10_000,
      what: "the standby's /v1/status to name the leader",
    });

    // A renewal asked from the admin machine is carried out by the leader, and the standby's
    // long-poll and sink hear of it.
    const fingerprint = (await (
      await fetch(`${standby.url}/v1/tokens/${CLIENT}`, { headers: { authorization: `Bearer ${KEY}` } })
    ).json()) as { fingerprint: string };
    const poll = fetch(`${standby.url}/v1/tokens/${CLIENT}?after=${fingerprint.fingerprint}&wait=30`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    const renew = await children.run(['renew', CLIENT, '--config', admin]);
    expect(renew.code, renew.proc.dump()).toBe(0);
    expect(renew.stdout).toMatch(/renewed: new token [0-9a-f]{12}/);
    const woken = await poll;
    expect(woken.status).toBe(200);
    const renewed = (await woken.json()) as { accessToken: string };
    expect(sim.isLive(renewed.accessToken)).toBe(true);
    expect(sim.isLive(first)).toBe(false);
    await waitUntil(() => readJsonSink(standbySink)?.accessToken === renewed.accessToken, {
      timeoutMs: 10_000,
      what: "the renewed token in the standby's sink",
    });

    // The leader dies; the standby takes over within ha.takeoverAfter and keeps the token.
    const killedAt = Date.now();
    leader.proc.kill('SIGKILL');
    await waitUntil(() => standby.proc.logLines().some((l) => l['msg'] === 'this keeper leads now'), {
      timeoutMs: 15_000,
      what: 'the standby to take over',
    });
    console.log(`ha-cli: takeover ${Date.now() - killedAt} ms after SIGKILL`);
    const after = await children.run(['status', '--config', admin]);
    expect(after.stdout).toMatch(new RegExp(`^leader: pid ${standby.proc.pid} on `));
    expect((await statusRows(standby.url))[0]?.state).toBe('valid');
    served.push(await (await fetch(`${standby.url}/metrics`)).text());
    const history = await children.run(['history', '--config', admin]);
    expect(history.code, history.proc.dump()).toBe(0);

    // No keeper left: once the last heartbeat is stale the CLI says so instead of acting
    // without leadership (before that, it queues the command and notices the leader is gone).
    standby.proc.kill('SIGKILL');
    await standby.proc.exited;
    const orphan = await waitUntil(
      async () => {
        const res = await children.run(['renew', CLIENT, '--config', admin]);
        expect(res.code).not.toBe(0);
        return /no keeper leads/.test(res.stderr) ? res : undefined;
      },
      { timeoutMs: 45_000, intervalMs: 1_000, what: 'the CLI to see no leader' },
    );
    expect(orphan.code).toBe(1);

    // Nothing any process printed, and no status, metrics or history answer, carries a secret:
    // the database password, the TOTP secret or any token the keepers stored. (The PIN, six
    // digits a timestamp may contain by chance, is test/e2e/leak.test.ts's, with a PIN made for it.)
    const stored = await withAdmin(
      async (client) =>
        (await client.query<{ access_token: string }>(`SELECT access_token FROM "${schema}".tokens`)).rows,
    );
    const secrets: Array<[string, string]> = [
      ['database password', PG_PASSWORD],
      ['TOTP secret', TOTP_SECRET],
      ...stored.map(({ access_token: token }): [string, string] => [`token …${token.slice(-6)}`, token]),
    ];
    expect(stored.length).toBeGreaterThanOrEqual(2);
    const printed = `${children.transcript()}\n${served.join('\n')}`;
    expect(secrets.filter(([, secret]) => printed.includes(secret)).map(([what]) => what)).toEqual([]);
  });
});
