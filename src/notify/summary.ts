import type { AccountStatus } from '../account-status.js';
import type { NotifyEvent } from './event.js';

/** The daily summary: one line per account, state and time left; never a token. */
export function summaryEvent(statuses: readonly AccountStatus[], now: number): NotifyEvent {
  const lines = statuses.map((s) => {
    const left =
      s.secondsLeft === null
        ? 'no token'
        : `${Math.floor(s.secondsLeft / 3600)}h${String(Math.floor((s.secondsLeft % 3600) / 60)).padStart(2, '0')}m left`;
    return `${s.name} (${s.clientId}): ${s.state}, ${left}`;
  });
  const bad = statuses.filter((s) => s.state !== 'valid' && s.state !== 'refreshing').length;
  return {
    kind: 'summary',
    clientId: null,
    name: null,
    title: bad === 0 ? 'Dhan tokens: all live' : `Dhan tokens: ${bad} of ${statuses.length} need a look`,
    text: lines.join('\n'),
    at: now,
  };
}
