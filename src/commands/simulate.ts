import { Option, type Command } from 'commander';
import { systemClock } from '../clock.js';
import { UsageError, errorMessage } from '../errors.js';
import { durationOption, listenOption } from './options.js';
import { waitForShutdownSignal } from './signals.js';

interface SimulateOptions {
  listen: { host: string; port: number };
  accounts: string;
  tokenLifetime: number;
  generateInterval: number;
}

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description(
      'run a Dhan simulator on loopback, to rehearse a setup without touching the real Dhan; prints its base URL first',
    )
    .requiredOption('--accounts <file>', 'YAML list of {clientId, pin, totpSecret}')
    // Help shows defaults as a person writes them, not as milliseconds or JSON.
    .addOption(
      new Option('--listen <host:port>', 'where to listen')
        .argParser(listenOption)
        .default({ host: '127.0.0.1', port: 0 }, '127.0.0.1:0'),
    )
    .addOption(
      new Option('--token-lifetime <duration>', 'lifetime of issued tokens')
        .argParser(durationOption)
        .default(24 * 3600_000, '24h'),
    )
    .addOption(
      new Option('--generate-interval <duration>', 'minimum time between generations per account')
        .argParser(durationOption)
        .default(120_000, '2m'),
    )
    .action(async (opts: SimulateOptions) => {
      // Loaded here, not with the CLI: the daemon never needs the simulator in its memory.
      const { loadSimAccounts, startSimulator } = await import('../sim/index.js');
      let accounts;
      try {
        accounts = loadSimAccounts(opts.accounts);
      } catch (err) {
        throw new UsageError(`--accounts ${opts.accounts}: ${errorMessage(err)}`);
      }
      const sim = await startSimulator({
        accounts,
        clock: systemClock,
        tokenLifetimeMs: opts.tokenLifetime,
        generateIntervalMs: opts.generateInterval,
        host: opts.listen.host,
        port: opts.listen.port,
      });
      // The first line is the contract with scripts and tests: they read the base URL from it.
      process.stdout.write(`${sim.baseUrl}\n`);
      process.stderr.write(
        `simulating Dhan for ${accounts.length} account(s); set dhan.authBaseUrl and dhan.apiBaseUrl to ${sim.baseUrl}\n`,
      );
      await waitForShutdownSignal();
      await sim.close();
    });
}
