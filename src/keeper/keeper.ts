import { EventEmitter } from 'node:events';
import type { Clock } from '../clock.js';
import type { Config } from '../config/types.js';
import { ConsentLogin } from '../consent/consent-login.js';
import { LoginRequests, type LoginRequestChange } from '../consent/login-requests.js';
import type { DhanApi, DhanConsentApi } from '../dhan/types.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
import type { KeeperRequest } from '../store/types.js';
import { TotpGuard } from '../totp.js';
import type { StoredToken } from '../types.js';
import { AccountWorker, type CommandOutcome, type TokenPublisher, type WorkerHooks } from './account-worker.js';
import type { ImportedToken } from './imported-token.js';
import { Limiter } from './limiter.js';
import { Scheduler } from './scheduler.js';
import { accountStatuses, type AccountStatus } from './status.js';
import { noSweep, type SweepStarter } from './sweep.js';

export interface KeeperDeps {
  readonly config: Config;
  readonly store: Store;
  readonly dhan: DhanApi;
  readonly clock: Clock;
  readonly log: Logger;
  readonly publisher: TokenPublisher;
  readonly hooks?: Partial<WorkerHooks>;
  readonly startSweep?: SweepStarter;
  readonly random?: () => number;
  /** Dhan's API-key login; without it, `login` is refused. */
  readonly consentDhan?: DhanConsentApi;
  /** A consent account started or stopped needing a person's login. */
  readonly onLoginRequest?: (change: LoginRequestChange) => void;
}

/**
 * Keeps every configured account's token alive: recovery at start, the scheduler, commands
 * handed over by the CLI. It is also what the token API and the metrics read.
 */
export class Keeper {
  readonly scheduler: Scheduler;
  /** The API-key login, when the Dhan client offers it. */
  readonly consent: ConsentLogin | undefined;
  private readonly workers = new Map<string, AccountWorker>();
  private readonly changes = new EventEmitter();
  private started = false;

  constructor(private readonly deps: KeeperDeps) {
    const { config, store, clock, log } = deps;
    const limiter = new Limiter(config.dhan.maxConcurrency);
    const totp = new TotpGuard(clock);
    const hooks: WorkerHooks = {
      tokenChanged: (clientId, token) => {
        deps.hooks?.tokenChanged?.(clientId, token);
        this.changes.emit('change', clientId);
      },
      refreshed: (clientId, method, result) => deps.hooks?.refreshed?.(clientId, method, result),
      probed: (clientId, result) => deps.hooks?.probed?.(clientId, result),
    };
    // Long-polling bots each hold a listener; the default cap of 10 is for leak detection, not us.
    this.changes.setMaxListeners(0);
    const loginRequests = new LoginRequests({
      store,
      clock,
      log: log.child({ component: 'consent' }),
      ...(deps.onLoginRequest ? { onChange: deps.onLoginRequest } : {}),
    });
    for (const account of config.accounts) {
      this.workers.set(
        account.clientId,
        new AccountWorker({
          account,
          store,
          dhan: deps.dhan,
          clock,
          totp,
          limiter,
          publisher: deps.publisher,
          policy: config.renewal,
          minGenerateIntervalMs: config.dhan.minGenerateIntervalMs,
          log: log.child({ component: 'worker' }),
          hooks,
          ...(deps.random ? { random: deps.random } : {}),
          ...(account.mode === 'consent' ? { consentLogin: { askBeforeMs: config.consent.askBeforeMs, requests: loginRequests } } : {}),
        }),
      );
    }
    const consentDhan = deps.consentDhan;
    this.consent =
      consentDhan &&
      new ConsentLogin({
        accounts: config.accounts,
        store,
        dhan: consentDhan,
        clock,
        log: log.child({ component: 'consent' }),
        adopt: async (clientId, token, signal) => {
          const worker = this.workers.get(clientId);
          if (!worker) return { ok: false, message: `no account ${clientId} in the config` };
          const outcome = await worker.adopt(token, signal);
          this.scheduler.poke(clientId);
          return outcome;
        },
      });
    this.scheduler = new Scheduler({
      clock,
      store,
      workers: [...this.workers.values()],
      log: log.child({ component: 'scheduler' }),
      probeIntervalMs: config.renewal.probeIntervalMs,
      startSweep: deps.startSweep ?? noSweep,
      ...(deps.random ? { random: deps.random } : {}),
    });
  }

  /** Registers accounts and lifts attention whose cause the config has since fixed. */
  prepareAccounts(): void {
    const { config, store, clock, log } = this.deps;
    for (const account of config.accounts) {
      const record = store.upsertAccount({ clientId: account.clientId, name: account.name, mode: account.mode });
      if (record.attention && record.attentionFingerprint && record.attentionFingerprint !== account.credentialsFingerprint) {
        store.transaction(() => {
          store.updateAccount(account.clientId, { attention: null, attentionFingerprint: null, consecutiveFailures: 0 });
          store.addEvent({ clientId: account.clientId, at: clock.now(), kind: 'reset', result: 'info', message: 'credentials changed in the config: automatic refresh resumes' });
        });
        log.info({ clientId: account.clientId }, 'credentials changed in the config; automatic refresh resumes');
      }
    }
  }

  /** Recovery (check stored tokens with Dhan), sinks rewritten from stored tokens, then the schedule. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.prepareAccounts();
    const signal = this.scheduler.signal;
    await Promise.all([...this.workers.values()].map((w) => this.scheduler.track(w, () => w.recover(signal))));
    await this.republishAll(signal);
    this.scheduler.start();
  }

  async stop(): Promise<void> {
    await this.scheduler.stop();
  }

  /** Resolves when no account has work in flight. */
  settle(): Promise<void> {
    return this.scheduler.settle();
  }

  worker(clientId: string): AccountWorker | undefined {
    return this.workers.get(clientId);
  }

  /** Consumers may have missed the last swap (a crash between commit and publish): give them the stored token. */
  private async republishAll(signal: AbortSignal): Promise<void> {
    const { store, clock, publisher, log } = this.deps;
    await Promise.all(
      [...this.workers.keys()].map(async (clientId) => {
        const token = store.currentToken(clientId);
        if (!token || token.expiresAt <= clock.now()) return;
        try {
          await publisher.publish(clientId, token, signal);
        } catch (err) {
          log.error({ clientId, err: errorMessage(err) }, 'rewriting sinks at start failed');
        }
      }),
    );
  }

  /** Carries out a command the CLI handed over. Never throws: the outcome goes back to the CLI. */
  async handleRequest(request: KeeperRequest): Promise<CommandOutcome> {
    const worker = this.workers.get(request.clientId);
    if (!worker) return { ok: false, message: `no account ${request.clientId} in the daemon's config` };
    const signal = this.scheduler.signal;
    try {
      let outcome: CommandOutcome;
      switch (request.action) {
        case 'renew':
        case 'generate':
          outcome = await worker.force(request.action, signal);
          break;
        case 'reset':
          outcome = worker.reset();
          break;
        case 'import': {
          const payload = parseImportPayload(request.payload);
          if (!payload) return { ok: false, message: 'the import request carried no usable token' };
          outcome = await worker.adopt(payload, signal);
          break;
        }
        case 'consent-start':
        case 'consent-finish':
          outcome = await this.consentCommand(request.clientId, request.action === 'consent-start' ? undefined : (request.payload ?? ''), signal);
          break;
      }
      return outcome;
    } catch (err) {
      return { ok: false, message: errorMessage(err) };
    } finally {
      this.scheduler.poke(request.clientId);
    }
  }

  /**
   * `login`: with no tokenId, starts a consent and answers its login URL; with one, finishes the
   * login (a pasted address or tokenId) for this account's newest consent.
   */
  async consentCommand(clientId: string, tokenId: string | undefined, signal?: AbortSignal): Promise<CommandOutcome> {
    if (!this.consent) return { ok: false, message: 'this keeper cannot log in with an API key' };
    if (tokenId === undefined) {
      const started = await this.consent.start(clientId, signal);
      return started.ok ? { ok: true, message: started.loginUrl } : started;
    }
    const finished = await this.consent.finish(tokenId, { clientId, ...(signal ? { signal } : {}) });
    return { ok: finished.result === 'stored', message: finished.message };
  }

  // --- what the token API and metrics read ---

  liveToken(clientId: string): StoredToken | undefined {
    const token = this.deps.store.currentToken(clientId);
    return token && token.expiresAt > this.deps.clock.now() ? token : undefined;
  }

  onTokenChange(listener: (clientId: string) => void): () => void {
    this.changes.on('change', listener);
    return () => this.changes.off('change', listener);
  }

  isKnownClient(clientId: string): boolean {
    return this.workers.has(clientId);
  }

  statuses(): AccountStatus[] {
    const rows = accountStatuses(this.deps.config, this.deps.store, this.deps.clock.now());
    // In this process we know exactly which account is mid-refresh; the store's view lags.
    return rows.map((row) => (this.workers.get(row.clientId)?.refreshing && row.state !== 'attention' ? { ...row, state: 'refreshing' } : row));
  }

  readiness(): { ready: boolean; notReady: string[] } {
    const notReady = this.statuses()
      // Waiting for a login with the token still live is ready: bots can work until it expires.
      .filter((s) => s.state !== 'valid' && s.state !== 'refreshing' && !(s.state === 'login-needed' && (s.secondsLeft ?? 0) > 0))
      .map((s) => `${s.clientId} (${s.name}): ${s.state}${s.attention ? ` — ${s.attention}` : ''}`);
    return { ready: notReady.length === 0, notReady };
  }
}

/** The payload of an `import` request handed to a running daemon, checked again on arrival. */
function parseImportPayload(raw: string | null): ImportedToken | undefined {
  if (!raw) return undefined;
  try {
    const value: unknown = JSON.parse(raw);
    if (!value || typeof value !== 'object') return undefined;
    const v = value as Record<string, unknown>;
    if (typeof v['accessToken'] !== 'string' || typeof v['expiresAt'] !== 'number' || typeof v['expiryTime'] !== 'string') return undefined;
    const source = v['source'] === 'import' ? 'import' : 'web';
    return { accessToken: v['accessToken'], source, expiresAt: v['expiresAt'], expiryTime: v['expiryTime'] };
  } catch {
    return undefined;
  }
}
