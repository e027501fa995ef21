import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { systemClock } from '../clock.js';
import { CONSENT_CALLBACK_PATH } from '../config/consent-callback-path.js';
import type { AccountConfig, Config } from '../config/config.js';
import { CONSENT_TTL_MS } from '../keeper/consent-login.js';
import { consentCallbackFor } from '../keeper/consent-callback-wiring.js';
import { tokenIdFromInput } from '../consent/token-id-input.js';
import { KeeperError, UsageError } from '../errors.js';
import { assembleKeeper } from '../keeper/assemble.js';
import { actingKeeper, executeCommand } from '../keeper/handoff.js';
import type { CommandOutcome } from '../keeper/account-commands.js';
import { Lease } from '../keeper/lease.js';
import { silentLogger } from '../log.js';
import { startServer } from '../server/index.js';
import type { AsyncStore } from '../store/contract.js';
import { openStorage } from '../store/open-storage.js';
import { renderQr } from '../consent/terminal-qr.js';
import {
  findAccount,
  loadCommandConfig,
  loadConfigWithoutSecrets,
  withConfigOption,
  type ConfigOption,
} from './command-config.js';

interface LoginOptions extends ConfigOption {
  paste?: string | boolean;
  qr: boolean;
  wait: boolean;
}

const POLL_MS = 250;

/**
 * `login CLIENT_ID`: the API-key login for a person at a terminal. The running keeper (or this
 * process, when none runs) asks Dhan for a consent; the person opens the printed link (or scans
 * the QR code) and logs in; Dhan's redirect brings the tokenId back to the keeper's callback,
 * or the person pastes the address the browser ended on.
 */
export function registerLogin(program: Command): void {
  withConfigOption(
    program
      .command('login')
      .argument('<clientId>', 'client id (or account name)')
      .description(
        'log in with the API key (Dhan consent): prints a login link and QR code, then waits for the redirect or a pasted address',
      )
      .option(
        '--paste [address]',
        'finish with the address the browser ended on (…?tokenId=…) or the bare tokenId; without a value, asks for it',
      )
      .option('--no-qr', 'do not print the QR code')
      .option('--no-wait', 'print the login link and exit; finish later with --paste ADDRESS or through the callback'),
  ).action(async (clientIdOrName: string, opts: LoginOptions) => {
    const config = await loadConfigWithoutSecrets(opts);
    const account = findAccount(config, clientIdOrName);
    if (!account.app) {
      const index = config.accounts.indexOf(account);
      throw new UsageError(
        `account ${account.name} has no API key: set accounts[${index}].apiKey and apiSecret (or their *File twins), and mode: consent`,
      );
    }
    const fullConfig = (): Promise<Config> => loadCommandConfig(opts, { quiet: true });

    // Only the address: the tokenId finishes the newest login started for this account.
    if (typeof opts.paste === 'string') {
      const tokenId = tokenIdFromInput(opts.paste);
      report(
        await executeCommand(
          config,
          account.clientId,
          { action: 'consent-finish', tokenId },
          { loadFullConfig: fullConfig },
        ),
      );
      return;
    }
    if (await daemonRuns(config)) await loginThroughDaemon(config, account, opts, fullConfig);
    else await loginDirectly(await fullConfig(), account, opts);
  });
}

async function daemonRuns(config: Config): Promise<boolean> {
  const opened = await openStorage(config.storage);
  try {
    return (await actingKeeper(opened, Date.now())) !== undefined;
  } finally {
    await opened.store.close();
  }
}

async function loginThroughDaemon(
  config: Config,
  account: AccountConfig,
  opts: LoginOptions,
  fullConfig: () => Promise<Config>,
): Promise<void> {
  const started = await executeCommand(
    config,
    account.clientId,
    { action: 'consent-start' },
    { loadFullConfig: fullConfig },
  );
  if (!started.ok) throw new KeeperError('login-failed', started.message);
  const loginUrl = started.message;
  announce(config, loginUrl, opts, true);
  if (!opts.wait) return;
  if (opts.paste === true) {
    const tokenId = tokenIdFromInput(await promptLine('address the browser ended on (or the tokenId): '));
    report(
      await executeCommand(
        config,
        account.clientId,
        { action: 'consent-finish', tokenId },
        { loadFullConfig: fullConfig },
      ),
    );
    return;
  }
  report(await waitForConsent(config, loginUrl));
}

/** No keeper runs: this process is the keeper for as long as the login takes, callback included. */
async function loginDirectly(config: Config, account: AccountConfig, opts: LoginOptions): Promise<void> {
  const opened = await openStorage(config.storage);
  const { store } = opened;
  if (opened.kind === 'postgres') {
    await store.close();
    throw new KeeperError(
      'login-failed',
      'no keeper leads on this database: start one (`dhan-token-keeper run`), then run login again; it carries the login out',
    );
  }
  const lease = new Lease(store);
  await lease.acquire();
  lease.keepAlive(() =>
    process.stderr.write('warning: another keeper took over the database; finish the login there\n'),
  );
  const keeper = assembleKeeper(config, store, { clock: systemClock, log: silentLogger() });
  try {
    await keeper.prepareAccounts();
    await keeper.open();
    const outcome = await keeper.consentCommand(account.clientId, undefined);
    if (!outcome.ok) throw new KeeperError('login-failed', outcome.message);
    const loginUrl = outcome.message;
    if (!opts.wait) {
      announce(config, loginUrl, opts, false);
      return;
    }
    if (opts.paste === true) {
      announce(config, loginUrl, opts, false);
      const tokenId = tokenIdFromInput(await promptLine('address the browser ended on (or the tokenId): '));
      report(await keeper.consentCommand(account.clientId, tokenId));
    } else {
      const server = await startServer({
        config: config.server,
        timezone: config.dhan.timezone,
        provider: keeper,
        log: silentLogger(),
        ...consentCallbackFor(config, keeper),
      });
      try {
        announce(config, loginUrl, opts, true, server.url);
        report(await waitForConsent(config, loginUrl, store));
      } finally {
        await server.close();
      }
    }
    await keeper.worker(account.clientId)?.published();
  } finally {
    await lease.release();
    await store.close();
  }
}

function announce(config: Config, loginUrl: string, opts: LoginOptions, viaCallback: boolean, servedAt?: string): void {
  const out = process.stdout;
  out.write(`Open this link and log in to Dhan (valid ${CONSENT_TTL_MS / 60_000} minutes):\n${loginUrl}\n`);
  if (opts.qr) out.write(`${renderQr(loginUrl)}\n`);
  if (!opts.wait) {
    out.write('Then finish with: dhan-token-keeper login CLIENT_ID --paste "ADDRESS THE BROWSER ENDED ON"\n');
    return;
  }
  if (viaCallback) {
    const where =
      config.consent.redirectUrl ??
      `${servedAt ?? `http://${config.server.listen.host}:${config.server.listen.port}`}${CONSENT_CALLBACK_PATH}`;
    process.stderr.write(`waiting for Dhan to send the browser to ${where} …\n`);
  }
}

/** Waits for the consent behind this login URL to be finished by the callback (or a paste elsewhere). */
async function waitForConsent(config: Config, loginUrl: string, open?: AsyncStore): Promise<CommandOutcome> {
  const consentAppId = new URL(loginUrl).searchParams.get('consentAppId') ?? '';
  const store = open ?? (await openStorage(config.storage, { readonly: true, withoutKey: 'hide-tokens' })).store;
  try {
    const deadline = Date.now() + CONSENT_TTL_MS;
    while (Date.now() < deadline) {
      const consent = await store.consents.byConsentAppId(consentAppId);
      if (consent?.status === 'done') return { ok: true, message: consent.message ?? 'logged in' };
      if (consent?.status === 'failed') return { ok: false, message: consent.message ?? 'the login failed' };
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    return { ok: false, message: 'no login arrived within 10 minutes: run login again (or finish with --paste)' };
  } finally {
    if (!open) await store.close();
  }
}

async function promptLine(question: string): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write(question);
  const lines = createInterface({ input: process.stdin, terminal: false });
  try {
    for await (const line of lines) if (line.trim() !== '') return line;
  } finally {
    lines.close();
  }
  throw new UsageError('nothing was pasted: paste the address the browser ended on (…?tokenId=…)');
}

function report(outcome: CommandOutcome): void {
  if (!outcome.ok) throw new KeeperError('login-failed', outcome.message);
  process.stdout.write(`${outcome.message}\n`);
}
