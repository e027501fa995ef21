import { attentionText } from '../attention.js';
import type { Config } from '../config/config.js';
import type { Store } from '../store/index.js';
import { isoInZone } from '../time-format.js';
import { nextOfAny, owedRefresh } from '../cron-times.js';
import { leaseIsLive } from './lease.js';
import type { AccountStatus } from '../account-status.js';
import type { AccountState } from '../tokens.js';

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
      nextRefreshAt: nextScheduledRefresh(config, token?.obtainedAt, now, zone),
      attention: record?.attention ? attentionText(record.attention) : null,
      attentionScope: record?.attention?.scope ?? null,
      ...(account.mode === 'consent' ? { loginNeeded: store?.consents.loginRequest(account.clientId)?.reason ?? null } : {}),
      consecutiveFailures: record?.consecutiveFailures ?? 0,
    };
  });
}

function nextScheduledRefresh(config: Config, obtainedAt: number | undefined, now: number, zone: string): string | null {
  const { refreshAt, refreshAtSkipIfNewerThanMs } = config.renewal;
  const at = obtainedAt === undefined ? nextOfAny(refreshAt, now) : owedRefresh(refreshAt, obtainedAt, now, refreshAtSkipIfNewerThanMs);
  return at === undefined ? null : isoInZone(at, zone);
}
