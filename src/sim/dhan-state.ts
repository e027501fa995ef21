import { DateTime } from 'luxon';
import type { Clock } from '../clock.js';
import { DEFAULT_ACCOUNT_OPTIONS, parseAccountOptions } from './accounts.js';
import {
  dhanError,
  formatDataValidity,
  formatExpiryTime,
  formatTokenValidity,
  credentialsRefused,
  generationRefused,
  rateLimitBody,
  type Reply,
} from './responses.js';
import { ConsentDesk, type Approval } from './consents.js';
import { TokenRegistry, type TokenOrigin, type TokenRecord } from './tokens.js';
import { acceptedStep, decodeBase32Secret, stepOfCode } from './totp-verify.js';
import type { SimAccount, SimAccountOptions, SimApp, SimEndpoint, SimStats } from './simulator-api.js';

interface AccountState {
  readonly account: SimAccount;
  readonly key: Buffer;
  options: SimAccountOptions;
  lastGeneratedAt: number | undefined;
  /** The last generation request processed, whatever its answer (the field's re-arming window). */
  lastGenerateAttemptAt: number | undefined;
  lastTotpStep: number | undefined;
  /** The latest nightly logout already applied. */
  lastLogoutAt: number | undefined;
}

/** What a request says, whatever transport carried it. */
export interface SimRequest {
  readonly query: URLSearchParams;
  header(name: string): string | undefined;
}

export interface DhanStateOptions {
  readonly accounts: readonly SimAccount[];
  readonly clock: Clock;
  readonly tokenLifetimeMs: number;
  readonly generateIntervalMs: number;
}

/**
 * Dhan's rules for the three token endpoints, over accounts and tokens held in memory.
 * Every time decision reads the injected clock, so a test can live days in seconds.
 */
export class DhanState {
  private readonly accounts = new Map<string, AccountState>();
  private readonly tokens = new TokenRegistry();
  private readonly clock: Clock;
  private readonly tokenLifetimeMs: number;
  private readonly generateIntervalMs: number;
  private readonly calls: Record<SimEndpoint, Record<string, number>> = {
    generate: {},
    renew: {},
    profile: {},
    'consent-generate': {},
    'consent-consume': {},
  };
  private readonly consents: ConsentDesk;
  private readonly generationsRefused: Record<string, number> = {};
  private readonly credentialRefusals: Record<string, number> = {};
  private readonly rateLimitAnswers: Record<string, number> = {};
  private readonly generationCodeSteps: Record<string, Array<number | null>> = {};
  private wrongMethod = 0;

  constructor(options: DhanStateOptions) {
    this.clock = options.clock;
    this.tokenLifetimeMs = options.tokenLifetimeMs;
    this.generateIntervalMs = options.generateIntervalMs;
    this.consents = new ConsentDesk(options.clock);
    for (const account of options.accounts) {
      if (this.accounts.has(account.clientId)) throw new Error(`simulator: duplicate account ${account.clientId}`);
      let key: Buffer;
      try {
        key = decodeBase32Secret(account.totpSecret);
      } catch (err) {
        throw new Error(`simulator: account ${account.clientId}: ${err instanceof Error ? err.message : String(err)}`, {
          cause: err,
        });
      }
      this.accounts.set(account.clientId, {
        account,
        key,
        options: DEFAULT_ACCOUNT_OPTIONS,
        lastGeneratedAt: undefined,
        lastGenerateAttemptAt: undefined,
        lastTotpStep: undefined,
        lastLogoutAt: undefined,
      });
      for (const endpoint of Object.keys(this.calls) as SimEndpoint[]) this.calls[endpoint][account.clientId] = 0;
      this.generationsRefused[account.clientId] = 0;
      this.credentialRefusals[account.clientId] = 0;
      this.rateLimitAnswers[account.clientId] = 0;
      this.generationCodeSteps[account.clientId] = [];
      if (account.apiKey !== undefined && account.apiSecret !== undefined) {
        const { apiKey, apiSecret, redirectUrl } = account;
        this.consents.registerApp(
          account.clientId,
          redirectUrl === undefined ? { apiKey, apiSecret } : { apiKey, apiSecret, redirectUrl },
        );
      }
    }
  }

  /** The client id a request names (query, header or its token's owner), for faults and stats. */
  requestedClientId(endpoint: SimEndpoint, req: SimRequest): string | undefined {
    switch (endpoint) {
      case 'generate':
        return req.query.get('dhanClientId') ?? undefined;
      case 'renew':
        return req.header('dhanclientid') ?? this.tokenOwner(req);
      case 'profile':
        return this.tokenOwner(req);
      case 'consent-generate':
        return req.query.get('client_id') ?? undefined;
      case 'consent-consume':
        return undefined;
    }
  }

  countCall(endpoint: SimEndpoint, clientId: string | undefined): void {
    const key = this.statsKey(clientId);
    this.calls[endpoint][key] = (this.calls[endpoint][key] ?? 0) + 1;
  }

  /** Notes the TOTP step of a generation request's code before any fault answers it (see SimStats). */
  noteGenerationCode(req: SimRequest): void {
    const state = this.accounts.get(req.query.get('dhanClientId') ?? '');
    if (!state) return;
    this.generationCodeSteps[state.account.clientId]?.push(
      stepOfCode(state.key, req.query.get('totp'), this.clock.now()) ?? null,
    );
  }

  countWrongMethod(): void {
    this.wrongMethod += 1;
  }

  handle(endpoint: SimEndpoint, req: SimRequest): Reply {
    this.applyLogouts();
    switch (endpoint) {
      case 'generate':
        return this.generate(req);
      case 'renew':
        return this.renew(req);
      case 'profile':
        return this.profile(req);
      case 'consent-generate': {
        const clientId = req.query.get('client_id') ?? '';
        if (!this.accounts.has(clientId)) return { status: 401, body: { status: 'error', message: 'Unauthorized' } };
        return this.consents.generate(clientId, req.header('app_id'), req.header('app_secret'));
      }
      case 'consent-consume':
        return this.consumeConsent(req);
    }
  }

  private consumeConsent(req: SimRequest): Reply {
    const result = this.consents.consume(
      req.query.get('tokenId') ?? req.query.get('tokenid') ?? undefined,
      req.header('app_id'),
      req.header('app_secret'),
    );
    if ('status' in result) return result;
    const state = this.mustAccount(result.clientId);
    // Dhan documents it for this flow: a new token invalidates the account's previous one.
    return { status: 200, body: this.sixFields(state, this.issue(state, 'consent')) };
  }

  /** The login page's subject: the consent's account and its name, when it awaits a login. */
  consentPage(consentAppId: string): { clientId: string; name: string } | undefined {
    const pending = this.consents.pending(consentAppId);
    if (!pending) return undefined;
    const state = this.mustAccount(pending.clientId);
    return { clientId: pending.clientId, name: state.account.name ?? 'SIMULATED USER' };
  }

  approveConsent(consentAppId: string): Approval | { readonly problem: string } {
    return this.consents.approve(consentAppId);
  }

  registerApp(clientId: string, app: SimApp): void {
    this.mustAccount(clientId);
    this.consents.registerApp(clientId, app);
  }

  private generate(req: SimRequest): Reply {
    const clientId = req.query.get('dhanClientId') ?? '';
    const state = this.accounts.get(clientId);
    if (!state) return this.refuse(clientId, generationRefused('Invalid client id'));
    const now = this.clock.now();
    const { options } = state;
    if (options.generateWindow === 'every-attempt') {
      // As the field reports it: the window runs from every attempt processed, this one included,
      // and is judged before the credentials.
      const last = state.lastGenerateAttemptAt;
      state.lastGenerateAttemptAt = now;
      if (last !== undefined && now - last < this.generateIntervalMs) return this.rateLimited(state);
    }
    const refused = (message: string): Reply => {
      this.credentialRefusals[clientId] = (this.credentialRefusals[clientId] ?? 0) + 1;
      return this.refuse(clientId, credentialsRefused(message, options.generateRefusal));
    };
    if (!options.totpEnabled) return refused('TOTP is not enabled for this account');
    if (req.query.get('pin') !== state.account.pin) return refused('Invalid Pin');
    const step = acceptedStep(state.key, req.query.get('totp'), now, state.lastTotpStep);
    if (step === undefined) return refused('Invalid TOTP');
    // 'success-only': the credentials are judged before the interval, so that a wrong PIN is never
    // hidden behind a rate limit. Only a code that bought a token is spent in either behaviour.
    if (
      options.generateWindow === 'success-only' &&
      state.lastGeneratedAt !== undefined &&
      now - state.lastGeneratedAt < this.generateIntervalMs
    ) {
      return this.rateLimited(state);
    }
    state.lastTotpStep = step;
    state.lastGeneratedAt = now;
    const record = this.issue(state, 'totp');
    return { status: 200, body: this.sixFields(state, record) };
  }

  private renew(req: SimRequest): Reply {
    const clientId = req.header('dhanclientid');
    if (clientId === undefined || clientId === '') return dhanError('DH-905');
    const record = this.liveRecord(req);
    if (!record || record.clientId !== clientId) return dhanError('DH-901');
    const state = this.mustAccount(clientId);
    if (!state.options.dataAccess) return dhanError('DH-902');
    if (record.origin === 'totp' && !state.options.renewableTotpTokens) {
      switch (state.options.renewRefusal) {
        case 'invalid-token-906':
          return dhanError('DH-906', { message: 'Invalid Token' });
        case 'not-allowed-905':
          return dhanError('DH-905', { status: 500, message: 'Renewal of token not allowed for this token type' });
        case 'no-token-200':
          return { status: 200, body: { status: 'success' } };
      }
    }
    if (record.origin === 'consent' && !state.options.renewableConsentTokens) {
      return dhanError('DH-905', { status: 500, message: 'Renewal of token not allowed for this token type' });
    }
    const renewed = this.issue(state, record.origin, 'renew');
    if (state.options.renewField === 'token') {
      return { status: 200, body: { token: renewed.accessToken, expiryTime: this.expiryTime(state, renewed) } };
    }
    return { status: 200, body: this.sixFields(state, renewed) };
  }

  private profile(req: SimRequest): Reply {
    const record = this.liveRecord(req);
    if (!record) return dhanError('DH-901');
    const state = this.mustAccount(record.clientId);
    if (!state.options.dataAccess) return dhanError('DH-902');
    return {
      status: 200,
      body: {
        dhanClientId: record.clientId,
        tokenValidity: formatTokenValidity(record.expiresAt),
        activeSegment: 'Equity, Derivative, Currency, Commodity',
        ddpi: 'Active',
        mtf: 'Active',
        dataPlan: 'Active',
        dataValidity: formatDataValidity(this.clock.now()),
      },
    };
  }

  issueWebToken(clientId: string): { accessToken: string; expiryTime: string; expiresAt: number } {
    const state = this.mustAccount(clientId);
    const record = this.issue(state, 'web');
    return { accessToken: record.accessToken, expiryTime: this.expiryTime(state, record), expiresAt: record.expiresAt };
  }

  killTokens(clientId: string): void {
    this.mustAccount(clientId);
    this.tokens.killAll(clientId);
  }

  setAccountOptions(clientId: string, options: Partial<SimAccountOptions>): void {
    const state = this.mustAccount(clientId);
    this.applyLogouts();
    state.options = { ...state.options, ...parseAccountOptions(options) };
    // A logout time set now takes effect from its next occurrence, not retroactively.
    state.lastLogoutAt =
      state.options.nightlyLogoutAt === null
        ? undefined
        : lastOccurrence(state.options.nightlyLogoutAt, this.clock.now());
  }

  /**
   * Kills every token issued before the latest daily logout. Done lazily, before anything reads
   * token state: a kill nobody observed is the same as one that has not happened yet, and the
   * virtual clock needs no timers for it.
   */
  private applyLogouts(): void {
    const now = this.clock.now();
    for (const state of this.accounts.values()) {
      if (state.options.nightlyLogoutAt === null) continue;
      const last = lastOccurrence(state.options.nightlyLogoutAt, now);
      if (state.lastLogoutAt !== undefined && last <= state.lastLogoutAt) continue;
      state.lastLogoutAt = last;
      this.tokens.killIssuedBefore(state.account.clientId, last);
    }
  }

  isLive(accessToken: string): boolean {
    this.applyLogouts();
    return this.tokens.live(accessToken, this.clock.now()) !== undefined;
  }

  hasAccount(clientId: string): boolean {
    return this.accounts.has(clientId);
  }

  stats(): SimStats {
    this.applyLogouts();
    const now = this.clock.now();
    const liveTokens: Record<string, number> = {};
    const consentsToday: Record<string, number> = {};
    for (const clientId of this.accounts.keys()) {
      liveTokens[clientId] = this.tokens.liveCount(clientId, now);
      if (this.consents.hasApp(clientId)) consentsToday[clientId] = this.consents.generatedToday(clientId);
    }
    return {
      calls: {
        generate: { ...this.calls.generate },
        renew: { ...this.calls.renew },
        profile: { ...this.calls.profile },
        'consent-generate': { ...this.calls['consent-generate'] },
        'consent-consume': { ...this.calls['consent-consume'] },
      },
      consentsToday,
      wrongMethod: this.wrongMethod,
      generationsRefused: { ...this.generationsRefused },
      credentialRefusals: { ...this.credentialRefusals },
      rateLimitAnswers: { ...this.rateLimitAnswers },
      generationCodeSteps: Object.fromEntries(
        Object.entries(this.generationCodeSteps).map(([clientId, steps]) => [clientId, [...steps]]),
      ),
      liveTokens,
    };
  }

  private issue(state: AccountState, origin: TokenOrigin, kind: 'renew' | TokenOrigin = origin): TokenRecord {
    return this.tokens.issue({
      clientId: state.account.clientId,
      kind,
      origin,
      format: state.options.tokenFormat,
      now: this.clock.now(),
      lifetimeMs: this.tokenLifetimeMs,
    });
  }

  private sixFields(state: AccountState, record: TokenRecord): Record<string, unknown> {
    const { clientId, name } = state.account;
    return {
      dhanClientId: clientId,
      dhanClientName: name ?? 'SIMULATED USER',
      // A made-up UCC in Dhan's shape (5 letters, 4 digits, 1 letter), stable per account.
      dhanClientUcc: `SIMUC${clientId.slice(-4).padStart(4, '0')}S`,
      givenPowerOfAttorney: false,
      accessToken: record.accessToken,
      expiryTime: this.expiryTime(state, record),
    };
  }

  private expiryTime(state: AccountState, record: TokenRecord): string {
    return formatExpiryTime(record.expiresAt, state.options.expiryTimeFormat === 'millis');
  }

  private rateLimited(state: AccountState): Reply {
    const { clientId } = state.account;
    this.rateLimitAnswers[clientId] = (this.rateLimitAnswers[clientId] ?? 0) + 1;
    return this.refuse(clientId, rateLimitBody(state.options.rateLimitStatus));
  }

  private refuse(clientId: string, reply: Reply): Reply {
    const key = this.statsKey(clientId);
    this.generationsRefused[key] = (this.generationsRefused[key] ?? 0) + 1;
    return reply;
  }

  private liveRecord(req: SimRequest): TokenRecord | undefined {
    const token = req.header('access-token');
    return token === undefined ? undefined : this.tokens.live(token, this.clock.now());
  }

  private tokenOwner(req: SimRequest): string | undefined {
    const token = req.header('access-token');
    return token === undefined ? undefined : this.tokens.get(token)?.clientId;
  }

  /** Ids outside the configured accounts share one bucket, so a stray caller cannot grow stats. */
  private statsKey(clientId: string | undefined): string {
    return clientId !== undefined && this.accounts.has(clientId) ? clientId : '';
  }

  private mustAccount(clientId: string): AccountState {
    const state = this.accounts.get(clientId);
    if (!state) throw new Error(`simulator: unknown account ${clientId}`);
    return state;
  }
}

/** The latest moment at or before `now` when the IST wall clock read `hhmm`. */
function lastOccurrence(hhmm: string, now: number): number {
  const [hour, minute] = hhmm.split(':').map(Number) as [number, number];
  let at = DateTime.fromMillis(now, { zone: 'Asia/Kolkata' }).set({ hour, minute, second: 0, millisecond: 0 });
  if (at.toMillis() > now) at = at.minus({ days: 1 });
  return at.toMillis();
}
