/** One account as readiness sees it. */
export interface ReadinessInput {
  readonly clientId: string;
  /** The token API would serve a token for it right now. */
  readonly live: boolean;
  readonly hasToken: boolean;
  readonly refreshing: boolean;
  readonly attention: boolean;
}

export interface Readiness {
  readonly ready: boolean;
  /** One line per reason, with a count and a few client ids: never one line per account, never a secret. */
  readonly notReady: string[];
}

/** Enough ids to find the accounts in `status`, few enough that 10,000 missing tokens stay one short line. */
const EXAMPLES = 5;

type Reason = 'attention' | 'refreshing' | 'expired' | 'missing';

const WHY: Record<Reason, string> = {
  attention: 'need a person (see status) and have no live token',
  refreshing: 'are being refreshed and have no live token yet',
  expired: 'have only an expired token; a refresh is queued',
  missing: 'have no token yet; a refresh is queued',
};
const ORDER: readonly Reason[] = ['attention', 'refreshing', 'expired', 'missing'];

function reasonOf(account: ReadinessInput): Reason {
  if (account.attention) return 'attention';
  if (account.refreshing) return 'refreshing';
  return account.hasToken ? 'expired' : 'missing';
}

/**
 * Ready when every configured account has a token the API can serve now: a bot behind this
 * keeper gets a token whichever account it asks for. A refresh in progress does not hold
 * readiness back while the old token is still live; an account without one does, whatever
 * the keeper is doing about it.
 */
export function readiness(accounts: Iterable<ReadinessInput>): Readiness {
  const groups = new Map<Reason, string[]>();
  let total = 0;
  let missing = 0;
  for (const account of accounts) {
    total++;
    if (account.live) continue;
    missing++;
    const reason = reasonOf(account);
    const ids = groups.get(reason) ?? [];
    ids.push(account.clientId);
    groups.set(reason, ids);
  }
  if (missing === 0) return { ready: true, notReady: [] };
  const notReady = [`${missing} of ${total} account(s) have no live token`];
  for (const reason of ORDER) {
    const ids = groups.get(reason);
    if (!ids) continue;
    const shown = ids.slice(0, EXAMPLES).join(', ');
    notReady.push(
      `${ids.length} ${WHY[reason]}: ${shown}${ids.length > EXAMPLES ? `, and ${ids.length - EXAMPLES} more` : ''}`,
    );
  }
  return { ready: false, notReady };
}
