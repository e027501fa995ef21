import type { Config } from '../config/types.js';
import type { Store } from '../store/index.js';
import { isoInZone } from '../time-format.js';
import { leaseIsLive } from './lease.js';
import type { AccountMode, AccountState, TokenSource } from '../types.js';

/** What `status --json`, `GET /v1/status` and the readiness check report. Never a token. */
export interface AccountStatus {
  readonly clientId: string;
  readonly name: string;
  readonly mode: AccountMode;
  readonly state: AccountState;
  readonly expiresAt: string | null;
  readonly secondsLeft: number | null;
  readonly source: TokenSource | null;
  readonly obtainedAt: string | null;
  readonly lastResult: string | null;
  readonly nextActionAt: string | null;
  readonly attention: string | null;
  /** Consent accounts only: why a person must log in with the API key, or null. */
  readonly loginNeeded?: string | null;
  readonly consecutiveFailures: number;
}

export function accountStatuses(config: Config, store: Store | undefined, now: number): AccountStatus[] {
  const zone = config.dhan.timezone;
  const holder = store?.leaseHolder();
  const daemonAlive = leaseIsLive(holder, now);
  const pendingClients = new Set(
    daemonAlive && store ? store.pendingEvents().map((e) => e.clientId) : [],
  );

  return config.accounts.map((account) => {
    const record = store?.getAccount(account.clientId);
    const token = store?.currentToken(account.clientId);
    const live = token !== undefined && token.expiresAt > now;
    let state: AccountState;
    if (record?.attention) state = 'attention';
    else if (store?.consents.loginRequest(account.clientId)) state = 'login-needed';
    else if (pendingClients.has(account.clientId)) state = 'refreshing';
    else if (!token) state = 'missing';
    else if (!live) state = 'expired';
    else state = 'valid';

    return {
      clientId: account.clientId,
      name: account.name,
      mode: account.mode,
      state,
      expiresAt: token ? isoInZone(token.expiresAt, zone) : null,
      secondsLeft: token ? Math.max(0, Math.floor((token.expiresAt - now) / 1000)) : null,
      source: token?.source ?? null,
      obtainedAt: token ? isoInZone(token.obtainedAt, zone) : null,
      lastResult: record?.lastResult ?? null,
      nextActionAt:
        record?.nextActionAt !== null && record?.nextActionAt !== undefined
          ? isoInZone(record.nextActionAt, zone)
          : null,
      attention: record?.attention ?? null,
      ...(account.mode === 'consent' ? { loginNeeded: store?.consents.loginRequest(account.clientId)?.reason ?? null } : {}),
      consecutiveFailures: record?.consecutiveFailures ?? 0,
    };
  });
}
