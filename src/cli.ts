#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { ConfigError, KeeperError, UsageError } from './errors.js';
import { VERSION } from './version.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './commands/exit-codes.js';
import { registerCheckConfig } from './commands/check-config.js';
import { registerHistory } from './commands/history.js';
import { registerImport } from './commands/import.js';
import { registerLogin } from './commands/login.js';
import { registerNotifyTest } from './commands/notify-test.js';
import { registerOneShot } from './commands/refresh.js';
import { registerRun } from './commands/run.js';
import { registerRotateKey } from './commands/rotate-key.js';
import { registerMigrateStorage } from './commands/migrate-storage.js';
import { registerHealthcheck } from './commands/healthcheck.js';
import { registerDemo } from './commands/demo.js';
import { registerSimulate } from './commands/simulate.js';
import { registerStatus } from './commands/status.js';
import { registerToken } from './commands/token.js';
import { registerVersion } from './commands/version.js';

function buildProgram(): Command {
  const program = new Command('dhan-token-keeper')
    .description('Keeps Dhan (DhanHQ v2) access tokens alive and hands them to your trading bots.')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  registerRun(program);
  registerCheckConfig(program);
  registerStatus(program);
  registerToken(program);
  registerHistory(program);
  registerImport(program);
  registerLogin(program);
  registerNotifyTest(program);
  registerOneShot(program, 'renew');
  registerOneShot(program, 'generate');
  registerOneShot(program, 'reset');
  registerSimulate(program);
  registerDemo(program);
  registerHealthcheck(program);
  registerVersion(program);
  registerRotateKey(program);
  registerMigrateStorage(program);
  return program;
}

/** A missing or wrong storage.encryptionKeyFile is fixed in the config, like any config error. */
const CONFIG_STORE_ERRORS = new Set(['store-key-missing', 'store-key-wrong']);

/** Some errors (Dhan's) already end their message with the advice: say it once. */
function hintLine(err: KeeperError): string {
  return err.hint && !err.message.includes(err.hint) ? `hint: ${err.hint}\n` : '';
}

/** Maps every failure to the documented exit code with a one-line message and no stack trace. */
function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
      return EXIT_OK;
    }
    // commander already printed its message.
    return EXIT_USAGE;
  }
  if (err instanceof ConfigError) {
    process.stderr.write(`error: ${err.message}\n`);
    return EXIT_USAGE;
  }
  if (err instanceof UsageError) {
    process.stderr.write(`error: ${err.message}\n${hintLine(err)}`);
    return EXIT_USAGE;
  }
  if (err instanceof KeeperError && CONFIG_STORE_ERRORS.has(err.code)) {
    process.stderr.write(`error: ${err.message}\n${hintLine(err)}`);
    return EXIT_USAGE;
  }
  if (err instanceof KeeperError) {
    process.stderr.write(`error: ${err.message}\n${hintLine(err)}`);
    return EXIT_FAILURE;
  }
  if (err instanceof Error) {
    process.stderr.write(`error: ${err.message}\n`);
    if (process.env['DHAN_TOKEN_KEEPER_DEBUG']) process.stderr.write(`${err.stack ?? ''}\n`);
    return EXIT_FAILURE;
  }
  process.stderr.write(`error: ${String(err)}\n`);
  return EXIT_FAILURE;
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync([...argv], { from: 'node' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (err) {
    return exitCodeFor(err);
  }
}

const code = await main(process.argv);
process.exitCode = code;
