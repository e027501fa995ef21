import { systemClock, type Clock } from '../clock.js';
import type { Config } from '../config/types.js';
import { errorMessage } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { Store } from '../store/index.js';
import type { CommandOutcome } from './account-worker.js';
import { assembleKeeper } from './assemble.js';
import type { ImportedToken } from './imported-token.js';
import { Lease, leaseIsLive } from './lease.js';

export type KeeperCommand =
  | { readonly action: 'renew' | 'generate' | 'reset' | 'consent-start' }
  | { readonly action: 'import'; readonly token: ImportedToken }
  /** The tokenId of a login (consent) the person finished in a browser. */
  | { readonly action: 'consent-finish'; readonly tokenId: string };

export interface HandoffOptions {
  readonly clock?: Clock;
  readonly log?: Logger;
  /** How long to wait for a running daemon to carry the command out. */
  readonly timeoutMs?: number;
  readonly pollMs?: number;
  /**
   * `config` may come without secrets (enough to find and hand work to a running daemon);
   * acting directly needs them, so they are loaded only then.
   */
  readonly loadFullConfig?: () => Config;
}

/**
 * Runs a command against an account without racing a running daemon: when one holds the lease,
 * the command is queued for it (it picks requests up within a second) and we wait for its answer;
 * otherwise we take the lease ourselves and act directly.
 */
export async function executeCommand(config: Config, clientId: string, command: KeeperCommand, options: HandoffOptions = {}): Promise<CommandOutcome> {
  const clock = options.clock ?? systemClock;
  const store = Store.open(config.storage.path);
  try {
    if (leaseIsLive(store.leaseHolder(), Date.now())) return await handToDaemon(store, clientId, command, clock, options);
    const fullConfig = options.loadFullConfig ? options.loadFullConfig() : config;
    return await actDirectly(fullConfig, store, clientId, command, clock, options.log ?? silentLogger());
  } finally {
    store.close();
  }
}

async function handToDaemon(store: Store, clientId: string, command: KeeperCommand, clock: Clock, options: HandoffOptions): Promise<CommandOutcome> {
  const payload = command.action === 'import' ? JSON.stringify(command.token) : command.action === 'consent-finish' ? command.tokenId : null;
  const id = store.enqueueRequest(clientId, command.action, payload, clock.now());
  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 200));
    const request = store.getRequest(id);
    if (request?.status === 'done' || request?.status === 'failed') {
      return { ok: request.status === 'done', message: request.result ?? request.status };
    }
  }
  // Never leave an import's token sitting in the queue for a daemon that may be wedged.
  store.cancelRequest(id, 'the CLI gave up waiting');
  return { ok: false, message: 'the running keeper did not carry out the command within 90 s; check its logs' };
}

async function actDirectly(config: Config, store: Store, clientId: string, command: KeeperCommand, clock: Clock, log: Logger): Promise<CommandOutcome> {
  const lease = new Lease(store);
  lease.acquire();
  try {
    const keeper = assembleKeeper(config, store, { clock, log });
    keeper.prepareAccounts();
    const worker = keeper.worker(clientId);
    if (!worker) return { ok: false, message: `no account ${clientId} in the config` };
    let outcome: CommandOutcome;
    switch (command.action) {
      case 'renew':
      case 'generate':
        outcome = await worker.force(command.action);
        break;
      case 'reset':
        outcome = worker.reset();
        break;
      case 'import':
        outcome = await worker.adopt(command.token);
        break;
      case 'consent-start':
        outcome = await keeper.consentCommand(clientId, undefined);
        break;
      case 'consent-finish':
        outcome = await keeper.consentCommand(clientId, command.tokenId);
        break;
    }
    // Sinks run beside the worker; a one-shot command must not exit before consumers have the token.
    await worker.published();
    return outcome;
  } catch (err) {
    return { ok: false, message: errorMessage(err) };
  } finally {
    lease.release();
  }
}
