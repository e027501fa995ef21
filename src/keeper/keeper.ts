import { EventEmitter } from 'node:events';
import type { Clock } from '../clock.js';
import type { Attention } from '../attention.js';
import type { AccountConfig, Config } from '../config/config.js';
import { ConsentLogin } from './consent-login.js';
import { LoginRequests, type LoginRequestChange } from '../consent/login-requests.js';
import type { DhanApi, DhanConsentApi } from '../dhan/dhan-api.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { AsyncStore } from '../store/contract.js';
import type { LeaderFence } from '../store/postgres/leadership.js';
import type { KeeperRequest } from '../store/records.js';
import { lastUsedTotpStep, TotpGuard } from '../totp.js';
import type { StoredToken } from '../tokens.js';
import { adoptToken, runCommand, type CommandOutcome } from './account-commands.js';
import { ABANDONED_MESSAGE, AccountWorker, type TokenPublisher, type WorkerHooks } from './account-worker.js';
import type { ImportedToken } from './imported-token.js';
import { Limiter } from './limiter.js';
import { readiness, type Readiness, type ReadinessInput } from './readiness.js';
import { Scheduler } from './scheduler.js';
import { probeIntervalFor } from './probe-interval.js';
import type { AccountStatus, LeaderView } from '../account-status.js';
import { accountStatus, type AccountFacts } from './status.js';
import type { LoginRequest } from '../store/consents.js';
import { noSweep, type SweepStarter } from './sweep.js';
import { humanDuration } from '../time-format.js';

/**
 * Dhan calls per second for checking stored tokens at start. Each account is its own Dhan user
 * with its own limits; this bounds what one keeper sends in all, well under the ~20/s a single
 * user may make to Dhan's non-trading APIs, and checks 10,000 stored tokens in about 17 minutes
 * while serving all of them from the first second.
 */
export const STARTUP_CHECKS_PER_SECOND = 10;

export interface KeeperDeps {
  readonly config: Config;
  readonly store: AsyncStore;
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
  /** Several keepers on one database: only the leader acts on Dhan; see AccountWorkerDeps. */
  readonly leadership?: { fence(): LeaderFence | undefined };
}

/**
 * Keeps every configured account's token alive: recovery at start, the scheduler, commands
 * handed over by the CLI. It is also what the token API and the metrics read.
 */
export class Keeper {
  /** The API-key login, when the Dhan client offers it. */
  readonly consent: ConsentLogin | undefined;
  private readonly workers = new Map<string, AccountWorker>();
  private readonly changes = new EventEmitter();
  /** One per time this keeper acts (a start, each leadership term): a stopped one stays stopped. */
  private activeScheduler: Scheduler;
  private acting = false;
  private opened = false;
  /** Several keepers on PostgreSQL: who leads, as last heard (undefined: a lone keeper). */
  private leader: LeaderView | null | undefined;
  /** Consent accounts waiting for a person's login, as last committed or read. */
  private readonly logins = new Map<string, LoginRequest>();

  constructor(private readonly deps: KeeperDeps) {
    const { config, store, clock, log } = deps;
    const limiter = new Limiter(config.dhan.maxConcurrency);
    // The worker stores the step of every code it takes (lastTotpStep) before sending it, and
    // never rolls it back: lastGenerateAt is rolled back after a refusal Dhan answered, so a
    // restart within that step would otherwise send the refused code again. Rows from before
    // the column still have lastGenerateAt, taken at the same moment: the later of the two counts.
    const totp = new TotpGuard(clock, (clientId) => lastUsedTotpStep(this.workers.get(clientId)?.state));
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
      onChange: (change) => {
        if (change.kind === 'needed')
          this.logins.set(change.clientId, {
            clientId: change.clientId,
            since: clock.now(),
            reason: change.reason,
            deadline: change.deadline,
          });
        else this.logins.delete(change.clientId);
        deps.onLoginRequest?.(change);
      },
    });
    // One parent for every worker's own child: a parent per worker doubled the loggers and,
    // each being a prototype, gave every child a hidden class of its own.
    const workerLog = log.child({ component: 'worker' });
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
          generation: {
            intervalMs: config.dhan.minGenerateIntervalMs,
            marginMs: config.dhan.generateMarginMs,
            // How long an attempt whose end was never recorded may have gone on at Dhan.
            callTimeoutMs: config.dhan.requestTimeoutMs,
          },
          log: workerLog,
          hooks,
          ...(deps.random ? { random: deps.random } : {}),
          ...(deps.leadership ? { leadership: deps.leadership } : {}),
          ...(account.mode === 'consent'
            ? { consentLogin: { askBeforeMs: config.consent.askBeforeMs, requests: loginRequests } }
            : {}),
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
          const outcome = await adoptToken(worker, token, signal);
          this.scheduler.poke(clientId);
          return outcome;
        },
      });
    this.activeScheduler = this.newScheduler();
    const { probeIntervalMs, maxProbeRate } = config.renewal;
    if (this.probeIntervalMs > probeIntervalMs) {
      const accounts = this.workers.size;
      log.info(
        { accounts, probeIntervalMs: this.probeIntervalMs, maxProbeRate },
        `each account's profile check comes every ${humanDuration(this.probeIntervalMs)} instead of ${humanDuration(probeIntervalMs)}: ${accounts} ${accounts === 1 ? 'account' : 'accounts'} at renewal.maxProbeRate ${maxProbeRate}/s`,
      );
    }
  }

  /** `renewal.probeInterval`, stretched for the account count by `renewal.maxProbeRate`. */
  get probeIntervalMs(): number {
    const { probeIntervalMs, maxProbeRate } = this.deps.config.renewal;
    return probeIntervalFor(this.workers.size, probeIntervalMs, maxProbeRate);
  }

  private newScheduler(): Scheduler {
    const deps = this.deps;
    const { config, store, clock, log } = deps;
    return new Scheduler({
      clock,
      store,
      workers: [...this.workers.values()],
      log: log.child({ component: 'scheduler' }),
      probeIntervalMs: this.probeIntervalMs,
      probeAt: config.renewal.probeAt,
      startSweep: deps.startSweep ?? noSweep,
      ...(deps.random ? { random: deps.random } : {}),
    });
  }

  /** The schedule of the current (or last) time this keeper acted. */
  get scheduler(): Scheduler {
    return this.activeScheduler;
  }

  /** True while this keeper acts on Dhan (started, and not stood down). */
  get isActing(): boolean {
    return this.acting;
  }

  /** Registers accounts and lifts attention whose cause the config has since fixed, in one commit (one fsync, not one per account). */
  async prepareAccounts(): Promise<void> {
    const { config, store } = this.deps;
    await store.transaction(async (tx) => {
      for (const account of config.accounts) await this.prepareAccount(tx, account);
    });
  }

  private async prepareAccount(store: AsyncStore, account: Config['accounts'][number]): Promise<void> {
    const { clock, log } = this.deps;
    const record = await store.upsertAccount({ clientId: account.clientId, name: account.name, mode: account.mode });
    const lift = liftedByConfig(record.attention, account);
    if (lift) {
      // New credentials start a new credential budget; Dhan's window (lastGenerateAt) still holds.
      await store.updateAccount(account.clientId, { attention: null, consecutiveFailures: 0, generationAttempts: [] });
      await store.addEvent({
        clientId: account.clientId,
        at: clock.now(),
        kind: 'reset',
        result: 'info',
        message: `${lift}: automatic refresh resumes`,
      });
      log.info({ clientId: account.clientId }, `${lift}; automatic refresh resumes`);
    }
  }

  /**
   * Reads every account's row and current token, so that the token API serves stored live
   * tokens before (or without) this keeper acting. A standby keeper stays at this step.
   */
  async open(): Promise<void> {
    if (this.opened) return;
    // Two queries for all accounts, not two per account: on PostgreSQL each read is a round trip
    // (10,000 accounts over loopback, 8 reads in flight: about 0.6 s, against 30 ms), and even
    // SQLite answers the two queries in about two thirds of the time of 20,000 reads.
    const { store } = this.deps;
    const [records, tokens] = await Promise.all([store.listAccounts(), store.currentTokens()]);
    const recordOf = new Map(records.map((r) => [r.clientId, r]));
    const tokenOf = new Map(tokens.map((t) => [t.clientId, t]));
    for (const [clientId, worker] of this.workers) worker.loaded(recordOf.get(clientId), tokenOf.get(clientId));
    await this.loadLogins();
    this.opened = true;
  }

  private async loadLogins(): Promise<void> {
    const requests = await this.deps.store.consents.loginRequests();
    this.logins.clear();
    for (const r of requests) this.logins.set(r.clientId, r);
  }

  /**
   * Another keeper committed a swap (several keepers on one database): serve its token, and
   * write it to this machine's sinks. Called for every notice; one for a token already held is
   * ignored.
   */
  async tokenSwappedElsewhere(clientId: string): Promise<void> {
    const worker = this.workers.get(clientId);
    if (!worker || this.acting) return;
    const before = worker.current?.id;
    // The token first: consumers waiting on this keeper get it one round trip sooner.
    await worker.loadToken();
    const token = worker.current;
    if (token !== undefined && token.id !== before) worker.afterSwap(token, 'received (another keeper leads)');
    await worker.loadRecord();
  }

  /** See TokenProvider.catchUp: only a keeper that does not act can be behind the database. */
  async catchUp(clientId: string): Promise<void> {
    if (this.acting || this.deps.leadership === undefined) return;
    await this.tokenSwappedElsewhere(clientId).catch(() => undefined);
  }

  /** Re-reads every account (a standby whose notices may have been lost while it reconnected). */
  async reloadAll(): Promise<void> {
    if (this.acting) return;
    for (const clientId of this.workers.keys()) await this.tokenSwappedElsewhere(clientId);
    await this.loadLogins();
  }

  /**
   * Interrupted calls closed, stored tokens checked with Dhan, sinks rewritten, then the schedule.
   * Stored live tokens are served from the first moment; checking them is paced
   * (STARTUP_CHECKS_PER_SECOND, after a first burst that start() awaits) so that a restart with
   * 10,000 stored tokens neither bursts Dhan nor holds up the schedule. Accounts whose refresh
   * was interrupted go first: their token may have died with it.
   */
  async start(): Promise<void> {
    if (this.acting) return;
    this.acting = true;
    // A keeper that acted before (a previous leadership term) starts a fresh schedule.
    if (this.activeScheduler.signal.aborted) this.activeScheduler = this.newScheduler();
    const { store, clock } = this.deps;
    await this.prepareAccounts();
    const now = clock.now();
    const abandoned = await store.transaction(async (tx) => {
      const counts = new Map<string, number>();
      for (const clientId of this.workers.keys())
        counts.set(clientId, await tx.abandonPending(clientId, now, ABANDONED_MESSAGE));
      return counts;
    });
    // What the database says now, not what this keeper last saw: another keeper may have led.
    this.opened = false;
    await this.open();
    const signal = this.scheduler.signal;
    const toCheck = [...this.workers.values()].filter((w) => this.liveToken(w.clientId) !== undefined);
    toCheck.sort((a, b) => Number((abandoned.get(b.clientId) ?? 0) > 0) - Number((abandoned.get(a.clientId) ?? 0) > 0));
    const check = (w: AccountWorker): Promise<void> =>
      this.scheduler.track(w, () => w.recover(signal, abandoned.get(w.clientId) ?? 0));
    await Promise.all(toCheck.splice(0, STARTUP_CHECKS_PER_SECOND).map(check));
    await this.republishAll(signal);
    this.scheduler.start();
    this.paceChecks(toCheck, check);
  }

  /** One timer for all remaining start-up checks, STARTUP_CHECKS_PER_SECOND at a time. */
  private paceChecks(queue: AccountWorker[], check: (w: AccountWorker) => Promise<void>): void {
    if (queue.length === 0) return;
    this.deps.clock.setTimer(
      1_000,
      () => {
        if (this.scheduler.signal.aborted) return;
        for (const w of queue.splice(0, STARTUP_CHECKS_PER_SECOND)) void check(w);
        this.paceChecks(queue, check);
      },
      this.scheduler.signal,
    );
  }

  /** Stops acting: timers cancelled, calls in flight aborted, waits for all of it. The token API keeps serving. */
  async stop(): Promise<void> {
    this.acting = false;
    await this.scheduler.stop();
  }

  /** Resolves when no account has work in flight. */
  settle(): Promise<void> {
    return this.scheduler.settle();
  }

  worker(clientId: string): AccountWorker | undefined {
    return this.workers.get(clientId);
  }

  /** A standby's own sinks get the stored live tokens at its start, as the leader's do. */
  async republishStored(): Promise<void> {
    await this.republishAll(this.scheduler.signal);
  }

  /** Consumers may have missed the last swap (a crash between commit and publish): give them the stored token. */
  private async republishAll(signal: AbortSignal): Promise<void> {
    const { clock, publisher, log } = this.deps;
    await Promise.all(
      [...this.workers.values()].map(async ({ clientId, current: token }) => {
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
      if (request.action === 'import') {
        const payload = parseImportPayload(request.payload);
        if (!payload) return { ok: false, message: 'the import request carried no usable token' };
        outcome = await runCommand(worker, { action: 'import', token: payload }, signal);
      } else if (request.action === 'consent-start' || request.action === 'consent-finish') {
        outcome = await this.consentCommand(
          request.clientId,
          request.action === 'consent-start' ? undefined : (request.payload ?? ''),
          signal,
        );
      } else {
        outcome = await runCommand(worker, { action: request.action }, signal);
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

  /**
   * Every token API request asks this, and the answer changes a few times a day: it is read
   * from the store once per change, not once per request.
   */
  liveToken(clientId: string): StoredToken | undefined {
    const token = this.workers.get(clientId)?.current;
    return token !== undefined && token.expiresAt > this.deps.clock.now() ? token : undefined;
  }

  onTokenChange(listener: (clientId: string) => void): () => void {
    this.changes.on('change', listener);
    return () => this.changes.off('change', listener);
  }

  isKnownClient(clientId: string): boolean {
    return this.workers.has(clientId);
  }

  /** From memory: what this keeper committed or last read (a standby re-reads on every swap notice). */
  statuses(): AccountStatus[] {
    const { config, clock } = this.deps;
    const now = clock.now();
    return config.accounts.map((account) =>
      accountStatus(config, account, this.facts(account.clientId), now, this.leader),
    );
  }

  /** One account's state from memory, as statuses() reads it. */
  facts(clientId: string): AccountFacts {
    const worker = this.workers.get(clientId);
    return {
      record: worker?.state,
      token: worker?.current,
      login: this.logins.get(clientId),
      refreshing: worker?.refreshing ?? false,
    };
  }

  /** A consent account waits for a person's login (as last committed or read). */
  loginNeeded(clientId: string): boolean {
    return this.logins.has(clientId);
  }

  /** Several keepers on PostgreSQL: who leads now, for status (null: none does). */
  setLeader(leader: LeaderView | null): void {
    this.leader = leader;
  }

  /** Asked by every /readyz probe: answered from memory. */
  readiness(): Readiness {
    const accounts = [...this.workers.values()].map((worker): ReadinessInput => {
      const live = this.liveToken(worker.clientId) !== undefined;
      if (live)
        return { clientId: worker.clientId, live, hasToken: true, refreshing: worker.refreshing, attention: false };
      return {
        clientId: worker.clientId,
        live,
        hasToken: worker.current !== undefined,
        refreshing: worker.refreshing,
        attention: Boolean(worker.state?.attention),
      };
    });
    return readiness(accounts);
  }
}

/**
 * A stop the config has since fixed: other credentials than those Dhan refused, or an account
 * that was waiting for an import and can now generate. Returns why it is lifted, or undefined.
 */
export function liftedByConfig(attention: Attention | null, account: AccountConfig): string | undefined {
  if (!attention) return undefined;
  if (attention.scope === 'generation') {
    return attention.credentialsFingerprint !== account.credentialsFingerprint
      ? 'credentials changed in the config'
      : undefined;
  }
  const canGenerate = account.mode !== 'renew-only' && account.pin !== undefined && account.totpSecret !== undefined;
  return attention.cause === 'import-needed' && canGenerate
    ? 'the config now lets this account generate tokens'
    : undefined;
}

/** The payload of an `import` request handed to a running daemon, checked again on arrival. */
function parseImportPayload(raw: string | null): ImportedToken | undefined {
  if (!raw) return undefined;
  try {
    const value: unknown = JSON.parse(raw);
    if (!value || typeof value !== 'object') return undefined;
    const v = value as Record<string, unknown>;
    if (
      typeof v['accessToken'] !== 'string' ||
      typeof v['expiresAt'] !== 'number' ||
      typeof v['expiryTime'] !== 'string'
    )
      return undefined;
    const source = v['source'] === 'import' ? 'import' : 'web';
    return { accessToken: v['accessToken'], source, expiresAt: v['expiresAt'], expiryTime: v['expiryTime'] };
  } catch {
    return undefined;
  }
}
