import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { startSimulator } from '../../src/sim/index.js';
import { Children, startKeeper, tempDir, waitUntil } from '../helpers/cli.js';

const ID = '1000000801';
const PIN = '582916';
const SECRET = 'MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U';

const children = new Children();
afterEach(() => children.killAll());

/**
 * Under systemd the PIN and TOTP secret exist only inside the service (LoadCredential= puts them
 * in ${CREDENTIALS_DIRECTORY}). An admin's shell has no such variable, and the runbook's commands
 * must still work there: readers need no secret, and commands are handed to the daemon.
 * Real time, not a fake clock: the keeper is a spawned process whose clock a test cannot drive.
 */
describe('commands outside the service, where the credentials are not available', () => {
  it('status, token, history and renew work; acting without a daemon asks for the credentials', async () => {
    const sim = await startSimulator({
      accounts: [{ clientId: ID, pin: PIN, totpSecret: SECRET }],
      clock: systemClock,
      tokenLifetimeMs: 10 * 60_000,
    });
    try {
      const dir = tempDir();
      const credentials = join(dir, 'credentials');
      mkdirSync(credentials, { mode: 0o700 });
      writeFileSync(join(credentials, 'pin'), PIN, { mode: 0o600 });
      writeFileSync(join(credentials, 'totp'), SECRET, { mode: 0o600 });
      writeFileSync(join(credentials, 'bot.key'), 'bot-key-0123456789abcdef', { mode: 0o600 });
      const config = join(dir, 'config.yaml');
      writeFileSync(
        config,
        `storage:
  path: ./keeper.db
dhan:
  authBaseUrl: ${sim.baseUrl}
  apiBaseUrl: ${sim.baseUrl}
server:
  listen: 127.0.0.1:0
  apiKeys:
    - name: bot
      keyFile: \${CREDENTIALS_DIRECTORY}/bot.key
      clients: ["*"]
accounts:
  - clientId: "${ID}"
    name: main
    pinFile: \${CREDENTIALS_DIRECTORY}/pin
    totpSecretFile: \${CREDENTIALS_DIRECTORY}/totp
`,
        { mode: 0o600 },
      );
      const service = { env: { CREDENTIALS_DIRECTORY: credentials } };
      const shell = { env: { CREDENTIALS_DIRECTORY: undefined } };

      // Without a daemon, acting directly needs the secrets. Where no credentials/ folder sits next
      // to the config (the installer's layout), a config error says exactly how to point at them.
      const elsewhere = join(tempDir(), 'config.yaml');
      writeFileSync(elsewhere, readFileSync(config, 'utf8'), { mode: 0o600 });
      const direct = await children.run(['generate', ID, '--config', elsewhere], shell);
      expect(direct.code).toBe(2);
      expect(direct.stderr).toMatch(
        /set CREDENTIALS_DIRECTORY to the folder the unit's LoadCredential= lines read from/,
      );

      const keeper = await startKeeper(children, config, service);
      await waitUntil(() => sim.stats().calls.generate[ID] === 1 || undefined, {
        timeoutMs: 20_000,
        what: 'the first generation',
      });

      const status = await children.run(['status', '--json', '--config', config], shell);
      expect(status.code, status.stderr).toBe(0);
      expect((JSON.parse(status.stdout) as Array<{ state: string }>)[0]!.state).toMatch(/valid|refreshing/);
      const token = await children.run(['token', ID, '--config', config], shell);
      expect(token.code, token.stderr).toBe(0);
      expect(sim.isLive(token.stdout.trim())).toBe(true);
      const history = await children.run(['history', '--json', '--config', config], shell);
      expect(history.code, history.stderr).toBe(0);
      const renew = await children.run(['renew', ID, '--config', config], shell);
      expect(renew.code, renew.stderr).toBe(0);
      expect(renew.stdout).toMatch(/^renewed/);
      expect(sim.stats().calls.renew[ID]).toBe(1);
      expect(keeper.proc.exit).toBeUndefined();
    } finally {
      await sim.close();
    }
  });
});
