import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { UiDeps } from './route.js';
import type { TokenProvider } from './server-api.js';
import { loadUiAssets } from './ui-assets.js';
import { UiEvents } from './ui-events.js';
import { UiSessions } from './ui-sessions.js';
import { buildSnapshot } from './ui-state.js';
import type { UiSource } from './ui-types.js';

/** The status page's parts for one server: its files, sessions, event streams and state builder. */
export function createUiDeps(
  source: UiSource,
  provider: TokenProvider,
  clock: Clock,
  timezone: string,
  log: Logger,
): UiDeps {
  const snapshot = () =>
    buildSnapshot({
      now: clock.now(),
      timezone,
      statuses: provider.statuses(),
      facts: source.facts(),
      tokenTimes: (id) => source.tokenTimes(id),
      history: (id, since) => source.history(id, since),
      avoidIntervals: (from, to) => source.avoidIntervals(from, to),
    });
  const { assets, problem } = loadUiAssets();
  // Tokens matter more than the page: the keeper runs on without it, and says why.
  if (problem) log.error({ problem }, 'the status page cannot be served');
  return { source, sessions: new UiSessions(), events: new UiEvents(snapshot, log), assets, problem, snapshot };
}
