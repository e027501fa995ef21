import { systemClock, type Clock } from '../clock.js';
import type { Config } from '../config/config.js';
import { errorMessage } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import type { AsyncStore } from '../store/contract.js';
import { openStorage, type OpenedStorage } from '../store/open-storage.js';
import { runCommand, type AccountCommand, type CommandOutcome } from './account-commands.js';
import { assembleKeeper } from './assemble.js';
import { Lease, LEASE_TTL_MS, leaseIsLive, pidIsRunning } from './lease.js';
import { hostname } from 'node:os';
import type { LeaseHolder } from '../store/records.js';

export type KeeperCommand =
  | AccountCommand
  | { readonly action: 'consent-start' }
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
  readonly loadFullConfig?: () => Promise<Config>;
}

/**
 * Runs a command against an account without racing a running daemon: when one holds the lease,
 * the command is queued for it (a watch on the database wakes it at once) and we wait for its answer;
 * otherwise we take the lease ourselves and act directly.
 */
export async function executeCommand(
  config: Config,
  clientId: string,
  command: KeeperCommand,
  options: HandoffOptions = {},
): Promise<CommandOutcome> {
  const clock = options.clock ?? systemClock;
  const opened = await openStorage(config.storage);
  const { store } = opened;
  try {
    const alive = async (): Promise<boolean> => (await actingKeeper(opened, Date.now())) !== undefined;
    if (await alive())
      return await handToDaemon(
        store,
        clientId,
        command,
        clock,
        opened.kind === 'postgres' ? { ...options, alive } : options,
      );
    if (opened.kind === 'postgres') {
      // Acting from here would need leadership; only keepers take it.
      return {
        ok: false,
        message:
          'no keeper leads on this database right now: start one (`dhan-token-keeper run`); it carries out commands from any machine',
      };
    }
    const fullConfig = options.loadFullConfig ? await options.loadFullConfig() : config;
    return await actDirectly(fullConfig, store, clientId, command, clock, options.log ?? silentLogger());
  } finally {
    await store.close();
  }
}

/**
 * The keeper acting on this database, if one is alive: on SQLite the lease holder, on
 * PostgreSQL the leader whose heartbeat is fresh (it confirms its lock every few seconds).
 */
export async function actingKeeper(opened: OpenedStorage, now: number): Promise<LeaseHolder | undefined> {
  if (opened.kind === 'sqlite') {
    const holder = await opened.store.leaseHolder();
    return leaseIsLive(holder, now) ? holder : undefined;
  }
  const leader = await opened.store.leader();
  if (leader === undefined || leader.heartbeatAgeMs > LEASE_TTL_MS) return undefined;
  return {
    host: leader.host,
    pid: leader.pid,
    acquiredAt: leader.since,
    heartbeatAt: now - leader.heartbeatAgeMs,
    expiresAt: now - leader.heartbeatAgeMs + LEASE_TTL_MS,
  };
}

/** Queues a command for the daemon holding the lease and waits for its answer (also the status page's path). */
export async function handToDaemon(
  store: AsyncStore,
  clientId: string,
  command: KeeperCommand,
  clock: Clock,
  options: HandoffOptions & { alive?: () => Promise<boolean> },
): Promise<CommandOutcome> {
  const payload =
    command.action === 'import'
      ? JSON.stringify(command.token)
      : command.action === 'consent-finish'
        ? command.tokenId
        : null;
  const id = await store.enqueueRequest(clientId, command.action, payload, clock.now());
  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  const alive = options.alive ?? (async () => daemonAlive(await store.leaseHolder(), Date.now()));
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 200));
    const request = await store.getRequest(id);
    if (request?.status === 'done' || request?.status === 'failed') {
      return { ok: request.status === 'done', message: request.result ?? request.status };
    }
    if (!(await alive())) {
      // The daemon died: waiting out the 90 s would only hide it. A request it never took is
      // withdrawn; one it took is failed by the next daemon at its start.
      if (
        request?.status === 'queued' &&
        (await store.cancelRequest(id, 'the keeper stopped before taking the command'))
      ) {
        return {
          ok: false,
          message:
            'the running keeper stopped before taking the command; nothing was done — start it again, or run the command once more to act directly',
        };
      }
      return {
        ok: false,
        message:
          'the running keeper stopped while carrying out the command; its outcome is unknown — see `history` (the keeper marks the command failed when it starts again)',
      };
    }
  }
  // Never leave an import's token sitting in the queue for a daemon that may be wedged.
  await store.cancelRequest(id, 'the CLI gave up waiting');
  return { ok: false, message: 'the running keeper did not carry out the command within 90 s; check its logs' };
}

async function actDirectly(
  config: Config,
  store: AsyncStore,
  clientId: string,
  command: KeeperCommand,
  clock: Clock,
  log: Logger,
): Promise<CommandOutcome> {
  const lease = new Lease(store);
  await lease.acquire();
  try {
    const keeper = assembleKeeper(config, store, { clock, log });
    await keeper.prepareAccounts();
    await keeper.open();
    const worker = keeper.worker(clientId);
    if (!worker) return { ok: false, message: `no account ${clientId} in the config` };
    let outcome: CommandOutcome;
    switch (command.action) {
      case 'consent-start':
        outcome = await keeper.consentCommand(clientId, undefined);
        break;
      case 'consent-finish':
        outcome = await keeper.consentCommand(clientId, command.tokenId);
        break;
      default:
        outcome = await runCommand(worker, command);
    }
    // Sinks run beside the worker; a one-shot command must not exit before consumers have the token.
    await worker.published();
    return outcome;
  } catch (err) {
    return { ok: false, message: errorMessage(err) };
  } finally {
    await lease.release();
  }
}

/** The lease holder is still there: a fresh heartbeat, and on this host a process with its pid. */
function daemonAlive(holder: LeaseHolder | undefined, now: number): boolean {
  if (!leaseIsLive(holder, now)) return false;
  return holder.host !== hostname() || pidIsRunning(holder.pid);
}
