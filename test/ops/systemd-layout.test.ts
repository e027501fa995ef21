import { chmodSync, chownSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { startSimulator } from '../../src/sim/index.js';
import type { Simulator } from '../../src/sim/simulator-api.js';
import { Children, sleep, startKeeper, tempDir, waitUntil, type RunResult } from '../helpers/cli.js';
import { layOutServiceRelease, type ServiceRelease } from '../helpers/service-release.js';

/*
 * The systemd layout, walked as the README and scripts/install-systemd.sh lay it out, with a
 * non-root service user (nobody): config.yaml 0640 owned by root and readable through the
 * service's group, the secrets in a root-only credentials/ folder next to it, and the service's
 * copy of them in a folder the test names as CREDENTIALS_DIRECTORY (what systemd's LoadCredential=
 * does). check-config and run as the service user, then the admin-shell commands as root
 * without CREDENTIALS_DIRECTORY. Nothing any of them prints may advise what would break this
 * layout (chmod 600 the config, "set CREDENTIALS_DIRECTORY" when it is not needed).
 * Every command runs from a release laid out where the service user can reach it, as the
 * installer lays one out under /opt: the checkout itself may sit under a private folder.
 */

const PIN = '493817';
const TOTP_SECRET = 'KRSXG5CTMVRXEZLUKN2XAZLDNFQWY4ZA';
const CLIENT = '1000000801';
const BOT_KEY = 'bot-key-7f3a9c2e51d84b60a1c9';
const NOBODY = { uid: 65534, gid: 65534 };
const isRoot = process.getuid?.() === 0;

let children = new Children();
let release: ServiceRelease | undefined;
let sim: Simulator | undefined;
afterAll(async () => {
  await children.killAll();
  await sim?.close();
  release?.remove();
});

function layout(simUrl: string): { config: string; credentials: string; serviceCredentials: string; state: string } {
  const root = tempDir('dtk-systemd-');
  chmodSync(root, 0o755);
  const etc = join(root, 'etc');
  mkdirSync(etc, { mode: 0o755 });
  const credentials = join(etc, 'credentials');
  mkdirSync(credentials, { mode: 0o700 });
  writeFileSync(join(credentials, 'pin'), PIN, { mode: 0o600 });
  writeFileSync(join(credentials, 'totp'), TOTP_SECRET, { mode: 0o600 });
  writeFileSync(join(credentials, 'api-key-bot'), BOT_KEY, { mode: 0o600 });
  // What systemd gives the service: a private copy owned by the service user.
  const serviceCredentials = join(root, 'run-credentials');
  mkdirSync(serviceCredentials, { mode: 0o500 });
  for (const name of ['pin', 'totp', 'api-key-bot']) {
    copyFileSync(join(credentials, name), join(serviceCredentials, name));
    chmodSync(join(serviceCredentials, name), 0o400);
    chownSync(join(serviceCredentials, name), NOBODY.uid, NOBODY.gid);
  }
  chownSync(serviceCredentials, NOBODY.uid, NOBODY.gid);
  const state = join(root, 'state');
  mkdirSync(join(state, 'tokens'), { recursive: true, mode: 0o750 });
  chownSync(state, NOBODY.uid, NOBODY.gid);
  chownSync(join(state, 'tokens'), NOBODY.uid, NOBODY.gid);
  const config = join(etc, 'config.yaml');
  writeFileSync(
    config,
    `storage:
  path: ${state}/keeper.db
dhan:
  authBaseUrl: ${simUrl}
  apiBaseUrl: ${simUrl}
  minGenerateInterval: 10s
server:
  listen: 127.0.0.1:0
  apiKeys:
    - name: bot
      keyFile: \${CREDENTIALS_DIRECTORY}/api-key-bot
      clients: ["${CLIENT}"]
renewal:
  avoid: []
accounts:
  - clientId: "${CLIENT}"
    name: main
    pinFile: \${CREDENTIALS_DIRECTORY}/pin
    totpSecretFile: \${CREDENTIALS_DIRECTORY}/totp
    sinks:
      - type: file
        path: ${state}/tokens/main.env
        format: env
        mode: "0640"
`,
    { mode: 0o640 },
  );
  chownSync(config, 0, NOBODY.gid);
  chmodSync(config, 0o640);
  return { config, credentials, serviceCredentials, state };
}

/** Advice that would break the layout if a person obeyed it. */
function assertNoBreakingAdvice(results: readonly RunResult[], config: string): void {
  for (const r of results) {
    const printed = r.stdout + r.stderr;
    expect(printed, r.proc.describe()).not.toMatch(
      new RegExp(`${config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[^\n]*chmod`),
    );
    expect(printed, r.proc.describe()).not.toMatch(/CREDENTIALS_DIRECTORY is not set —/);
    expect(printed, r.proc.describe()).not.toMatch(/permission denied/);
  }
}

describe('the systemd layout', () => {
  it.skipIf(!isRoot)(
    'works as a non-root service user and from an admin shell, and no command advises breaking it (needs root to act as the service user)',
    async () => {
      sim = await startSimulator({
        accounts: [{ clientId: CLIENT, pin: PIN, totpSecret: TOTP_SECRET }],
        clock: systemClock,
        generateIntervalMs: 10_000,
      });
      release = layOutServiceRelease(NOBODY);
      children = new Children(release);
      const { config, serviceCredentials } = layout(sim.baseUrl);
      const service = { ...NOBODY, env: { CREDENTIALS_DIRECTORY: serviceCredentials } };
      const admin = { env: { CREDENTIALS_DIRECTORY: undefined } };
      const results: RunResult[] = [];
      const run = async (args: string[], options: typeof service | typeof admin): Promise<RunResult> => {
        const r = await children.run([...args, '--config', config], options);
        results.push(r);
        return r;
      };

      // As the service user, what ExecStart runs.
      const checked = await run(['check-config'], service);
      expect(checked.code, checked.proc.dump()).toBe(0);
      expect(checked.stderr).not.toMatch(/warning:.*config\.yaml/);
      const keeper = await startKeeper(children, config, service);
      const tokenUrl = `${keeper.url}/v1/tokens/${CLIENT}`;
      await waitUntil(
        async () => (await fetch(tokenUrl, { headers: { authorization: `Bearer ${BOT_KEY}` } })).status === 200,
        {
          timeoutMs: 30_000,
          what: 'a token from the service',
        },
      );

      // From an admin shell (root, no CREDENTIALS_DIRECTORY), as the README's step 4 and runbook do.
      const adminCheck = await run(['check-config'], admin);
      expect(adminCheck.code, adminCheck.proc.dump()).toBe(0);
      expect(adminCheck.stderr).toMatch(/reading the credentials from .*credentials, where the unit loads them from/);
      for (const args of [['status'], ['token', CLIENT], ['history', '--limit', '5']]) {
        const r = await run(args, admin);
        expect(r.code, r.proc.dump()).toBe(0);
      }
      const reset = await run(['reset', CLIENT], admin);
      expect(reset.code, reset.proc.dump()).toBe(0);

      // Without a daemon, the commands that act directly find the credentials too.
      keeper.proc.kill('SIGTERM');
      expect((await keeper.proc.waitForExit(15_000)).code).toBe(0);
      const direct = await run(['reset', CLIENT], admin);
      expect(direct.code, direct.proc.dump()).toBe(0);
      // …and the service starts again afterwards (an admin command must not leave root-owned files it cannot open).
      const again = await startKeeper(children, config, service);
      await waitUntil(
        async () =>
          (await fetch(`${again.url}/v1/tokens/${CLIENT}`, { headers: { authorization: `Bearer ${BOT_KEY}` } }))
            .status === 200,
        {
          timeoutMs: 30_000,
          what: 'a token from the restarted service',
        },
      );
      await sleep(1_000); // run installs its signal handlers once recovery is done
      again.proc.kill('SIGTERM');
      const againExit = await again.proc.waitForExit(15_000);
      expect(againExit.code, again.proc.dump()).toBe(0);

      assertNoBreakingAdvice(
        [
          ...results,
          { code: 0, signal: null, stdout: keeper.proc.stdout, stderr: keeper.proc.stderr, proc: keeper.proc },
        ],
        config,
      );
    },
    120_000,
  );
});
