import { attentionText } from '../attention.js';
import type { Clock } from '../clock.js';
import type { AccountConfig } from '../config/config.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { LoginRequest } from '../store/consents.js';
import type { AsyncStore } from '../store/contract.js';
import type { AccountRecord } from '../store/records.js';
import type { StoredToken } from '../tokens.js';
import type { NotifyEvent } from './event.js';
import type { Notifier } from './notifier.js';
import { conditionOf, eventsBetween, type Condition } from './watch.js';

/** Dhan allows 25 consents a day per user: the keeper starts at most this many by itself. */
export const AUTO_CONSENTS_PER_DAY = 20;

/** An account's committed state, as the keeper that acts holds it. */
export interface WatchedFacts {
  readonly record: AccountRecord | undefined;
  readonly token: StoredToken | undefined;
  readonly login: LoginRequest | undefined;
}

export interface WatcherDeps {
  readonly accounts: readonly AccountConfig[];
  /** The account's committed state. Records, tokens and login requests are immutable: a change is a new object. */
  readonly facts: (clientId: string) => WatchedFacts;
  /** Only for the consents a login-needed message may start. */
  readonly store: AsyncStore;
  readonly clock: Clock;
  readonly log: Logger;
  readonly notifier: Notifier;
  /** Starts a consent and returns its login link, for login-needed messages. */
  readonly loginLink?: (clientId: string) => Promise<string | undefined>;
}

/**
 * Looks at each account's committed state and tells people about changes. It reads what the
 * acting keeper holds in memory (the keeper is every account's only writer while it acts), not
 * the store: three queries per account every second were 30,000 a second at 10,000 accounts,
 * on a keeper that had nothing to say. An account is looked at again only when one of its
 * facts is a new object, its token has reached its expiry, or it has a condition to repeat;
 * otherwise the look could only find what the last one found.
 */
export class StateWatcher {
  private readonly last = new Map<string, Condition>();
  private readonly seen = new Map<string, WatchedFacts>();
  private readonly deadSince = new Map<string, number>();
  private running: Promise<void> | undefined;

  constructor(private readonly deps: WatcherDeps) {}

  /** One look at every account; overlapping calls share the look in progress. */
  look(): Promise<void> {
    this.running ??= this.lookAll().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async lookAll(): Promise<void> {
    const now = this.deps.clock.now();
    for (const account of this.deps.accounts) {
      // Decided before any await: most accounts are skipped, and an await each would cost more than the look.
      const facts = this.deps.facts(account.clientId);
      if (this.unchanged(account.clientId, facts, now)) continue;
      try {
        await this.lookAt(account, facts);
      } catch (err) {
        this.deps.log.error(
          { clientId: account.clientId, err: errorMessage(err) },
          'watching the account for notifications failed',
        );
      }
    }
  }

  /** True when a look could find nothing new: the same facts, no condition, and a token (if any) not yet at its expiry. */
  private unchanged(clientId: string, facts: WatchedFacts, now: number): boolean {
    const before = this.seen.get(clientId);
    return (
      before !== undefined &&
      before.record === facts.record &&
      before.token === facts.token &&
      before.login === facts.login &&
      this.last.get(clientId) === null &&
      (facts.token === undefined || facts.token.expiresAt > now)
    );
  }

  private async lookAt(account: AccountConfig, facts: WatchedFacts): Promise<void> {
    const { clock, notifier } = this.deps;
    const now = clock.now();
    const { record, token, login } = facts;
    const live = token !== undefined && token.expiresAt > now;
    if (live || token === undefined) this.deadSince.delete(account.clientId);
    else if (!this.deadSince.has(account.clientId)) this.deadSince.set(account.clientId, now);
    const next = conditionOf({
      attention: record?.attention ? attentionText(record.attention) : null,
      loginNeeded: login !== undefined,
      hasToken: token !== undefined,
      live,
      deadForMs: now - (this.deadSince.get(account.clientId) ?? now),
    });
    const prev = this.last.has(account.clientId) ? (this.last.get(account.clientId) ?? null) : undefined;
    this.last.set(account.clientId, next);
    if (prev !== undefined && prev !== null && prev !== next) notifier.forget(prev, account.clientId);

    for (const kind of eventsBetween(prev, next)) {
      if (!notifier.wouldSend(kind, account.clientId)) continue;
      const base = { kind, clientId: account.clientId, name: account.name, at: now };
      const who = `${account.name} (${account.clientId})`;
      let event: NotifyEvent;
      switch (kind) {
        case 'login-needed': {
          const link = await this.link(account.clientId);
          event = {
            ...base,
            title: `Dhan login needed: ${account.name}`,
            text: `${who}: ${login?.reason ?? 'a login is needed'}. ${link ? 'Open the link within 10 minutes and log in' : 'Log in'} — or run: dhan-token-keeper login ${account.clientId}`,
            ...(link ? { link } : {}),
          };
          break;
        }
        case 'attention':
          event = {
            ...base,
            title: `Dhan token keeper stopped: ${account.name}`,
            text: `${who}: ${record?.attention ? attentionText(record.attention) : 'a person must act'}`,
          };
          break;
        case 'attention-lifted':
          event = {
            ...base,
            title: `Dhan token keeper resumed: ${account.name}`,
            text: `${who}: automatic refresh resumes`,
          };
          break;
        case 'token-dead':
          event = {
            ...base,
            title: `No live Dhan token: ${account.name}`,
            text: `${who}: the token is dead and no new one could be obtained yet; bots using it will fail`,
          };
          break;
        case 'recovered':
          event = {
            ...base,
            title: `Dhan token live again: ${account.name}`,
            text: `${who}: ${token && live ? `a live token, valid until ${new Date(token.expiresAt).toISOString()}` : 'no longer needs a person'}`,
          };
          break;
        case 'summary':
          continue;
      }
      notifier.notify(event);
    }
    // Only a finished look counts as seen: one that failed part-way is made again next time.
    this.seen.set(account.clientId, facts);
  }

  private async link(clientId: string): Promise<string | undefined> {
    const { store, clock, loginLink } = this.deps;
    if (!loginLink) return undefined;
    if ((await store.consents.countStartedSince(clientId, clock.now() - 24 * 3_600_000)) >= AUTO_CONSENTS_PER_DAY)
      return undefined;
    try {
      return await loginLink(clientId);
    } catch (err) {
      this.deps.log.warn({ clientId, err: errorMessage(err) }, 'could not start a login for the notification');
      return undefined;
    }
  }
}
