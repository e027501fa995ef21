import { InputTooLargeError, readFileBounded, readStreamBounded } from '../bounded-read.js';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { systemClock } from '../clock.js';
import { DhanClient } from '../dhan/index.js';
import { KeeperError, UsageError, errorMessage } from '../errors.js';
import { executeCommand } from '../keeper/handoff.js';
import { timesInZone } from './message-times.js';
import { prepareImport } from '../keeper/imported-token.js';
import { judgeImport } from '../keeper/import-rules.js';
import { looksLikeToken, tryReadExpiry } from '../dhan/expiry.js';
import type { TokenSource } from '../tokens.js';
import {
  findAccount,
  loadCommandConfig,
  loadConfigWithoutSecrets,
  openStoreForReading,
  withConfigOption,
  type ConfigOption,
} from './command-config.js';

interface ImportOptions extends ConfigOption {
  tokenFile?: string;
  expiryTime?: string;
  source: TokenSource;
  verify?: boolean;
}

function sourceOption(value: string): TokenSource {
  if (value !== 'web' && value !== 'import')
    throw new InvalidArgumentError('must be "web" (Dhan Web) or "import" (API-key consent or other)');
  return value;
}

// A Dhan token is about 300-1,000 characters; anything past this is not one.
const MAX_TOKEN_INPUT_BYTES = 16 * 1024;

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('paste the access token, then press Enter and Ctrl-D\n');
  try {
    return await readStreamBounded(process.stdin, MAX_TOKEN_INPUT_BYTES);
  } catch (err) {
    if (err instanceof InputTooLargeError)
      throw new UsageError(
        `stdin holds more than ${MAX_TOKEN_INPUT_BYTES} bytes, which is not an access token; pipe the token alone`,
      );
    throw err;
  }
}

export function registerImport(program: Command): void {
  withConfigOption(
    program
      .command('import')
      .argument('<clientId>', 'client id (or account name)')
      .description(
        'store a token you got from Dhan Web or the API-key flow (read from stdin, never from argv); the keeper then keeps it alive',
      )
      .option('--token-file <file>', 'read the token from this file instead of stdin')
      .option('--expiry-time <time>', "Dhan's expiryTime (IST, e.g. 2026-07-08T07:41:12), for opaque tokens")
      .option('--source <source>', 'web (Dhan Web) or import (API-key consent)', sourceOption, 'web')
      .option('--verify', 'check the token with Dhan (/v2/profile) before storing it (the default)')
      .option('--no-verify', 'store without asking Dhan (offline); refused while the account has a live token'),
  ).action(async (clientIdOrName: string, opts: ImportOptions) => {
    const config = await loadConfigWithoutSecrets(opts);
    const account = findAccount(config, clientIdOrName);
    let raw: string;
    if (opts.tokenFile !== undefined) {
      try {
        raw = readFileBounded(opts.tokenFile, MAX_TOKEN_INPUT_BYTES);
      } catch (err) {
        if (err instanceof InputTooLargeError) {
          throw new UsageError(
            `--token-file ${opts.tokenFile} holds more than ${MAX_TOKEN_INPUT_BYTES} bytes, which is not an access token; give a file with the token alone`,
          );
        }
        throw new UsageError(`--token-file ${opts.tokenFile}: ${errorMessage(err)}`);
      }
    } else {
      raw = await readStdin();
    }
    if (raw.trim() === '') throw new UsageError('no token given: pipe it on stdin or use --token-file');

    // Verified unless the person says otherwise: a token's own claims are not Dhan's word.
    const verify = opts.verify !== false;
    let verifiedValidUntil: number | undefined;
    // Junk is a usage error before anything is sent to Dhan (prepareImport says what is wrong with it).
    if (verify && looksLikeToken(raw.trim())) {
      const client = new DhanClient({
        authBaseUrl: config.dhan.authBaseUrl,
        apiBaseUrl: config.dhan.apiBaseUrl,
        timezone: config.dhan.timezone,
        requestTimeoutMs: config.dhan.requestTimeoutMs,
        clock: systemClock,
      });
      const profile = await client.getProfile(raw.trim());
      if (profile.dhanClientId !== account.clientId) {
        throw new UsageError(`Dhan says this token belongs to client ${profile.dhanClientId}, not ${account.clientId}`);
      }
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
    const verdict = judgeImport({
      now: systemClock.now(),
      expiresAt: imported.expiresAt,
      issuedAt: tryReadExpiry({
        accessToken: imported.accessToken,
        expiryTime: undefined,
        timezone: config.dhan.timezone,
      })?.issuedAt,
      verified: verify,
      currentLiveUntil: await currentLiveUntil(config, account.clientId),
    });
    if (!verdict.ok)
      throw new KeeperError(
        `import-${verdict.reason}`,
        verdict.message,
        verdict.hint === undefined ? {} : { hint: verdict.hint },
      );
    const outcome = await executeCommand(
      config,
      account.clientId,
      { action: 'import', token: imported },
      { loadFullConfig: () => loadCommandConfig(opts, { quiet: true }) },
    );
    const message = timesInZone(outcome.message, config.dhan.timezone);
    if (!outcome.ok) throw new KeeperError('import-failed', message);
    process.stdout.write(`${message}\n`);
  });
}

/** The keeper's view of the account's token (Dhan's last word on it), read without disturbing a daemon. */
async function currentLiveUntil(
  config: Parameters<typeof openStoreForReading>[0],
  clientId: string,
): Promise<number | undefined> {
  const store = await openStoreForReading(config);
  if (!store) return undefined;
  try {
    const current = await store.currentToken(clientId);
    return current && current.supersededAt === null ? current.expiresAt : undefined;
  } finally {
    await store.close();
  }
}
