import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { AsyncStore } from '../store/contract.js';

/** What a person hears about: a login became needed, or it is no longer needed. */
export type LoginRequestChange =
  | { readonly kind: 'needed'; readonly clientId: string; readonly reason: string; readonly deadline: number | null }
  | { readonly kind: 'done'; readonly clientId: string; readonly reason: string };

/**
 * The durable "a person must log in" flag of consent accounts (status, metric, alert and
 * notifications read it). Idempotent: asking again while a request stands changes nothing.
 */
export class LoginRequests {
  constructor(
    private readonly deps: {
      readonly store: AsyncStore;
      readonly clock: Clock;
      readonly log: Logger;
      readonly onChange?: (change: LoginRequestChange) => void;
    },
  ) {}

  async request(clientId: string, reason: string, deadline: number | null): Promise<void> {
    const { store, clock } = this.deps;
    const existing = await store.consents.loginRequest(clientId);
    if (existing && existing.reason === reason && existing.deadline === deadline) return;
    const now = clock.now();
    await store.transaction(async (tx) => {
      await tx.consents.requestLogin({ clientId, since: existing?.since ?? now, reason, deadline });
      if (!existing)
        await tx.addEvent({
          clientId,
          at: now,
          kind: 'login-needed',
          result: 'failure',
          message: reason,
          expiryBefore: deadline,
        });
    });
    if (existing) return;
    this.deps.log.warn({ clientId, reason }, 'a person must log in with the API key: run `dhan-token-keeper login`');
    this.notify({ kind: 'needed', clientId, reason, deadline });
  }

  async clear(clientId: string, reason: string): Promise<void> {
    const { store, clock } = this.deps;
    const cleared = await store.transaction(async (tx) => {
      if (!(await tx.consents.clearLoginRequest(clientId))) return false;
      await tx.addEvent({ clientId, at: clock.now(), kind: 'login-needed', result: 'success', message: reason });
      return true;
    });
    if (cleared) this.notify({ kind: 'done', clientId, reason });
  }

  private notify(change: LoginRequestChange): void {
    try {
      this.deps.onChange?.(change);
    } catch (err) {
      // Telling a person is best-effort: it must never undo or block the state change.
      this.deps.log.error({ err: err instanceof Error ? err.message : String(err) }, 'login request listener failed');
    }
  }
}
