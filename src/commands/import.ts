import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { systemClock } from '../clock.js';
import { DhanClient } from '../dhan/index.js';
import { KeeperError, UsageError, errorMessage } from '../errors.js';
import { executeCommand } from '../keeper/handoff.js';
import { prepareImport } from '../keeper/imported-token.js';
import type { TokenSource } from '../tokens.js';
import { findAccount, loadCommandConfig, loadConfigWithoutSecrets, withConfigOption, type ConfigOption } from './command-config.js';

interface ImportOptions extends ConfigOption {
  tokenFile?: string;
  expiryTime?: string;
  source: TokenSource;
  verify?: boolean;
}

function sourceOption(value: string): TokenSource {
  if (value !== 'web' && value !== 'import') throw new InvalidArgumentError('must be "web" (Dhan Web) or "import" (API-key consent or other)');
  return value;
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('paste the access token, then press Enter and Ctrl-D\n');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function registerImport(program: Command): void {
  withConfigOption(
    program
      .command('import')
      .argument('<clientId>', 'client id (or account name)')
      .description('store a token you got from Dhan Web or the API-key flow (read from stdin, never from argv); the keeper then keeps it alive')
      .option('--token-file <file>', 'read the token from this file instead of stdin')
      .option('--expiry-time <time>', "Dhan's expiryTime (IST, e.g. 2026-07-08T07:41:12), for opaque tokens")
      .option('--source <source>', 'web (Dhan Web) or import (API-key consent)', sourceOption, 'web')
      .option('--verify', 'check the token with /v2/profile before storing it'),
  ).action(async (clientIdOrName: string, opts: ImportOptions) => {
    const config = loadConfigWithoutSecrets(opts);
    const account = findAccount(config, clientIdOrName);
    let raw: string;
    if (opts.tokenFile !== undefined) {
      try {
        raw = readFileSync(opts.tokenFile, 'utf8');
      } catch (err) {
        throw new UsageError(`--token-file ${opts.tokenFile}: ${errorMessage(err)}`);
      }
    } else {
      raw = await readStdin();
    }
    if (raw.trim() === '') throw new UsageError('no token given: pipe it on stdin or use --token-file');

    let verifiedValidUntil: number | undefined;
    if (opts.verify) {
      const client = new DhanClient({
        authBaseUrl: config.dhan.authBaseUrl,
        apiBaseUrl: config.dhan.apiBaseUrl,
        timezone: config.dhan.timezone,
        requestTimeoutMs: config.dhan.requestTimeoutMs,
        clock: systemClock,
      });
      const profile = await client.getProfile(raw.trim());
      verifiedValidUntil = profile.tokenValidUntil;
      process.stderr.write(`verified with Dhan: the token is live for client ${profile.dhanClientId}\n`);
    }

    const imported = prepareImport({
      clientId: account.clientId,
      rawToken: raw,
      source: opts.source,
      expiryTime: opts.expiryTime,
      verifiedValidUntil,
      timezone: config.dhan.timezone,
      now: systemClock.now(),
    });
    const outcome = await executeCommand(config, account.clientId, { action: 'import', token: imported }, { loadFullConfig: () => loadCommandConfig(opts, { quiet: true }) });
    if (!outcome.ok) throw new KeeperError('import-failed', outcome.message);
    process.stdout.write(`${outcome.message}\n`);
  });
}
