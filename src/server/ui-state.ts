import type { AccountStatus } from '../account-status.js';
import type { HistoryEvent } from '../store/records.js';
import type { KeeperFacts, TimelineEvent, TimelineMark, UiAccount, UiState, UiViewer } from './ui-types.js';

export const TIMELINE_DAYS = 7;
const DAY_MS = 86_400_000;
/** A week of a busy account at 15-minute probes is ~700 rows; what matters fits well below. */
const MAX_EVENTS_PER_ACCOUNT = 400;

const COLOURS: Readonly<Record<string, UiAccount['colour']>> = {
  valid: 'green',
  refreshing: 'blue',
  expired: 'red',
  missing: 'grey',
  attention: 'red',
  'login-needed': 'amber',
};

/** Unknown words (a newer keeper's states) still render, in a neutral colour. */
export function colourOf(state: string): UiAccount['colour'] {
  return COLOURS[state] ?? 'grey';
}

/** Which history rows the timeline draws, and as what; everything else (probes that found the token live, starts) is noise there. */
export function markOf(event: Pick<HistoryEvent, 'kind' | 'result' | 'errorKind'>): TimelineMark | undefined {
  if (event.kind === 'attention') return 'stop';
  if (event.kind === 'reset') return 'lift';
  if (event.result === 'pending' || event.result === 'info') return undefined;
  if (event.errorKind === 'token-invalid') return 'dead';
  if (event.result === 'success')
    return event.kind === 'generate' || event.kind === 'renew' || event.kind === 'import' ? 'swap' : undefined;
  return 'failure';
}

export function timelineEvents(history: readonly HistoryEvent[]): TimelineEvent[] {
  const out: TimelineEvent[] = [];
  for (const event of history) {
    const mark = markOf(event);
    if (!mark) continue;
    out.push({ at: event.at, mark, label: `${event.kind} ${event.result}`, message: event.message });
    if (out.length >= MAX_EVENTS_PER_ACCOUNT) break;
  }
  return out.sort((a, b) => a.at - b.at);
}

/** What the keeper will do next, in words a trader reads at a glance. */
export function nextActionOf(
  status: Pick<AccountStatus, 'state' | 'mode' | 'nextActionAt' | 'secondsLeft'>,
): string | null {
  if (status.state === 'attention') return 'nothing until a person acts';
  if (status.state === 'refreshing') return 'refreshing now';
  if (status.nextActionAt === null) return null;
  const live = status.secondsLeft !== null && status.secondsLeft > 0;
  if (status.mode === 'generate-only' || (!live && status.mode === 'auto')) return 'generate a new token';
  if (!live) return 'wait for an imported token';
  return status.mode === 'renew-only' ? 'renew' : 'renew (generate if Dhan refuses)';
}

/** The exact command that lifts a stop, or null when nothing is stopped. */
export function liftCommandOf(
  status: Pick<AccountStatus, 'state' | 'mode' | 'clientId' | 'secondsLeft'>,
): string | null {
  // A wider word than today's AccountState: the page renders states added later too.
  const state: string = status.state;
  const dead = status.secondsLeft === null || status.secondsLeft <= 0;
  // Only a person can bring a renew-only account a token; a reset alone would stop again.
  if (status.mode === 'renew-only' && dead && state !== 'refreshing')
    return `dhan-token-keeper import ${status.clientId} < token.txt`;
  if (state === 'attention') return `dhan-token-keeper reset ${status.clientId}`;
  if (state === 'login-needed') return `dhan-token-keeper login ${status.clientId}`;
  return null;
}

export interface SnapshotInput {
  readonly now: number;
  readonly timezone: string;
  readonly statuses: readonly AccountStatus[];
  readonly facts: KeeperFacts;
  tokenTimes(clientId: string): { obtainedAt: number; expiresAt: number } | undefined;
  history(clientId: string, since: number): Promise<readonly HistoryEvent[]>;
  avoidIntervals(from: number, to: number): ReadonlyArray<{ start: number; end: number }>;
}

/** Everything but the viewer: built once per change and shared by every open page. */
export type UiSnapshot = Omit<UiState, 'viewer'>;

const parseIso = (iso: string | null): number | null => {
  if (iso === null) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
};

export async function buildSnapshot(input: SnapshotInput): Promise<UiSnapshot> {
  const { now } = input;
  const from = now - TIMELINE_DAYS * DAY_MS;
  const avoid = input.avoidIntervals(from, now);
  const histories = await Promise.all(input.statuses.map((status) => input.history(status.clientId, from)));
  const accounts = input.statuses.map((status, i): UiAccount => {
    const times = input.tokenTimes(status.clientId);
    return {
      ...status,
      obtainedAt: times?.obtainedAt ?? parseIso(status.obtainedAt),
      expiresAt: times?.expiresAt ?? parseIso(status.expiresAt),
      nextActionAt: parseIso(status.nextActionAt),
      colour: colourOf(status.state),
      nextAction: nextActionOf(status),
      liftCommand: liftCommandOf(status),
      events: timelineEvents(histories[i] ?? []),
      avoid,
    };
  });
  return {
    now,
    timezone: input.timezone,
    window: { from, to: now },
    keeper: { ...input.facts, uptimeSeconds: Math.max(0, Math.floor((now - input.facts.startedAt) / 1000)) },
    accounts,
  };
}

/** One viewer's cut: only the accounts its key may read, and only its own sink reports. */
export function forViewer(snapshot: UiSnapshot, viewer: UiViewer, mayRead: (clientId: string) => boolean): UiState {
  return {
    ...snapshot,
    keeper: { ...snapshot.keeper, sinks: snapshot.keeper.sinks.filter((s) => mayRead(s.clientId)) },
    viewer,
    accounts: snapshot.accounts.filter((a) => mayRead(a.clientId)),
  };
}
