import { EventEmitter } from 'node:events';
import type { AccountStatus } from '../../src/account-status.js';
import type { TokenProvider } from '../../src/server/server-api.js';
import type { StoredToken } from '../../src/tokens.js';

/** A keeper stand-in for server and client tests: tokens in a Map, swaps announced on an EventEmitter. */
export class FakeProvider implements TokenProvider {
  readonly tokens = new Map<string, StoredToken>();
  readonly names = new Map<string, string>();
  readonly events = new EventEmitter();
  ready: { ready: boolean; notReady: string[] } = { ready: true, notReady: [] };
  private nextId = 1;

  constructor(
    accounts: Record<string, string>,
    private readonly now: () => number = () => Date.now(),
  ) {
    for (const [clientId, name] of Object.entries(accounts)) this.names.set(clientId, name);
  }

  /** Stores a token as the keeper's durable commit would, then announces the swap. */
  swap(clientId: string, accessToken: string, lifetimeMs = 24 * 3600_000): StoredToken {
    const obtainedAt = this.now();
    const token: StoredToken = {
      id: this.nextId++,
      clientId,
      accessToken,
      source: 'renew',
      obtainedAt,
      expiresAt: obtainedAt + lifetimeMs,
      expiryTime: '2026-07-08T07:41:12.284',
      supersededAt: null,
    };
    this.tokens.set(clientId, token);
    this.events.emit('change', clientId);
    return token;
  }

  liveToken(clientId: string): StoredToken | undefined {
    const token = this.tokens.get(clientId);
    return token && token.expiresAt > this.now() ? token : undefined;
  }

  onTokenChange(listener: (clientId: string) => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  listenerCount(): number {
    return this.events.listenerCount('change');
  }

  isKnownClient(clientId: string): boolean {
    return this.names.has(clientId);
  }

  statuses(): AccountStatus[] {
    return [...this.names].map(([clientId, name]) => {
      const token = this.liveToken(clientId);
      return {
        clientId,
        name,
        mode: 'auto',
        state: token ? 'valid' : 'missing',
        expiresAt: token ? new Date(token.expiresAt).toISOString() : null,
        secondsLeft: token ? Math.floor((token.expiresAt - this.now()) / 1000) : null,
        source: token?.source ?? null,
        obtainedAt: token ? new Date(token.obtainedAt).toISOString() : null,
        lastResult: null,
        nextActionAt: null,
        attention: null,
        attentionScope: null,
        nextRefreshAt: null,
        consecutiveFailures: 0,
      };
    });
  }

  readiness(): { ready: boolean; notReady: string[] } {
    return this.ready;
  }
}
