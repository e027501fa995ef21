import type { Attention, GenerationStopCause } from '../attention.js';
import { attentionText } from '../attention.js';
import type { Clock } from '../clock.js';
import { isAbortError } from '../clock.js';
import type { AccountConfig } from '../config/config.js';
import { DhanError, isDhanError } from '../dhan/errors.js';
import type { DhanApi, IssuedToken } from '../dhan/dhan-api.js';
import { errorMessage, KeeperError } from '../errors.js';
import { tokenFingerprint } from '../token-fingerprint.js';
import type { Logger } from '../log.js';
import type { AsyncStore } from '../store/contract.js';
import type { LeaderFence } from '../store/postgres/leadership.js';
import type { AccountPatch, AccountRecord, EventOutcome } from '../store/records.js';
import type { TotpGuard } from '../totp.js';
import type { StoredToken } from '../tokens.js';
import { backoffDelay } from './backoff.js';
import { owedRefresh, type CronSchedule } from '../cron-times.js';
import {
  decideAfterFailure,
  similarityKey,
  WAY_OUT,
  statusClass,
  type FailureDecision,
  type FailureFacts,
  type ProfileVerdict,
} from './failure-policy.js';
import {
  attemptOutcome,
  budgetVerdict,
  nextGenerationAt,
  withFinishedAttempt,
  withPendingAttempt,
  type GenerationTiming,
} from './generation-budget.js';
import type { Limiter } from './limiter.js';
import { plan, stableFraction, type Plan, type PlannerPolicy, type RefreshMethod } from './planner.js';
import { describeKind, tokenKind, type TokenKind } from './token-kind.js';
import { askPlan, type AskPlan } from './login-ask-plan.js';
import type { LoginRequests } from '../consent/login-requests.js';

// Every plan asks the current token's kind, and decoding the JWT each time was a visible share
// of a quiet keeper's probes; a stored token never changes, so its kind is remembered with it.
const kinds = new WeakMap<StoredToken, TokenKind>();
function kindOf(token: StoredToken): TokenKind {
  let kind = kinds.get(token);
  if (kind === undefined) {
    kind = tokenKind(token.accessToken, token.source);
    kinds.set(token, kind);
  }
  return kind;
}

/** How the rest of the daemon hears about what a worker did: metrics, the token API's push. */
export interface WorkerHooks {
  tokenChanged(clientId: string, token: StoredToken): void;
  refreshed(clientId: string, method: RefreshMethod | 'import', result: 'success' | 'failure'): void;
  probed(clientId: string, result: 'live' | 'dead' | 'error'): void;
}

export interface TokenPublisher {
  publish(clientId: string, token: StoredToken, signal?: AbortSignal): Promise<unknown>;
}

export interface AccountWorkerDeps {
  readonly account: AccountConfig;
  readonly store: AsyncStore;
  readonly dhan: DhanApi;
  readonly clock: Clock;
  readonly totp: TotpGuard;
  readonly limiter: Limiter;
  readonly publisher: TokenPublisher;
  readonly policy: PlannerPolicy & {
    readonly refreshAt: readonly CronSchedule[];
    readonly refreshAtSkipIfNewerThanMs: number;
  };
  /** Dhan's window between two generations, the margin on it, and how long a generation call may run. */
  readonly generation: GenerationTiming;
  readonly log: Logger;
  readonly hooks: WorkerHooks;
  /** For backoff jitter; injected so tests can pin it. */
  readonly random?: () => number;
  /** Only for mode consent: when Dhan will not renew, a person is asked to log in instead. */
  readonly consentLogin?: { readonly askBeforeMs: number; readonly requests: LoginRequests };
  /**
   * Several keepers on one database: the fence of this keeper's leadership, or undefined when it
   * may not act (then no Dhan call is made and nothing is committed). Absent: a lone keeper, which
   * its lease already makes the only one.
   */
  readonly leadership?: { fence(): LeaderFence | undefined };
}

/** Thrown into a refresh when this keeper is not (or no longer) the one that may act on Dhan. */
export class NotLeadingError extends Error {
  constructor(message = 'this keeper does not lead: another keeper acts on Dhan') {
    super(message);
    this.name = 'NotLeadingError';
  }
}

/** Ours, or the store's refusal of a swap fenced by an epoch that has passed. */
export function isNotLeading(err: unknown): boolean {
  return err instanceof NotLeadingError || (err instanceof KeeperError && err.code === 'not-leader');
}

export type TokenVerdict = Exclude<ProfileVerdict, 'not-asked'>;

/** Answers like the last failure, for the policy's repetition rule of DH-902/903. */
interface Streak {
  readonly key: string;
  readonly count: number;
  readonly firstAt: number;
}

/**
 * Keeps one account's token alive: one refresh in flight at a time (single flight), renew or
 * generate as the planner says, and after a failure do what the failure policy decides
 * (`failure-policy.ts`): this class gathers the facts and carries decisions out, it decides nothing
 * itself. All state a restart needs lives in the store (the credential budget included); what
 * lives here (backoff moment, the streak of DH-902/903 answers) is safe to lose: losing it only
 * makes the keeper retry longer.
 * Commands a person gives (force, reset, import) live in `account-commands.ts`.
 */
/** History's word for a Dhan call the keeper never heard back from because it stopped. */
export const ABANDONED_MESSAGE = 'the keeper stopped before Dhan answered';

export class AccountWorker {
  readonly clientId: string;
  #log: Logger | undefined;
  private inflight: Promise<void> | undefined;
  private retryNotBefore: number | undefined;
  private streak: Streak | undefined;
  private refreshingNow = false;
  private readonly publishing = new Set<Promise<void>>();
  private readonly random: () => number;
  /**
   * The account's row and current token as last committed by this worker or read by `load()`
   * (or by the keeper for it, `loaded()`).
   * The worker is its account's only writer while this keeper acts, so planning (every timer,
   * the sweep, every status read) needs no database round trip.
   */
  private record: AccountRecord | undefined;
  private token: StoredToken | undefined;

  constructor(readonly deps: AccountWorkerDeps) {
    this.clientId = deps.account.clientId;
    this.random = deps.random ?? Math.random;
  }

  /**
   * Made on first use: pino runs a child's bindings through its redaction when it makes the
   * child (about 25 µs), which 10,000 accounts paid at every start (a quarter of a second)
   * though most of them log nothing for hours.
   */
  get log(): Logger {
    this.#log ??= this.deps.log.child({ clientId: this.clientId, account: this.deps.account.name });
    return this.#log;
  }

  get busy(): boolean {
    return this.inflight !== undefined;
  }

  /** A renewal or generation is under way (a probe or a reset is not). */
  get refreshing(): boolean {
    return this.refreshingNow;
  }

  /** Resolves when the refresh in flight (if any) has finished. */
  async idle(): Promise<void> {
    while (this.inflight) await this.inflight.catch(() => undefined);
  }

  /** Resolves when every publication started so far has finished (sinks run beside the worker). */
  async published(): Promise<void> {
    while (this.publishing.size > 0) await Promise.all([...this.publishing]);
  }

  /** The config allows generation (PIN and TOTP secret, a mode that generates); a stop may still forbid it. */
  get canGenerate(): boolean {
    const { account } = this.deps;
    return account.mode !== 'renew-only' && account.pin !== undefined && account.totpSecret !== undefined;
  }

  /** The account's current plan, from the store's committed state. */
  plan(): Plan {
    const { clock, account } = this.deps;
    const now = clock.now();
    const { record, token } = this;
    const generateNotBefore = now + this.generationWaitMs();
    const planned = plan({
      now,
      mode: account.mode,
      canGenerate: this.canGenerate,
      token: token
        ? { obtainedAt: token.obtainedAt, expiresAt: token.expiresAt, source: token.source, kind: kindOf(token) }
        : undefined,
      renewRefusedKinds: record?.renewRefusedKinds ?? [],
      attention: record?.attention ?? null,
      policy: this.deps.policy,
      jitterFraction: stableFraction(`${this.clientId}:${token?.id ?? 0}`),
      retryNotBefore: this.retryNotBefore,
      generateNotBefore,
      refreshAt: token
        ? owedRefresh(this.deps.policy.refreshAt, token.obtainedAt, now, this.deps.policy.refreshAtSkipIfNewerThanMs)
        : undefined,
    });
    return this.withLoginAsk(planned, now);
  }

  /**
   * Consent accounts only: a token Dhan will not renew is not planned for renewal; instead the
   * plan waits for the moment to ask a person to log in (login-ask-plan.ts).
   */
  private withLoginAsk(planned: Plan, now: number): Plan {
    const ask = this.loginAsk(now);
    if (ask === undefined || ask.ask === 'no') return planned;
    if (planned.action === 'attention' && this.record?.attention) return planned;
    if (ask.ask === 'later')
      return { action: 'wait', at: ask.at, then: 'renew', reason: `ask a person to log in then (${ask.reason})` };
    // Only a person can help now; acknowledgeAttention records it as a login request, not a stop.
    return { action: 'attention', reason: ask.reason, wayOut: WAY_OUT.login };
  }

  private loginAsk(now: number): AskPlan | undefined {
    const consent = this.deps.consentLogin;
    if (!consent) return undefined;
    const token = this.token;
    const refused = this.record?.renewRefusedKinds ?? [];
    return askPlan({
      now,
      token,
      renewRefused: token !== undefined && refused.includes(kindOf(token)),
      askBeforeMs: consent.askBeforeMs,
      avoid: this.deps.policy.avoid,
      refreshAt: token
        ? owedRefresh(this.deps.policy.refreshAt, token.obtainedAt, now, this.deps.policy.refreshAtSkipIfNewerThanMs)
        : undefined,
    });
  }

  /** Acts if the plan says so now; otherwise does nothing. Safe to call at any time. */
  actIfDue(signal?: AbortSignal): Promise<void> {
    return this.exclusive(async () => {
      const current = this.plan();
      if (current.action === 'renew' || current.action === 'generate') await this.perform(current.action, signal);
      else if (current.action === 'attention') await this.acknowledgeAttention(current);
    });
  }

  /**
   * Asks Dhan whether the live token still works. A token Dhan killed early (a login elsewhere,
   * a manual renewal) is marked dead so that the next plan replaces it; a failed check changes nothing.
   */
  probe(signal?: AbortSignal): Promise<void> {
    return this.exclusive(async () => {
      const { clock } = this.deps;
      const token = this.token;
      if (!token || token.expiresAt <= clock.now()) return;
      this.fence();
      const verdict = await this.checkToken(token, signal);
      this.deps.hooks.probed(this.clientId, verdict === 'unknown' ? 'error' : verdict);
      if (verdict === 'dead')
        await this.declareDead(
          token,
          'probe',
          'Dhan no longer accepts the token (killed early: a login elsewhere or a manual renewal?)',
        );
    });
  }

  /**
   * At start: a pending row means a crash mid-call (a renewal kills the old token at once), and any
   * stored token may have been killed while we were down. Reuse what Dhan confirms, replace the rest.
   */
  recover(signal?: AbortSignal, abandonedAtStart?: number): Promise<void> {
    return this.exclusive(async () => {
      const { store, clock } = this.deps;
      const now = clock.now();
      // The keeper closes every account's pending rows in one commit at start and says how many were ours.
      const abandoned = abandonedAtStart ?? (await store.abandonPending(this.clientId, now, ABANDONED_MESSAGE));
      await this.load();
      const token = this.token;
      if (!token || token.expiresAt <= now) return;
      this.fence();
      const verdict = await this.checkToken(token, signal);
      this.deps.hooks.probed(this.clientId, verdict === 'unknown' ? 'error' : verdict);
      if (verdict === 'dead') {
        await this.declareDead(
          token,
          'recover',
          abandoned > 0
            ? 'the stored token died with an interrupted refresh'
            : 'the stored token is no longer accepted by Dhan',
        );
      } else {
        await store.addEvent({
          clientId: this.clientId,
          at: clock.now(),
          kind: 'recover',
          result: 'info',
          message:
            verdict === 'live'
              ? 'stored token confirmed by Dhan: reused'
              : 'stored token could not be checked; reused until a probe says otherwise',
          expiryBefore: token.expiresAt,
        });
      }
    });
  }

  /** Reads the account's row and current token from the store (at start, at a takeover, after another writer). */
  async load(): Promise<void> {
    await Promise.all([this.loadToken(), this.loadRecord()]);
  }

  /**
   * Takes the account's row and current token as the caller read them: the keeper reads every
   * account's in two queries at start (`Keeper.open()`) instead of two per account.
   */
  loaded(record: AccountRecord | undefined, token: StoredToken | undefined): void {
    this.record = record;
    this.token = token;
  }

  /** Reads only the current token: what a standby needs first after another keeper's swap. */
  async loadToken(): Promise<void> {
    this.token = await this.deps.store.currentToken(this.clientId);
  }

  async loadRecord(): Promise<void> {
    this.record = await this.deps.store.getAccount(this.clientId);
  }

  /** The account's row as last committed or loaded. */
  get state(): AccountRecord | undefined {
    return this.record;
  }

  /** The account's current token (live or not) as last committed or loaded. */
  get current(): StoredToken | undefined {
    return this.token;
  }

  /** Commits a change to the account's row and keeps the worker's copy in step. */
  async update(patch: AccountPatch, store: AsyncStore = this.deps.store): Promise<AccountRecord> {
    this.record = await store.updateAccount(this.clientId, patch);
    return this.record;
  }

  /** A transaction whose writes also update the worker's copies; a failed one re-reads them. */
  async inTransaction<T>(fn: (tx: AsyncStore) => Promise<T>): Promise<T> {
    try {
      return await this.deps.store.transaction(fn);
    } catch (err) {
      await this.load().catch(() => undefined);
      throw err;
    }
  }

  /** The fence to commit under; throws when another keeper acts on Dhan. */
  fence(): LeaderFence | undefined {
    const leadership = this.deps.leadership;
    if (leadership === undefined) return undefined;
    const fence = leadership.fence();
    if (fence === undefined) throw new NotLeadingError();
    return fence;
  }

  /** Runs work with nothing else of this account's in flight (single flight, as octokit's auth does). */
  async exclusive(work: () => Promise<void>): Promise<void> {
    while (this.inflight) await this.inflight.catch(() => undefined);
    const run = work().finally(() => {
      this.inflight = undefined;
    });
    this.inflight = run;
    return run;
  }

  /**
   * How long until another generation may be sent: Dhan's window from the last attempt's end plus
   * the margin, the credential budget's pace, the next unused TOTP step.
   */
  generationWaitMs(): number {
    const now = this.deps.clock.now();
    const record = this.record;
    const next = nextGenerationAt(
      record?.lastGenerateAt ?? null,
      record?.generationAttempts ?? [],
      this.deps.generation,
    );
    return Math.max(0, (next ?? now) - now, this.deps.totp.waitMs(this.clientId));
  }

  /** Forgets backoff and the streak of similar answers: a person acted (reset, import). */
  forgetFailures(): void {
    this.retryNotBefore = undefined;
    this.streak = undefined;
  }

  /**
   * The planner says only a person can help (e.g. a renew-only account without a live token):
   * persist that, so that status, metrics and alerts say so. A stop already recorded stays as is.
   */
  async acknowledgeAttention(planned: Extract<Plan, { action: 'attention' }>): Promise<void> {
    // Consent accounts: a missing, dead or unrenewable token is a login request, not a stop.
    const ask = this.loginAsk(this.deps.clock.now());
    if (ask?.ask === 'now') {
      await this.deps.consentLogin?.requests.request(this.clientId, ask.reason, ask.deadline);
      return;
    }
    const record = this.record;
    if (record && !record.attention) {
      await this.setAttention({
        scope: 'account',
        cause: 'import-needed',
        reason: planned.reason,
        wayOut: planned.wayOut,
        since: this.deps.clock.now(),
      });
    }
  }

  /** Renews or generates now; the caller holds `exclusive`. */
  async perform(method: RefreshMethod, signal?: AbortSignal): Promise<void> {
    const token = this.token;
    this.refreshingNow = true;
    try {
      if (method === 'renew' && token && token.expiresAt > this.deps.clock.now()) await this.renew(token, signal);
      else await this.generate(token, signal);
    } finally {
      this.refreshingNow = false;
    }
  }

  private async renew(token: StoredToken, signal?: AbortSignal): Promise<void> {
    const { store, clock, dhan } = this.deps;
    const started = clock.now();
    this.fence();
    const eventId = await store.beginEvent({
      clientId: this.clientId,
      at: started,
      kind: 'renew',
      expiryBefore: token.expiresAt,
    });
    const answer = await this.call(
      'renew',
      eventId,
      started,
      () => dhan.renewToken({ clientId: this.clientId, accessToken: token.accessToken }, signal),
      signal,
    );
    if (answer instanceof DhanError) {
      await this.afterFailure(answer, token, signal);
      return;
    }
    await this.commit(answer, 'renew', eventId, started, signal);
  }

  /**
   * One Dhan call under the global limit, its pending history row resolved either way. Returns
   * the classified failure rather than throwing it; only a stop (abort) propagates.
   */
  private async call(
    endpoint: 'renew' | 'generate',
    eventId: number,
    started: number,
    request: () => Promise<IssuedToken>,
    signal?: AbortSignal,
  ): Promise<Issued | DhanError> {
    const { store, clock, limiter } = this.deps;
    let fence: LeaderFence | undefined;
    try {
      const issued = await limiter.run(() => {
        // Asked again once the slot is ours: leadership may have moved while we queued.
        fence = this.fence();
        return request();
      }, signal);
      return { issued, fence };
    } catch (err) {
      if (isAbortError(err) || isNotLeading(err)) {
        const message = isNotLeading(err)
          ? 'this keeper stopped leading before the call'
          : 'the keeper stopped during the call';
        await store.finishEvent(eventId, { result: 'abandoned', message, durationMs: clock.now() - started });
        throw err;
      }
      const failure = asDhanError(err, endpoint);
      await store.finishEvent(eventId, failureOutcome(failure, clock.now() - started));
      this.deps.hooks.refreshed(this.clientId, endpoint, 'failure');
      return failure;
    }
  }

  private async generate(previous: StoredToken | undefined, signal?: AbortSignal): Promise<void> {
    const { store, clock, dhan, account, totp } = this.deps;
    if (!this.canGenerate || account.pin === undefined || account.totpSecret === undefined) {
      await this.setAttention({
        scope: 'account',
        cause: 'import-needed',
        reason: 'no live token and no TOTP credentials to generate one',
        wayOut: 'import a fresh token from Dhan Web: `dhan-token-keeper import CLIENT_ID`',
        since: clock.now(),
      });
      return;
    }
    if (this.generationWaitMs() > 0) return;
    // Never send credentials Dhan already refused: that is how accounts get TOTP disabled.
    if (this.record?.attention?.scope === 'generation') return;
    // The durable record decides, not how the last answer was read: a spent budget stops here
    // even when its stop was never written (a crash right after the attempt that spent it).
    const budget = budgetVerdict(this.record?.generationAttempts ?? [], clock.now());
    if (budget.spent) {
      await this.stopGeneration(budget.cause, budget.reason, WAY_OUT.credentials);
      return;
    }
    const secret = account.totpSecret;
    if (totp.waitMs(this.clientId) > 0) return;
    this.fence();

    const previousGenerateAt = this.record?.lastGenerateAt ?? null;
    let sentAt: number | undefined;
    const started = clock.now();
    const eventId = await store.beginEvent({
      clientId: this.clientId,
      at: started,
      kind: 'generate',
      expiryBefore: previous?.expiresAt ?? null,
    });
    const answer = await this.call(
      'generate',
      eventId,
      started,
      async () => {
        // Taken once a Dhan slot is ours, not before queueing for one: behind thousands of other
        // accounts (dhan.maxConcurrency) a code taken early is stale when sent, Dhan answers
        // "Invalid TOTP", and repeated refusals can get TOTP disabled on the account.
        const code = totp.take(this.clientId, secret);
        if (!code.ok)
          throw new Error(`a TOTP code was already used in this 30-s step; next in ${Math.ceil(code.waitMs / 1000)} s`);
        // Durable before the call, and at the moment the code is taken: a crash or restart loop must
        // neither break Dhan's one-per-interval rule nor reuse this TOTP step (the guard reads it
        // back), and the attempt is in the credential budget before Dhan can answer it.
        sentAt = clock.now();
        await this.update({
          lastGenerateAt: sentAt,
          lastTotpStep: code.step,
          generationAttempts: withPendingAttempt(this.record?.generationAttempts ?? [], sentAt, code.step),
        });
        return dhan.generateToken({ clientId: this.clientId, pin: account.pin ?? '', totp: code.code }, signal);
      },
      signal,
    );
    if (answer instanceof DhanError) {
      if (sentAt !== undefined) await this.endAttempt(answer, sentAt, previousGenerateAt);
      await this.afterFailure(answer, previous, signal);
      return;
    }
    await this.commit(answer, 'totp', eventId, started, signal);
  }

  /**
   * Records how a failed attempt ended. Every attempt that may have reached Dhan re-arms its
   * window, refused ones included, so the interval counts from this end; only a request that
   * certainly never left gives its moment back. The TOTP step stays spent either way.
   */
  private async endAttempt(failure: DhanError, sentAt: number, previousGenerateAt: number | null): Promise<void> {
    const endedAt = this.deps.clock.now();
    const outcome = attemptOutcome(failure);
    await this.update({
      lastGenerateAt: outcome === 'not-sent' ? previousGenerateAt : endedAt,
      generationAttempts: withFinishedAttempt(this.record?.generationAttempts ?? [], sentAt, {
        endedAt,
        outcome,
        answer: failure.answer ?? failure.summary,
        retryAfterMs: failure.retryAfterMs,
      }),
    });
  }

  /**
   * Gathers the facts, asks the failure policy, and carries its decision out. A "check the
   * token" decision is followed by the profile call and a second question with its verdict;
   * the policy never asks twice (its table test holds it to that).
   */
  private async afterFailure(failure: DhanError, token: StoredToken | undefined, signal?: AbortSignal): Promise<void> {
    const now = this.deps.clock.now();
    const key = similarityKey(failure.endpoint, failure.kind);
    this.streak =
      this.streak?.key === key
        ? { key, count: this.streak.count + 1, firstAt: this.streak.firstAt }
        : { key, count: 1, firstAt: now };
    let verdict: ProfileVerdict = 'not-asked';
    let decision = decideAfterFailure(this.facts(failure, token, verdict));
    if (decision.action === 'check-token') {
      verdict = token && token.expiresAt > this.deps.clock.now() ? await this.checkToken(token, signal) : 'dead';
      decision = decideAfterFailure(this.facts(failure, token, verdict));
    }
    this.log.debug(
      { endpoint: failure.endpoint, kind: failure.kind, dhanCode: failure.dhanCode, verdict, action: decision.action },
      decision.reason,
    );
    await this.carryOut(decision, failure, token);
  }

  private facts(failure: DhanError, token: StoredToken | undefined, verdict: ProfileVerdict): FailureFacts {
    const { clock, account } = this.deps;
    const record = this.record;
    const now = clock.now();
    const kind = token ? kindOf(token) : undefined;
    return {
      endpoint: failure.endpoint,
      kind: failure.kind,
      status: statusClass(failure.httpStatus),
      dhanCode: failure.dhanCode,
      oldTokenMayBeDead: failure.oldTokenMayBeDead,
      retryAfterMs: failure.retryAfterMs,
      verdict,
      mode: account.mode,
      canGenerate: this.canGenerate && record?.attention?.scope !== 'generation',
      hasLiveToken: token !== undefined && token.expiresAt > now,
      kindKnownNotRenewable: kind !== undefined && (record?.renewRefusedKinds ?? []).includes(kind),
      similar: { count: this.streak?.count ?? 1, firstAt: this.streak?.firstAt ?? now },
      generation: {
        lastGenerateAt: record?.lastGenerateAt ?? null,
        attempts: record?.generationAttempts ?? [],
        timing: this.deps.generation,
      },
      now,
    };
  }

  private async carryOut(decision: FailureDecision, failure: DhanError, token: StoredToken | undefined): Promise<void> {
    const now = this.deps.clock.now();
    switch (decision.action) {
      case 'retry':
        await this.fail(failure, token, decision.after === 'backoff' ? undefined : decision.after);
        return;
      case 'check-token':
      case 'carry-on':
        // check-token cannot come back after a verdict; treat it like a failure to retry.
        if (decision.action === 'check-token') await this.fail(failure, token, undefined);
        return;
      case 'token-dead':
        if (token && token.expiresAt > now)
          await this.declareDead(token, failure.endpoint === 'renew' ? 'renew' : 'probe', decision.reason);
        this.retryNotBefore = undefined;
        return;
      case 'learn-not-renewable-and-generate':
        if (token) await this.learnNotRenewable(token, 'generating instead from now on');
        this.retryNotBefore = undefined;
        return;
      case 'stop-generation':
        await this.stopGeneration(decision.cause, decision.reason, decision.wayOut);
        return;
      case 'stop-account':
        this.streak = undefined;
        await this.setAttention({
          scope: 'account',
          cause: 'access-denied',
          reason: decision.reason,
          wayOut: decision.wayOut,
          since: now,
        });
        return;
      case 'ask-import':
        if (token) await this.learnNotRenewable(token, 'a fresh token must be imported');
        await this.setAttention({
          scope: 'account',
          cause: 'import-needed',
          reason: decision.reason,
          wayOut: decision.wayOut,
          since: now,
        });
        return;
      case 'ask-login':
        // The token works until it expires: remember that Dhan will not renew its kind, and the
        // plan asks a person to log in (consent.askBefore ahead of expiry, login-ask-plan.ts)
        // as a login request rather than a stop. With no live token left, it asks at once.
        if (token) await this.learnNotRenewable(token, 'a person will be asked to log in before it expires');
        this.retryNotBefore = undefined;
        return;
    }
  }

  /** The credential budget is spent: generation stops until a person acts; renewals go on. */
  private async stopGeneration(cause: GenerationStopCause, reason: string, wayOut: string): Promise<void> {
    this.streak = undefined;
    await this.setAttention({
      scope: 'generation',
      cause,
      reason,
      wayOut,
      since: this.deps.clock.now(),
      credentialsFingerprint: this.deps.account.credentialsFingerprint,
    });
  }

  private async learnNotRenewable(token: StoredToken, then: string): Promise<void> {
    const kind = kindOf(token);
    const learned = new Set(this.record?.renewRefusedKinds ?? []);
    const isNew = !learned.has(kind);
    learned.add(kind);
    await this.update({
      renewRefusedKinds: [...learned],
      lastResult: `Dhan does not renew ${describeKind(kind)}: ${then}`,
    });
    if (isNew) this.log.warn({ tokenKind: kind }, `Dhan does not renew ${describeKind(kind)}; remembered: ${then}`);
  }

  /** Records a failure and when to try again: a hint from Dhan, or the backoff schedule. */
  private async fail(
    failure: DhanError,
    token: StoredToken | undefined,
    retryAfterMs: number | undefined,
  ): Promise<void> {
    const { clock } = this.deps;
    const now = clock.now();
    const failures = (this.record?.consecutiveFailures ?? 0) + 1;
    const remaining = token && token.expiresAt > now ? token.expiresAt - now : undefined;
    const delay = retryAfterMs ?? backoffDelay(failures, remaining, this.random);
    this.retryNotBefore = now + delay;
    await this.update({
      consecutiveFailures: failures,
      lastAttemptAt: now,
      lastResult: `${failure.endpoint} failed (${failure.kind}${failure.dhanCode ? ` ${failure.dhanCode}` : ''}); retry in ${Math.ceil(delay / 1000)} s`,
    });
    this.log.warn(
      {
        endpoint: failure.endpoint,
        kind: failure.kind,
        dhanCode: failure.dhanCode,
        httpStatus: failure.httpStatus,
        failures,
        retryInMs: delay,
      },
      `${failure.endpoint} failed: ${failure.message}`,
    );
  }

  private async setAttention(attention: Attention): Promise<void> {
    const { clock } = this.deps;
    const text = attentionText(attention);
    await this.inTransaction(async (store) => {
      this.record = await store.updateAccount(this.clientId, {
        attention,
        nextActionAt: null,
        lastResult: `attention: ${text}`,
      });
      await store.addEvent({
        clientId: this.clientId,
        at: clock.now(),
        kind: 'attention',
        result: 'failure',
        message: text,
        detail: { scope: attention.scope, cause: attention.cause },
      });
    });
    this.log.error(
      { scope: attention.scope, cause: attention.cause, reason: attention.reason, wayOut: attention.wayOut },
      attention.scope === 'generation'
        ? 'token generation stopped until a person acts; renewals go on'
        : 'automatic refresh stopped for this account until a person acts',
    );
  }

  private async declareDead(token: StoredToken, kind: 'probe' | 'renew' | 'recover', message: string): Promise<void> {
    const { clock } = this.deps;
    const now = clock.now();
    await this.inTransaction(async (store) => {
      await store.markTokenDead(token.id, now);
      await store.addEvent({
        clientId: this.clientId,
        at: now,
        kind,
        result: 'failure',
        errorKind: 'token-invalid',
        message,
        expiryBefore: token.expiresAt,
      });
      this.token = await store.currentToken(this.clientId);
    });
    this.retryNotBefore = undefined;
    this.log.warn({ fingerprint: tokenFingerprint(token.accessToken) }, message);
  }

  /** 'live' or 'dead' when Dhan said so; 'unknown' when the check itself failed. */
  private async checkToken(token: StoredToken, signal?: AbortSignal): Promise<TokenVerdict> {
    try {
      await this.deps.limiter.run(() => this.deps.dhan.getProfile(token.accessToken, signal), signal);
      return 'live';
    } catch (err) {
      if (isAbortError(err)) throw err;
      if (isDhanError(err)) {
        if (err.kind === 'token-invalid') return 'dead';
        // DH-902/903 are answered only after Dhan accepted the token: it is live, the account has another problem.
        if (err.kind === 'access-denied') {
          this.log.warn({ dhanCode: err.dhanCode }, `profile check: ${err.message}`);
          return 'live';
        }
      }
      this.log.debug({ err: errorMessage(err) }, 'profile check failed; verdict unknown');
      return 'unknown';
    }
  }

  /** Commit → publish → log (docs/promises.md, promise 2: the new token is durable before anything else). */
  private async commit(
    answer: Issued,
    source: 'renew' | 'totp',
    eventId: number,
    started: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const { store, clock } = this.deps;
    const now = clock.now();
    const method: RefreshMethod = source === 'renew' ? 'renew' : 'generate';
    let saved: StoredToken;
    try {
      saved = await this.inTransaction((tx) => this.saveIssued(tx, answer, source, eventId, started, now));
    } catch (err) {
      if (!isNotLeading(err)) throw err;
      // Another keeper took over while Dhan answered: it owns the account now, and its takeover
      // re-checks the stored token. What Dhan issued to us is not ours to keep.
      this.log.warn({ err: errorMessage(err) }, 'lost leadership during the call: the new token was not stored');
      await store.finishEvent(eventId, {
        result: 'abandoned',
        message: 'this keeper lost leadership before it could store the new token',
        durationMs: clock.now() - started,
      });
      throw err;
    }
    this.forgetFailures();
    this.deps.hooks.refreshed(this.clientId, method, 'success');
    this.afterSwap(saved, method === 'renew' ? 'renewed' : 'generated', signal);
  }

  /** The swap itself: token, history row and account row in one commit, under the fence. */
  private async saveIssued(
    store: AsyncStore,
    { issued, fence }: Issued,
    source: 'renew' | 'totp',
    eventId: number,
    started: number,
    now: number,
  ): Promise<StoredToken> {
    const method: RefreshMethod = source === 'renew' ? 'renew' : 'generate';
    const token = await store.saveToken(
      {
        clientId: this.clientId,
        accessToken: issued.accessToken,
        source,
        // Dhan's own issue time keeps the lifetime (and so the plan) right; ours is the fallback.
        obtainedAt:
          issued.issuedAt !== undefined && Math.abs(issued.issuedAt - now) < 10 * 60_000 ? issued.issuedAt : now,
        expiresAt: issued.expiresAt,
        expiryTime: issued.expiryTime,
      },
      fence,
    );
    await store.finishEvent(eventId, {
      result: 'success',
      durationMs: now - started,
      expiryAfter: issued.expiresAt,
      message: `${method === 'renew' ? 'renewed' : 'generated'}: token ${tokenFingerprint(issued.accessToken)}`,
    });
    this.record = await store.updateAccount(this.clientId, {
      consecutiveFailures: 0,
      lastSuccessAt: now,
      lastAttemptAt: now,
      lastResult: method === 'renew' ? 'renewed' : 'generated',
      // A new token closes the credential budget's record; Dhan's window runs from this attempt's end.
      generationAttempts: [],
      ...(method === 'generate' ? { lastGenerateAt: now } : {}),
    });
    this.token = token;
    return token;
  }

  /**
   * Hands the new token to the sinks without waiting for them: a hook that hangs for its whole
   * timeout (times its retries) must never hold up the next renewal or probe of this account
   * (docs/promises.md, promise 1). The publisher runs an account's sinks in parallel and never lets an
   * older token overwrite a newer file, so overlapping publishes are safe.
   */
  afterSwap(token: StoredToken, verb: string, signal?: AbortSignal): void {
    this.token = token;
    this.deps.hooks.tokenChanged(this.clientId, token);
    const publishing = this.deps.publisher
      .publish(this.clientId, token, signal)
      .then(() => undefined)
      .catch((err: unknown) => {
        // Publishers report per-sink failures themselves; this guards the keeper against a bug in one.
        if (!isAbortError(err)) this.log.error({ err: errorMessage(err) }, 'publishing the new token failed');
      })
      .finally(() => this.publishing.delete(publishing));
    this.publishing.add(publishing);
    this.log.info(
      {
        fingerprint: tokenFingerprint(token.accessToken),
        source: token.source,
        expiresAt: new Date(token.expiresAt).toISOString(),
      },
      `${verb} token for ${this.clientId}`,
    );
  }
}

/** What Dhan issued, and the leadership it was asked under (swaps commit only under it). */
interface Issued {
  readonly issued: IssuedToken;
  readonly fence: LeaderFence | undefined;
}

function asDhanError(err: unknown, endpoint: 'renew' | 'generate'): DhanError {
  if (err instanceof DhanError) return err;
  return new DhanError({ kind: 'unknown', endpoint, summary: `unexpected failure: ${errorMessage(err)}` });
}

function failureOutcome(failure: DhanError, durationMs: number): EventOutcome {
  return {
    result: 'failure',
    errorKind: failure.kind,
    errorCode: failure.dhanCode ?? (failure.httpStatus !== undefined ? `HTTP ${failure.httpStatus}` : null),
    message: failure.message,
    durationMs,
  };
}
