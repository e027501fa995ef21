import { attentionText } from '../attention.js';
import type { AccountConfig, Config } from '../config/config.js';
import type { LoginRequest } from '../store/consents.js';
import type { AccountRecord } from '../store/records.js';
import type { AsyncStore } from '../store/contract.js';
import { isoInZone } from '../time-format.js';
import { nextOfAny, owedRefresh } from '../cron-times.js';
import { leaseIsLive } from './lease.js';
import type { AccountStatus, LeaderView } from '../account-status.js';
import type { AccountState, StoredToken } from '../tokens.js';

/** What one account's status is made of. */
export interface AccountFacts {
  readonly record: AccountRecord | undefined;
  readonly token: StoredToken | undefined;
  readonly login: LoginRequest | undefined;
  /** A refresh is under way (a keeper is acting on it now). */
  readonly refreshing: boolean;
}

/** Every account's state as the store has it (the CLI's `status`, with or without a keeper running). */
export async function accountStatuses(
  config: Config,
  store: AsyncStore | undefined,
  now: number,
  leader?: LeaderView | null,
): Promise<AccountStatus[]> {
  if (!store)
    return config.accounts.map((account) =>
      accountStatus(
        config,
        account,
        { record: undefined, token: undefined, login: undefined, refreshing: false },
        now,
        leader,
      ),
    );
  // A pending history row is a refresh under way only while a keeper lives to finish it.
  const acting = leaseIsLive(await store.leaseHolder(), now);
  const pendingClients = new Set(acting ? (await store.pendingEvents()).map((e) => e.clientId) : []);
  // Three queries however many accounts there are (10,000 accounts: 20,000 before).
  const [logins, records, tokens] = await Promise.all([
    store.consents.loginRequests(),
    store.listAccounts(),
    store.currentTokens(),
  ]);
  const loginOf = new Map(logins.map((r) => [r.clientId, r]));
  const recordOf = new Map(records.map((r) => [r.clientId, r]));
  const tokenOf = new Map(tokens.map((t) => [t.clientId, t]));
  return config.accounts.map((account) =>
    accountStatus(
      config,
      account,
      {
        record: recordOf.get(account.clientId),
        token: tokenOf.get(account.clientId),
        login: loginOf.get(account.clientId),
        refreshing: pendingClients.has(account.clientId),
      },
      now,
      leader,
    ),
  );
}

export function accountStatus(
  config: Config,
  account: AccountConfig,
  facts: AccountFacts,
  now: number,
  leader?: LeaderView | null,
): AccountStatus {
  const zone = config.dhan.timezone;
  const { record, token, login } = facts;
  const live = token !== undefined && token.expiresAt > now;
  let state: AccountState;
  if (record?.attention) state = 'attention';
  else if (login) state = 'login-needed';
  else if (facts.refreshing) state = 'refreshing';
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
      record?.nextActionAt !== null && record?.nextActionAt !== undefined ? isoInZone(record.nextActionAt, zone) : null,
    nextRefreshAt: nextScheduledRefresh(config, token?.obtainedAt, now, zone),
    attention: record?.attention ? attentionText(record.attention) : null,
    attentionScope: record?.attention?.scope ?? null,
    ...(account.mode === 'consent' ? { loginNeeded: login?.reason ?? null } : {}),
    consecutiveFailures: record?.consecutiveFailures ?? 0,
    ...(leader === undefined ? {} : { leader }),
  };
}

function nextScheduledRefresh(
  config: Config,
  obtainedAt: number | undefined,
  now: number,
  zone: string,
): string | null {
  const { refreshAt, refreshAtSkipIfNewerThanMs } = config.renewal;
  const at =
    obtainedAt === undefined
      ? nextOfAny(refreshAt, now)
      : owedRefresh(refreshAt, obtainedAt, now, refreshAtSkipIfNewerThanMs);
  return at === undefined ? null : isoInZone(at, zone);
}
