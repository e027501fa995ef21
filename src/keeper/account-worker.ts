import type { Clock } from '../clock.js';
import { isAbortError } from '../clock.js';
import type { AccountConfig } from '../config/types.js';
import { DhanError, isDhanError } from '../dhan/errors.js';
import type { DhanApi, IssuedToken } from '../dhan/types.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
import type { AccountRecord, EventOutcome } from '../store/types.js';
import { TOTP_STEP_MS, type TotpGuard } from '../totp.js';
import type { StoredToken } from '../types.js';
import { backoffDelay } from './backoff.js';
import type { ImportedToken } from './imported-token.js';
import type { Limiter } from './limiter.js';
import { plan, stableFraction, type Plan, type PlannerPolicy, type RefreshMethod } from './planner.js';
import { tokenFingerprint } from '../fingerprint.js';
import { askPlan } from '../consent/ask-plan.js';
import type { LoginRequests } from '../consent/login-requests.js';

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
  readonly store: Store;
  readonly dhan: DhanApi;
  readonly clock: Clock;
  readonly totp: TotpGuard;
  readonly limiter: Limiter;
  readonly publisher: TokenPublisher;
  readonly policy: PlannerPolicy;
  readonly minGenerateIntervalMs: number;
  readonly log: Logger;
  readonly hooks: WorkerHooks;
  /** For backoff jitter; injected so tests can pin it. */
  readonly random?: () => number;
  /** Only for mode consent: when Dhan will not renew, a person is asked to log in instead. */
  readonly consentLogin?: { readonly askBeforeMs: number; readonly requests: LoginRequests };
}


export type TokenVerdict = 'live' | 'dead' | 'unknown';

/** What a forced command (`renew`, `generate`, `reset`, `import`) reports back to the person. */
export interface CommandOutcome {
  readonly ok: boolean;
  readonly message: string;
}

/** A generation refusal that is not a rate limit or a server fault gets exactly one more try. */
const MAX_CREDENTIAL_ATTEMPTS = 2;

/**
 * Keeps one account's token alive: one refresh in flight at a time (single flight, STYLE.md §5),
 * renew or generate as the planner says, classify failures, back off, and stop for a person
 * when Dhan refuses credentials or access. All state a restart needs lives in the store; what
 * lives here (backoff moment, refusal count) is safe to lose.
 */
export class AccountWorker {
  readonly clientId: string;
  private readonly log: Logger;
  private inflight: Promise<void> | undefined;
  private retryNotBefore: number | undefined;
  private credentialRefusals = 0;
  private refreshingNow = false;
  private readonly publishing = new Set<Promise<void>>();
  private readonly random: () => number;

  constructor(private readonly deps: AccountWorkerDeps) {
    this.clientId = deps.account.clientId;
    this.log = deps.log.child({ clientId: this.clientId, account: deps.account.name });
    this.random = deps.random ?? Math.random;
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

  private get canGenerate(): boolean {
    const { account } = this.deps;
    return account.mode !== 'renew-only' && account.pin !== undefined && account.totpSecret !== undefined;
  }

  /** The account's current plan, from the store's committed state. */
  plan(): Plan {
    const { store, clock, account } = this.deps;
    const now = clock.now();
    const record = store.getAccount(this.clientId);
    const token = store.currentToken(this.clientId);
    const lastGenerateAt = record?.lastGenerateAt ?? null;
    const generateNotBefore = Math.max(
      lastGenerateAt === null ? now : lastGenerateAt + this.deps.minGenerateIntervalMs,
      now + this.deps.totp.waitMs(this.clientId),
    );
    const credentialsRefused = credentialsAttention(record);
    const planned = plan({
      now,
      mode: account.mode,
      canGenerate: this.canGenerate,
      token: token ? { obtainedAt: token.obtainedAt, expiresAt: token.expiresAt, source: token.source } : undefined,
      renewRefusedSources: record?.renewRefusedSources ?? [],
      attention: credentialsRefused === null ? (record?.attention ?? null) : null,
      generationStopped: credentialsRefused,
      policy: this.deps.policy,
      jitterFraction: stableFraction(`${this.clientId}:${token?.id ?? 0}`),
      retryNotBefore: this.retryNotBefore,
      generateNotBefore,
    });
    return this.withLoginAsk(planned, now);
  }

  /**
   * Consent accounts only: a token Dhan will not renew is not planned for renewal; instead the
   * plan waits for the moment to ask a person to log in (src/consent/ask-plan.ts).
   */
  private withLoginAsk(planned: Plan, now: number): Plan {
    const ask = this.loginAsk(now);
    if (ask === undefined || ask.ask === 'no') return planned;
    if (planned.action === 'attention' && this.deps.store.getAccount(this.clientId)?.attention) return planned;
    if (ask.ask === 'later') return { action: 'wait', at: ask.at, then: 'renew', reason: `ask a person to log in then (${ask.reason})` };
    // Only a person can help now; acknowledgeAttention records it as a login request, not a stop.
    return { action: 'attention', reason: ask.reason };
  }

  private loginAsk(now: number): ReturnType<typeof askPlan> | undefined {
    const consent = this.deps.consentLogin;
    if (!consent) return undefined;
    const token = this.deps.store.currentToken(this.clientId);
    const refused = this.deps.store.getAccount(this.clientId)?.renewRefusedSources ?? [];
    return askPlan({
      now,
      token,
      renewRefused: token !== undefined && refused.includes(token.source),
      askBeforeMs: consent.askBeforeMs,
      avoid: this.deps.policy.avoid,
    });
  }

  /** Acts if the plan says so now; otherwise does nothing. Safe to call at any time. */
  actIfDue(signal?: AbortSignal): Promise<void> {
    return this.singleFlight(async () => {
      const current = this.plan();
      if (current.action === 'renew' || current.action === 'generate') await this.perform(current.action, signal);
      else if (current.action === 'attention') this.acknowledgeAttention(current.reason);
    });
  }

  /** `renew CLIENT_ID` / `generate CLIENT_ID`: act now, within Dhan's rules and our safety rules. */
  async force(method: RefreshMethod, signal?: AbortSignal): Promise<CommandOutcome> {
    let outcome: CommandOutcome = { ok: false, message: 'nothing was done' };
    await this.singleFlight(async () => {
      const { store, clock } = this.deps;
      const record = store.getAccount(this.clientId);
      // Rejected credentials stop generation only; anything else in attention stops both.
      if (record?.attention && (method === 'generate' || credentialsAttention(record) === null)) {
        outcome = { ok: false, message: `needs attention: ${record.attention}; run \`dhan-token-keeper reset ${this.clientId}\` first` };
        return;
      }
      const token = store.currentToken(this.clientId);
      if (method === 'renew' && (!token || token.expiresAt <= clock.now())) {
        outcome = { ok: false, message: 'there is no live token to renew' };
        return;
      }
      if (method === 'generate') {
        if (!this.canGenerate) {
          outcome = { ok: false, message: 'this account has no PIN and TOTP secret (mode renew-only)' };
          return;
        }
        const wait = this.generationWaitMs();
        if (wait > 0) {
          outcome = { ok: false, message: `Dhan allows one generation per ${Math.round(this.deps.minGenerateIntervalMs / 1000)} s: try again in ${Math.ceil(wait / 1000)} s` };
          return;
        }
      }
      const before = store.currentToken(this.clientId)?.id;
      await this.perform(method, signal);
      const after = store.currentToken(this.clientId);
      outcome =
        after && after.id !== before
          ? { ok: true, message: `${method === 'renew' ? 'renewed' : 'generated'}: new token ${tokenFingerprint(after.accessToken)} valid until ${new Date(after.expiresAt).toISOString()}` }
          : { ok: false, message: `${method} failed: ${store.getAccount(this.clientId)?.lastResult ?? 'see history'}` };
    });
    return outcome;
  }

  /** `reset CLIENT_ID`: a person says the cause of `attention` is fixed. */
  reset(): CommandOutcome {
    const { store, clock } = this.deps;
    const record = store.getAccount(this.clientId);
    this.credentialRefusals = 0;
    this.retryNotBefore = undefined;
    store.transaction(() => {
      store.updateAccount(this.clientId, {
        attention: null,
        attentionFingerprint: null,
        consecutiveFailures: 0,
        renewRefusedSources: [],
      });
      store.addEvent({
        clientId: this.clientId,
        at: clock.now(),
        kind: 'reset',
        result: 'info',
        message: record?.attention ? `attention cleared (was: ${record.attention})` : 'state reset',
      });
    });
    this.log.info('account reset by a person; automatic refresh resumes');
    return { ok: true, message: record?.attention ? `reset: automatic refresh resumes (was: ${record.attention})` : 'reset: nothing was blocked' };
  }

  /** Makes an imported token current, as a renewal would: durable, then published. */
  async adopt(token: ImportedToken, signal?: AbortSignal): Promise<CommandOutcome> {
    let outcome: CommandOutcome = { ok: false, message: 'nothing was done' };
    await this.singleFlight(async () => {
      const { store, clock } = this.deps;
      const now = clock.now();
      const before = store.currentToken(this.clientId);
      const saved = store.transaction(() => {
        const t = store.saveToken({ clientId: this.clientId, ...token, obtainedAt: now });
        store.addEvent({
          clientId: this.clientId,
          at: now,
          kind: 'import',
          result: 'success',
          message: `imported a ${token.source} token ${tokenFingerprint(token.accessToken)}`,
          expiryBefore: before?.expiresAt ?? null,
          expiryAfter: token.expiresAt,
        });
        // A fresh token from a person also clears what its predecessor taught us to fear.
        store.updateAccount(this.clientId, {
          consecutiveFailures: 0,
          lastResult: 'imported',
          lastSuccessAt: now,
          ...(this.deps.account.mode === 'renew-only' || this.deps.account.mode === 'consent' ? { attention: null, attentionFingerprint: null } : {}),
        });
        return t;
      });
      this.retryNotBefore = undefined;
      this.deps.consentLogin?.requests.clear(this.clientId, `logged in: a new ${token.source} token arrived`);
      this.deps.hooks.refreshed(this.clientId, 'import', 'success');
      this.afterSwap(saved, 'imported', signal);
      outcome = { ok: true, message: `imported: token ${tokenFingerprint(saved.accessToken)} valid until ${new Date(saved.expiresAt).toISOString()}` };
    });
    return outcome;
  }

  /**
   * Asks Dhan whether the live token still works. A token Dhan killed early (a login elsewhere,
   * a manual renewal) is marked dead so that the next plan replaces it; a failed check changes nothing.
   */
  probe(signal?: AbortSignal): Promise<void> {
    return this.singleFlight(async () => {
      const { store, clock } = this.deps;
      const token = store.currentToken(this.clientId);
      if (!token || token.expiresAt <= clock.now()) return;
      const verdict = await this.checkToken(token, signal);
      this.deps.hooks.probed(this.clientId, verdict === 'unknown' ? 'error' : verdict);
      if (verdict === 'dead') this.declareDead(token, 'probe', 'Dhan no longer accepts the token (killed early: a login elsewhere or a manual renewal?)');
    });
  }

  /**
   * At start: a pending row means a crash mid-call (a renewal kills the old token at once), and any
   * stored token may have been killed while we were down. Reuse what Dhan confirms, replace the rest.
   */
  recover(signal?: AbortSignal): Promise<void> {
    return this.singleFlight(async () => {
      const { store, clock } = this.deps;
      const now = clock.now();
      const abandoned = store.abandonPending(this.clientId, now, 'the keeper stopped before Dhan answered');
      const token = store.currentToken(this.clientId);
      if (!token || token.expiresAt <= now) return;
      const verdict = await this.checkToken(token, signal);
      this.deps.hooks.probed(this.clientId, verdict === 'unknown' ? 'error' : verdict);
      if (verdict === 'dead') {
        this.declareDead(token, 'recover', abandoned > 0 ? 'the stored token died with an interrupted refresh' : 'the stored token is no longer accepted by Dhan');
      } else {
        store.addEvent({
          clientId: this.clientId,
          at: clock.now(),
          kind: 'recover',
          result: 'info',
          message: verdict === 'live' ? 'stored token confirmed by Dhan: reused' : 'stored token could not be checked; reused until a probe says otherwise',
          expiryBefore: token.expiresAt,
        });
      }
    });
  }

  private async singleFlight(work: () => Promise<void>): Promise<void> {
    while (this.inflight) await this.inflight.catch(() => undefined);
    const run = work().finally(() => {
      this.inflight = undefined;
    });
    this.inflight = run;
    return run;
  }

  private generationWaitMs(): number {
    const now = this.deps.clock.now();
    const last = this.deps.store.getAccount(this.clientId)?.lastGenerateAt ?? null;
    const interval = last === null ? 0 : last + this.deps.minGenerateIntervalMs - now;
    return Math.max(0, interval, this.deps.totp.waitMs(this.clientId));
  }

  /**
   * The planner says only a person can help (e.g. a renew-only account without a live token):
   * persist that, so that status, metrics and alerts say so.
   */
  acknowledgeAttention(reason: string): void {
    const ask = this.loginAsk(this.deps.clock.now());
    if (ask?.ask === 'now') {
      this.deps.consentLogin?.requests.request(this.clientId, ask.reason, ask.deadline);
      return;
    }
    const record = this.deps.store.getAccount(this.clientId);
    if (record && !record.attention) this.setAttention(reason, undefined);
  }

  private async perform(method: RefreshMethod, signal?: AbortSignal): Promise<void> {
    const token = this.deps.store.currentToken(this.clientId);
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
    const eventId = store.beginEvent({ clientId: this.clientId, at: started, kind: 'renew', expiryBefore: token.expiresAt });
    const issued = await this.call('renew', eventId, started, () => dhan.renewToken({ clientId: this.clientId, accessToken: token.accessToken }, signal), signal);
    if (issued instanceof DhanError) {
      await this.afterRenewFailure(issued, token, signal);
      return;
    }
    await this.commit(issued, 'renew', eventId, started, signal);
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
  ): Promise<IssuedToken | DhanError> {
    const { store, clock, limiter } = this.deps;
    try {
      return await limiter.run(request, signal);
    } catch (err) {
      if (isAbortError(err)) {
        store.finishEvent(eventId, { result: 'abandoned', message: 'the keeper stopped during the call', durationMs: clock.now() - started });
        throw err;
      }
      const failure = asDhanError(err, endpoint);
      store.finishEvent(eventId, failureOutcome(failure, clock.now() - started));
      this.deps.hooks.refreshed(this.clientId, endpoint, 'failure');
      return failure;
    }
  }

  private async afterRenewFailure(failure: DhanError, token: StoredToken, signal?: AbortSignal): Promise<void> {
    const { store } = this.deps;
    if (this.deps.consentLogin && (await this.renewRefusedForConsent(failure, token, signal))) return;
    if (failure.kind === 'token-invalid' || failure.oldTokenMayBeDead) {
      // The answer alone cannot tell "this kind of token is not renewable" from "this token was
      // killed" or "the renewal happened and we lost the new token": ask Dhan about the old one.
      const verdict = await this.checkToken(token, signal);
      if (verdict === 'dead') {
        this.declareDead(token, 'renew', failure.oldTokenMayBeDead ? 'the renewal may have happened but its answer was lost; the old token is dead' : 'Dhan refused to renew a token that is dead');
        return;
      }
      if (verdict === 'live' && failure.kind === 'token-invalid') {
        if (this.deps.account.mode === 'auto' && this.canGenerate) {
          const record = store.getAccount(this.clientId);
          const learned = new Set(record?.renewRefusedSources ?? []);
          learned.add(token.source);
          store.updateAccount(this.clientId, {
            renewRefusedSources: [...learned],
            lastResult: `renew refused for ${token.source} tokens: generating instead from now on`,
          });
          this.log.warn({ source: token.source, dhanCode: failure.dhanCode }, 'Dhan refuses to renew this kind of token; falling back to TOTP generation and remembering it');
          return;
        }
        this.setAttention('Dhan refused to renew the token and this account cannot generate one: import a fresh token', undefined);
        return;
      }
    }
    this.failCommonly(failure, token);
  }

  /**
   * Consent accounts: Dhan is reported to refuse renewing API-key tokens (DH-905, HTTP 500) while
   * they stay live. That is not a reason to stop: learn it, and let the plan ask a person to log
   * in before the token dies. True when handled here.
   */
  private async renewRefusedForConsent(failure: DhanError, token: StoredToken, signal?: AbortSignal): Promise<boolean> {
    if (failure.kind !== 'bad-request' && failure.kind !== 'token-invalid' && failure.kind !== 'unknown') return false;
    const verdict = await this.checkToken(token, signal);
    if (verdict === 'dead') {
      this.declareDead(token, 'renew', 'Dhan refused to renew a token that is dead');
      return true;
    }
    if (verdict !== 'live') return false;
    const learned = new Set(this.deps.store.getAccount(this.clientId)?.renewRefusedSources ?? []);
    learned.add(token.source);
    this.deps.store.updateAccount(this.clientId, {
      renewRefusedSources: [...learned],
      lastResult: `renew refused for ${token.source} tokens: a person will be asked to log in before it expires`,
    });
    this.log.warn({ source: token.source, dhanCode: failure.dhanCode }, 'Dhan does not renew this token; a login will be asked for before it expires');
    return true;
  }

  /** What renewal and generation do alike: stop for a person, honour Dhan's hint, or back off. */
  private failCommonly(failure: DhanError, token: StoredToken | undefined): void {
    switch (failure.kind) {
      case 'access-denied':
      case 'bad-request':
        this.setAttention(failure.message, undefined);
        return;
      case 'rate-limited':
        this.fail(failure, token, failure.retryAfterMs);
        return;
      default:
        this.fail(failure, token, undefined);
    }
  }

  private async generate(previous: StoredToken | undefined, signal?: AbortSignal): Promise<void> {
    const { store, clock, dhan, account, totp } = this.deps;
    if (!this.canGenerate || account.pin === undefined || account.totpSecret === undefined) {
      this.setAttention('no live token and no TOTP credentials to generate one: import a fresh token', undefined);
      return;
    }
    if (this.generationWaitMs() > 0) return;
    // Never send credentials Dhan already refused: that is how accounts get TOTP disabled.
    if (credentialsAttention(store.getAccount(this.clientId)) !== null) return;
    const code = totp.take(this.clientId, account.totpSecret);
    if (!code.ok) return;

    const record = store.getAccount(this.clientId);
    const previousGenerateAt = record?.lastGenerateAt ?? null;
    const started = clock.now();
    // Durable before the call: a crash or restart loop must not break Dhan's one-per-interval rule.
    const eventId = store.transaction(() => {
      store.updateAccount(this.clientId, { lastGenerateAt: started });
      return store.beginEvent({ clientId: this.clientId, at: started, kind: 'generate', expiryBefore: previous?.expiresAt ?? null });
    });
    const issued = await this.call('generate', eventId, started, () => dhan.generateToken({ clientId: this.clientId, pin: account.pin ?? '', totp: code.code }, signal), signal);
    if (issued instanceof DhanError) {
      const failure = issued;
      // Dhan issued nothing when it answered with a refusal or never saw the request: that
      // attempt does not count against its interval. A lost answer might have issued a token.
      if (!failure.maybeProcessed && failure.kind !== 'rate-limited') {
        store.updateAccount(this.clientId, { lastGenerateAt: previousGenerateAt });
      }
      this.afterGenerateFailure(failure, previous);
      return;
    }
    this.credentialRefusals = 0;
    await this.commit(issued, 'totp', eventId, started, signal);
  }

  private afterGenerateFailure(failure: DhanError, previous: StoredToken | undefined): void {
    switch (failure.kind) {
      case 'credentials-rejected':
      case 'token-invalid': {
        // Dhan's wording for a wrong PIN or TOTP is undocumented, and the first code may have sat
        // on a step edge: one more try on a fresh step, never a loop (Dhan disables TOTP for
        // accounts that hammer it).
        this.credentialRefusals++;
        if (this.credentialRefusals >= MAX_CREDENTIAL_ATTEMPTS) {
          this.credentialRefusals = 0;
          this.setAttention(
            `Dhan refused token generation ${MAX_CREDENTIAL_ATTEMPTS} times: check the PIN and TOTP secret in the config (and that TOTP is enabled and this clock is synced), then restart or run reset`,
            this.deps.account.credentialsFingerprint,
          );
          return;
        }
        this.fail(failure, previous, TOTP_STEP_MS - (this.deps.clock.now() % TOTP_STEP_MS));
        return;
      }
      default:
        this.failCommonly(failure, previous);
    }
  }

  /** Records a failure and when to try again: a hint from Dhan, or the backoff schedule. */
  private fail(failure: DhanError, token: StoredToken | undefined, retryAfterMs: number | undefined): void {
    const { store, clock } = this.deps;
    const now = clock.now();
    const failures = (store.getAccount(this.clientId)?.consecutiveFailures ?? 0) + 1;
    const remaining = token && token.expiresAt > now ? token.expiresAt - now : undefined;
    const delay = retryAfterMs ?? backoffDelay(failures, remaining, this.random);
    this.retryNotBefore = now + delay;
    store.updateAccount(this.clientId, {
      consecutiveFailures: failures,
      lastAttemptAt: now,
      lastResult: `${failure.endpoint} failed (${failure.kind}${failure.dhanCode ? ` ${failure.dhanCode}` : ''}); retry in ${Math.ceil(delay / 1000)} s`,
    });
    this.log.warn(
      { endpoint: failure.endpoint, kind: failure.kind, dhanCode: failure.dhanCode, httpStatus: failure.httpStatus, failures, retryInMs: delay },
      `${failure.endpoint} failed: ${failure.message}`,
    );
  }

  private setAttention(reason: string, fingerprint: string | undefined): void {
    const { store, clock } = this.deps;
    store.transaction(() => {
      store.updateAccount(this.clientId, {
        attention: reason,
        attentionFingerprint: fingerprint ?? null,
        nextActionAt: null,
        lastResult: `attention: ${reason}`,
      });
      store.addEvent({ clientId: this.clientId, at: clock.now(), kind: 'attention', result: 'failure', message: reason });
    });
    this.log.error({ reason }, 'automatic refresh stopped for this account until a person acts');
  }

  private declareDead(token: StoredToken, kind: 'probe' | 'renew' | 'recover', message: string): void {
    const { store, clock } = this.deps;
    const now = clock.now();
    store.transaction(() => {
      store.markTokenDead(token.id, now);
      store.addEvent({ clientId: this.clientId, at: now, kind, result: 'failure', errorKind: 'token-invalid', message, expiryBefore: token.expiresAt });
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

  /** Commit → publish → log (DESIGN.md promise 2: the new token is durable before anything else). */
  private async commit(issued: IssuedToken, source: 'renew' | 'totp', eventId: number, started: number, signal?: AbortSignal): Promise<void> {
    const { store, clock } = this.deps;
    const now = clock.now();
    const method: RefreshMethod = source === 'renew' ? 'renew' : 'generate';
    const saved = store.transaction(() => {
      const t = store.saveToken({
        clientId: this.clientId,
        accessToken: issued.accessToken,
        source,
        // Dhan's own issue time keeps the lifetime (and so the plan) right; ours is the fallback.
        obtainedAt: issued.issuedAt !== undefined && Math.abs(issued.issuedAt - now) < 10 * 60_000 ? issued.issuedAt : now,
        expiresAt: issued.expiresAt,
        expiryTime: issued.expiryTime,
      });
      store.finishEvent(eventId, {
        result: 'success',
        durationMs: now - started,
        expiryAfter: issued.expiresAt,
        message: `${method === 'renew' ? 'renewed' : 'generated'}: token ${tokenFingerprint(issued.accessToken)}`,
      });
      store.updateAccount(this.clientId, {
        consecutiveFailures: 0,
        lastSuccessAt: now,
        lastAttemptAt: now,
        lastResult: method === 'renew' ? 'renewed' : 'generated',
      });
      return t;
    });
    this.retryNotBefore = undefined;
    this.deps.hooks.refreshed(this.clientId, method, 'success');
    this.afterSwap(saved, method === 'renew' ? 'renewed' : 'generated', signal);
  }

  /**
   * Hands the new token to the sinks without waiting for them: a hook that hangs for its whole
   * timeout (times its retries) must never hold up the next renewal or probe of this account
   * (DESIGN.md promise 1). The publisher runs an account's sinks in parallel and never lets an
   * older token overwrite a newer file, so overlapping publishes are safe.
   */
  private afterSwap(token: StoredToken, verb: string, signal?: AbortSignal): void {
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
      { fingerprint: tokenFingerprint(token.accessToken), source: token.source, expiresAt: new Date(token.expiresAt).toISOString() },
      `${verb} token for ${this.clientId}`,
    );
  }

}

/** The attention reason when it is about refused credentials (it then carries their fingerprint). */
function credentialsAttention(record: AccountRecord | undefined): string | null {
  return record?.attention && record.attentionFingerprint !== null ? record.attention : null;
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
