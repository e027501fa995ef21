import { hostname } from 'node:os';
import { KeeperError } from '../errors.js';
import type { AsyncStore } from '../store/contract.js';
import type { LeaseHolder, LeaseOwner } from '../store/records.js';

export const LEASE_HEARTBEAT_MS = 5_000;
/** A keeper is considered alive while its lease heartbeat is fresher than this. */
export const LEASE_TTL_MS = 15_000;

export function thisProcess(): LeaseOwner {
  return { pid: process.pid, host: hostname() };
}

/** Signal 0 checks existence without touching the process; EPERM means it exists under another user. */
export function pidIsRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function leaseIsLive(holder: LeaseHolder | undefined, now: number): holder is LeaseHolder {
  return holder !== undefined && holder.heartbeatAt + LEASE_TTL_MS > now;
}

/**
 * The single-instance guarantee: two keepers renewing the same account would kill each other's
 * tokens. A crashed owner's lease is taken over once it expires, or at once when the owner was
 * on this host and its pid is gone (a systemd restart must not wait 15 s).
 */
export class Lease {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: AsyncStore,
    private readonly owner: LeaseOwner = thisProcess(),
    private readonly now: () => number = Date.now,
  ) {}

  async acquire(): Promise<void> {
    const result = await this.store.acquireLease(
      this.owner,
      this.now(),
      LEASE_TTL_MS,
      (pid) => pid !== this.owner.pid && !pidIsRunning(pid),
    );
    if (!result.ok) {
      const { holder } = result;
      throw new KeeperError(
        'lease-held',
        `another keeper (pid ${holder.pid} on ${holder.host}) holds ${this.store.location}; its last heartbeat was ${Math.round((this.now() - holder.heartbeatAt) / 1000)} s ago`,
        { hint: 'stop the other keeper first, or use a different storage.path' },
      );
    }
  }

  /** Heartbeats until released; calls `onLost` if another process took the lease meanwhile. */
  keepAlive(onLost: () => void): void {
    this.timer = setInterval(() => {
      this.store.heartbeatLease(this.owner, this.now()).then(
        (held) => {
          if (held || this.timer === undefined) return;
          this.stopHeartbeat();
          onLost();
        },
        // A busy database is not a lost lease; the next heartbeat tries again well before expiry.
        () => undefined,
      );
    }, LEASE_HEARTBEAT_MS);
    this.timer.unref();
  }

  async release(): Promise<void> {
    this.stopHeartbeat();
    // Releasing is a courtesy: an unreleased lease expires by itself.
    await this.store.releaseLease(this.owner).catch(() => undefined);
  }

  private stopHeartbeat(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
