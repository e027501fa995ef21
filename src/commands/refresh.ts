import type { Command } from 'commander';
import { KeeperError } from '../errors.js';
import { executeCommand } from '../keeper/handoff.js';
import { timesInZone } from './message-times.js';
import {
  findAccount,
  loadCommandConfig,
  loadConfigWithoutSecrets,
  withConfigOption,
  type ConfigOption,
} from './command-config.js';

type OneShotAction = 'renew' | 'generate' | 'reset';

const DESCRIPTIONS: Record<OneShotAction, string> = {
  renew: 'renew the token now (GET /v2/RenewToken); handed to the running daemon if there is one',
  generate: 'generate a fresh token now with PIN and TOTP; handed to the running daemon if there is one',
  reset: 'leave the attention state (after fixing credentials or the account) so automatic refresh resumes',
};

/** renew, generate and reset share their shape: one account, one action, one line of outcome. */
export function registerOneShot(program: Command, action: OneShotAction): void {
  withConfigOption(
    program.command(action).argument('<clientId>', 'client id (or account name)').description(DESCRIPTIONS[action]),
  ).action(async (clientIdOrName: string, opts: ConfigOption) => {
    const config = await loadConfigWithoutSecrets(opts);
    const account = findAccount(config, clientIdOrName);
    const outcome = await executeCommand(
      config,
      account.clientId,
      { action },
      { loadFullConfig: () => loadCommandConfig(opts, { quiet: true }) },
    );
    const message = timesInZone(outcome.message, config.dhan.timezone);
    if (!outcome.ok) throw new KeeperError(`${action}-failed`, message);
    process.stdout.write(`${message}\n`);
  });
}
