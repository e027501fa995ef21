import type { AccountStatus } from '../account-status.js';
import type { HistoryEvent } from '../store/records.js';

/** What the daemon answered to a command, as the CLI prints it. */
export interface UiActionOutcome {
  readonly ok: boolean;
  readonly message: string;
}

/** The actions the status page offers: the CLI's one-shot commands, nothing more. */
export type UiAction = 'renew' | 'generate' | 'reset';
export const UI_ACTIONS: readonly UiAction[] = ['renew', 'generate', 'reset'];

/** The last outcome of one sink, as the page shows it. Never a token or a URL's query. */
export interface SinkReport {
  readonly clientId: string;
  readonly sink: string;
  readonly type: string;
  readonly ok: boolean;
  readonly at: number;
  readonly error: string | null;
}

/**
 * The keeper describing itself. `role` is "single" for a lone keeper (SQLite), "leader" or
 * "standby" when several share a PostgreSQL database.
 */
export interface KeeperFacts {
  readonly version: string;
  readonly startedAt: number;
  readonly role: 'single' | 'leader' | 'standby';
  /** Dhan's Date header minus our clock at the last call that had one. */
  readonly clockSkewMs: number | null;
  readonly sinks: readonly SinkReport[];
}

/** Raw material for the page, read once per broadcast and shared by every viewer. */
export interface UiSource {
  facts(): KeeperFacts;
  /** Epoch ms of the token behind each account's status (the status rows carry ISO text). */
  tokenTimes(clientId: string): { obtainedAt: number; expiresAt: number } | undefined;
  /** The account's history from `since` on, newest first, bounded. */
  history(clientId: string, since: number): Promise<readonly HistoryEvent[]>;
  /** Market hours and other avoid windows between two instants, merged. */
  avoidIntervals(from: number, to: number): ReadonlyArray<{ readonly start: number; readonly end: number }>;
  /** Hands a command to the daemon's request queue, exactly as the CLI does, and waits for its answer. */
  submit(clientId: string, action: UiAction): Promise<UiActionOutcome>;
}

export type TimelineMark = 'swap' | 'failure' | 'dead' | 'stop' | 'lift';

export interface TimelineEvent {
  readonly at: number;
  readonly mark: TimelineMark;
  /** e.g. "renew success", "probe failure" */
  readonly label: string;
  readonly message: string | null;
}

export interface UiAccount extends Omit<AccountStatus, 'obtainedAt' | 'expiresAt' | 'nextActionAt'> {
  /** Epoch ms; the page formats them in the viewer's zone and in IST. */
  readonly obtainedAt: number | null;
  readonly expiresAt: number | null;
  readonly nextActionAt: number | null;
  readonly colour: 'green' | 'amber' | 'red' | 'grey' | 'blue';
  /** What the keeper will do at nextActionAt, in words. */
  readonly nextAction: string | null;
  /** For a stop: the exact command that lifts it. */
  readonly liftCommand: string | null;
  readonly events: readonly TimelineEvent[];
  readonly avoid: ReadonlyArray<{ readonly start: number; readonly end: number }>;
}

export interface UiViewer {
  /** The key's name, or null for an anonymous loopback viewer. */
  readonly name: string | null;
  /** Client ids this viewer may act on. */
  readonly canAct: readonly string[];
  /** Sent back in x-csrf-token on POST by a cookie session; absent for Bearer and anonymous. */
  readonly csrf?: string;
  readonly loginRequired: boolean;
}

/** GET /v1/ui/state and every server-sent `state` event. Never a token, PIN, secret or key. */
export interface UiState {
  readonly now: number;
  readonly timezone: string;
  readonly window: { readonly from: number; readonly to: number };
  readonly keeper: KeeperFacts & { readonly uptimeSeconds: number };
  readonly viewer: UiViewer;
  readonly accounts: readonly UiAccount[];
}
