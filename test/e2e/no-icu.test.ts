import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { startSimulator } from '../../src/sim/index.js';
import { Children, callsOf, configYaml, startKeeper, tempDir, waitUntil, writeSecretFile } from '../helpers/cli.js';

/*
 * A daemon with the default zone never loads ICU: the first Intl formatter (or anything that
 * needs one) makes V8 load ICU's data for the rest of the process's life, about 8 MB of a
 * keeper's memory. The spawned daemon runs with a preload that records every way into ICU;
 * over a cold start, renewals, probes, sweeps, avoid windows, a refreshAt schedule, the config
 * worker and every read endpoint, it must record none.
 */

const PIN = '493817';
const TOTP_SECRET = 'KRSXG5CTMVRXEZLUKN2XAZLDNFQWY4ZA';
const A = '1000000701';
const B = '1000000702';
const KEY = 'b'.repeat(48);

/** Records the stack of each first entry into ICU to the file named by ICU_TRAP_FILE. */
const TRAP = `
import { appendFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
const out = process.env.ICU_TRAP_FILE;
const note = (what) => appendFileSync(out, '[thread ' + threadId + '] ' + what + '\\n' + new Error().stack.split('\\n').slice(2, 10).join('\\n') + '\\n');
for (const name of Object.getOwnPropertyNames(Intl)) {
  const original = Intl[name];
  if (typeof original !== 'function') continue;
  Intl[name] = new Proxy(original, {
    construct: (target, args, newTarget) => (note('new Intl.' + name), Reflect.construct(target, args, newTarget)),
    apply: (target, self, args) => (note('Intl.' + name), Reflect.apply(target, self, args)),
  });
}
const wrap = (proto, method, label) => {
  const original = proto[method];
  proto[method] = function (...args) { note(label); return original.apply(this, args); };
};
for (const m of ['toLocaleString', 'toLocaleDateString', 'toLocaleTimeString']) wrap(Date.prototype, m, 'Date#' + m);
wrap(Number.prototype, 'toLocaleString', 'Number#toLocaleString');
wrap(Array.prototype, 'toLocaleString', 'Array#toLocaleString');
for (const m of ['localeCompare', 'normalize', 'toLocaleUpperCase', 'toLocaleLowerCase']) wrap(String.prototype, m, 'String#' + m);
`;

/** "HH:MM" in IST, `hours` from now: windows and schedules well away from the test's minutes. */
function istClock(hours: number): { hh: number; mm: number; text: string } {
  const at = new Date(Date.now() + (5.5 + hours) * 3_600_000);
  const hh = at.getUTCHours();
  const mm = at.getUTCMinutes();
  return { hh, mm, text: `${String(hh).padStart(2, '0')}:${String(mm).padStart(2, '0')}` };
}

const children = new Children();
afterAll(() => children.killAll());

describe('ICU', () => {
  it('stays out of a daemon that runs in the default zone', async () => {
    const sim = await startSimulator({
      accounts: [A, B].map((clientId) => ({ clientId, pin: PIN, totpSecret: TOTP_SECRET })),
      clock: systemClock,
      tokenLifetimeMs: 30_000,
      generateIntervalMs: 10_000,
    });
    try {
      const dir = tempDir();
      const trapPath = join(dir, 'icu-trap.mjs');
      const trapFile = join(dir, 'icu-uses.txt');
      writeFileSync(trapPath, TRAP);
      const refresh = istClock(12);
      const config = configYaml({
        simUrl: sim.baseUrl,
        serverYaml: `  listen: 127.0.0.1:0\n  apiKeys:\n    - { name: bot, key: ${KEY}, clients: ["*"] }`,
        renewalYaml: [
          '  probeInterval: 10s',
          '  sweep: "* * * * * *"',
          `  refreshAt: ["${refresh.mm} ${refresh.hh} * * *"]`,
        ].join('\n'),
        accounts: [
          { clientId: A, name: 'a', pin: PIN, totpSecret: TOTP_SECRET },
          { clientId: B, name: 'b', pin: PIN, totpSecret: TOTP_SECRET },
        ],
      }).replace(
        '  avoid: []\n',
        `  avoid:\n    - { days: daily, from: "${istClock(6).text}", to: "${istClock(7).text}" }\n    - { days: [sat, sun], from: "01:00", to: "02:00", timezone: Etc/UTC }\n`,
      );
      const configPath = writeSecretFile(join(dir, 'config.yaml'), config);
      const env = {
        NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import ${pathToFileURL(trapPath).href}`.trim(),
        ICU_TRAP_FILE: trapFile,
      };
      const keeper = await startKeeper(children, configPath, { env });

      await waitUntil(() => callsOf(sim.stats(), A).renew >= 1 && callsOf(sim.stats(), B).profile >= 1, {
        timeoutMs: 45_000,
        what: 'a renewal and a probe',
      });
      const auth = { authorization: `Bearer ${KEY}` };
      for (const path of [
        `/v1/tokens/${A}`,
        `/v1/tokens/${B}?wait=1&after=${'0'.repeat(64)}`,
        '/v1/status',
        '/metrics',
        '/readyz',
        '/healthz',
      ]) {
        const res = await fetch(`${keeper.url}${path}`, { headers: auth });
        expect(res.status, path).toBe(200);
        await res.arrayBuffer();
      }
      expect(keeper.proc.exit).toBeUndefined();
      const uses = existsSync(trapFile) ? readFileSync(trapFile, 'utf8') : '';
      expect(uses, 'ways into ICU, each with where it came from').toBe('');
    } finally {
      await children.killAll();
      await sim.close();
    }
  }, 90_000);
});
