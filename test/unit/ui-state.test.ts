import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { weekOfWindows } from '../../src/keeper/avoid-week.js';
import type { ApiKeyConfig } from '../../src/config/config.js';
import type { AccountStatus } from '../../src/account-status.js';
import { mayAct, mayView, resolveAccess, type AccessInput } from '../../src/server/ui-access.js';
import {
  buildSnapshot,
  colourOf,
  forViewer,
  liftCommandOf,
  markOf,
  nextActionOf,
  timelineEvents,
} from '../../src/server/ui-state.js';
import type { HistoryEvent } from '../../src/store/records.js';

const ID = '1000000001';

describe('the status page state (pure)', () => {
  it.each([
    ['valid', 'green'],
    ['refreshing', 'blue'],
    ['expired', 'red'],
    ['missing', 'grey'],
    ['attention', 'red'],
    ['login-needed', 'amber'],
    ['a-state-from-a-newer-keeper', 'grey'],
  ])('colours %s %s', (state, colour) => expect(colourOf(state)).toBe(colour));

  it.each([
    [{ kind: 'renew', result: 'success', errorKind: null }, 'swap'],
    [{ kind: 'generate', result: 'success', errorKind: null }, 'swap'],
    [{ kind: 'import', result: 'success', errorKind: null }, 'swap'],
    [{ kind: 'renew', result: 'failure', errorKind: 'transient' }, 'failure'],
    [{ kind: 'probe', result: 'failure', errorKind: 'token-invalid' }, 'dead'],
    [{ kind: 'recover', result: 'failure', errorKind: 'token-invalid' }, 'dead'],
    [{ kind: 'sink', result: 'failure', errorKind: null }, 'failure'],
    [{ kind: 'attention', result: 'info', errorKind: null }, 'stop'],
    [{ kind: 'reset', result: 'info', errorKind: null }, 'lift'],
    [{ kind: 'probe', result: 'success', errorKind: null }, undefined],
    [{ kind: 'renew', result: 'pending', errorKind: null }, undefined],
    [{ kind: 'start', result: 'info', errorKind: null }, undefined],
  ] as const)('draws %j as %s', (event, mark) => expect(markOf(event)).toBe(mark));

  const status = (over: Partial<AccountStatus>): AccountStatus => ({
    clientId: ID,
    name: 'main',
    mode: 'auto',
    state: 'valid',
    expiresAt: null,
    secondsLeft: 3600,
    source: 'totp',
    obtainedAt: null,
    lastResult: null,
    nextActionAt: '2026-07-08T07:41:12.284+05:30',
    nextRefreshAt: null,
    attention: null,
    attentionScope: null,
    consecutiveFailures: 0,
    ...over,
  });

  it.each([
    [{}, 'renew (generate if Dhan refuses)'],
    [{ mode: 'renew-only' as const }, 'renew'],
    [{ mode: 'generate-only' as const }, 'generate a new token'],
    [{ secondsLeft: 0 }, 'generate a new token'],
    [{ secondsLeft: 0, mode: 'renew-only' as const }, 'wait for an imported token'],
    [{ state: 'attention' as const }, 'nothing until a person acts'],
    [{ state: 'refreshing' as const }, 'refreshing now'],
    [{ nextActionAt: null }, null],
  ])('next action of %j is %s', (over, words) => expect(nextActionOf(status(over))).toBe(words));

  it.each([
    [{}, null],
    [{ state: 'attention' as const }, `dhan-token-keeper reset ${ID}`],
    [
      { state: 'attention' as const, mode: 'renew-only' as const, secondsLeft: null },
      `dhan-token-keeper import ${ID} < token.txt`,
    ],
    [
      { state: 'missing' as const, mode: 'renew-only' as const, secondsLeft: null },
      `dhan-token-keeper import ${ID} < token.txt`,
    ],
    [{ state: 'login-needed' as unknown as AccountStatus['state'] }, `dhan-token-keeper login ${ID}`],
    [{ state: 'expired' as const, secondsLeft: 0 }, null],
  ])('lift command of %j is %s', (over, command) => expect(liftCommandOf(status(over))).toBe(command));

  it('keeps the timeline in time order and bounded', () => {
    const rows: HistoryEvent[] = Array.from({ length: 1000 }, (_, i) => ({
      id: i,
      clientId: ID,
      at: 1_000_000 - i,
      kind: 'renew',
      result: 'success',
      errorKind: null,
      errorCode: null,
      message: null,
      durationMs: null,
      expiryBefore: null,
      expiryAfter: null,
      detail: null,
    }));
    const events = timelineEvents(rows);
    expect(events.length).toBe(400);
    expect(events[0]!.at).toBeLessThan(events[399]!.at);
    // The newest are kept: the list arrives newest first.
    expect(events[399]!.at).toBe(1_000_000);
  });

  it('cuts the snapshot to what a viewer may see', async () => {
    const snapshot = await buildSnapshot({
      now: 10 * 86_400_000,
      timezone: 'Asia/Kolkata',
      statuses: [status({}), status({ clientId: '1000000002', name: 'side' })],
      facts: {
        version: '0.1.0',
        startedAt: 10 * 86_400_000 - 90_000,
        role: 'single',
        clockSkewMs: 120,
        sinks: [
          { clientId: ID, sink: 'file:/a', type: 'file', ok: true, at: 1, error: null },
          { clientId: '1000000002', sink: 'file:/b', type: 'file', ok: true, at: 1, error: null },
        ],
      },
      tokenTimes: () => ({ obtainedAt: 1, expiresAt: 2 }),
      history: () => Promise.resolve([]),
      avoidIntervals: () => [],
    });
    expect(snapshot.keeper.uptimeSeconds).toBe(90);
    expect(snapshot.window.to - snapshot.window.from).toBe(7 * 86_400_000);
    const cut = forViewer(snapshot, { name: 'bot', canAct: [], loginRequired: false }, (id) => id === ID);
    expect(cut.accounts.map((a) => a.clientId)).toEqual([ID]);
    expect(cut.keeper.sinks.map((s) => s.clientId)).toEqual([ID]);
  });
});

describe('who may see and act on the status page (pure)', () => {
  const uiKey: ApiKeyConfig = { name: 'trader', key: 'k'.repeat(20), clients: [ID], ui: true };
  const botKey: ApiKeyConfig = { name: 'bot', key: 'b'.repeat(20), clients: '*' };
  const session = { id: 's', keyName: 'trader', csrf: 'c', expiresAt: 1 };
  const base: AccessInput = { keysConfigured: true, loopback: true, bearer: undefined, session: undefined };

  it.each([
    ['no keys, loopback: a read-only view', { ...base, keysConfigured: false }, 'anonymous'],
    ['no keys, from elsewhere: refused', { ...base, keysConfigured: false, loopback: false }, 403],
    ['keys, nothing presented: login', base, 401],
    ['a ui key by Bearer', { ...base, bearer: { ok: true, key: uiKey } }, 'bearer'],
    ['a key without ui by Bearer', { ...base, bearer: { ok: true, key: botKey } }, 403],
    ['an unknown Bearer key', { ...base, bearer: { ok: false, reason: 'unknown' } }, 401],
    ['a session of a ui key', { ...base, session: { session, key: uiKey } }, 'cookie'],
    ['a session whose key is gone', { ...base, session: { session, key: undefined } }, 401],
    [
      'a bad Bearer wins over a good session',
      { ...base, bearer: { ok: false, reason: 'unknown' }, session: { session, key: uiKey } },
      401,
    ],
  ] as const)('%s', (_what, input, expected) => {
    const access = resolveAccess(input);
    if (typeof expected === 'number') expect(access.ok ? 'ok' : access.status).toBe(expected);
    else expect(access.ok && access.via).toBe(expected);
  });

  it('lets a ui key act only on its own clients, and nobody act anonymously', () => {
    const bearer = resolveAccess({ ...base, bearer: { ok: true, key: uiKey } });
    expect(mayAct(bearer, ID)).toBe(true);
    expect(mayAct(bearer, '1000000002')).toBe(false);
    expect(mayView(bearer, '1000000002')).toBe(false);
    const anonymous = resolveAccess({ ...base, keysConfigured: false });
    expect(mayView(anonymous, ID)).toBe(true);
    expect(mayAct(anonymous, ID)).toBe(false);
  });
});

describe('avoid windows on the timeline', () => {
  const ist = (iso: string): number => DateTime.fromISO(iso, { zone: 'Asia/Kolkata' }).toMillis();
  const market = { days: [1, 2, 3, 4, 5], fromMinute: 9 * 60 + 15, toMinute: 15 * 60 + 30, timezone: 'Asia/Kolkata' };

  it('shades each weekday market session of a week, clipped to the range', () => {
    // Monday 6 July 2026, 12:00 IST: the first session is already under way.
    const from = ist('2026-07-06T12:00');
    const to = from + 7 * 86_400_000;
    const intervals = weekOfWindows([market], from, to);
    expect(intervals).toHaveLength(6);
    expect(intervals[0]).toEqual({ start: from, end: ist('2026-07-06T15:30') });
    expect(intervals[1]).toEqual({ start: ist('2026-07-07T09:15'), end: ist('2026-07-07T15:30') });
    expect(intervals[5]!.end).toBe(to);
  });

  it('follows a window across midnight and merges windows that touch', () => {
    const night = { days: [6], fromMinute: 22 * 60, toMinute: 2 * 60, timezone: 'Asia/Kolkata' };
    const early = { days: [7], fromMinute: 2 * 60, toMinute: 3 * 60, timezone: 'Asia/Kolkata' };
    const intervals = weekOfWindows([night, early], ist('2026-07-11T00:00'), ist('2026-07-13T00:00'));
    expect(intervals).toEqual([{ start: ist('2026-07-11T22:00'), end: ist('2026-07-12T03:00') }]);
  });
});
