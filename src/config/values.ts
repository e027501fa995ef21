import { validateDetailed } from 'node-cron';
import { z } from 'zod';
import { formatDuration, parseDurationOrShare, tryParseDuration } from './duration.js';
import { describe, fail, kindOf, show } from './issues.js';
import { parseListenAddress } from './listen-address.js';
import { resolvePath } from './files.js';
import { parseCron } from '../cron-times.js';
import { isTimeZoneName } from '../luxon.js';
import type { Ctx } from './problems.js';

/*
 * One schema per kind of value, each with the message a person needs when it is wrong. `${VAR}`
 * always yields a string, so numbers and flags also take their text form.
 */

export const text = z.string().refine((value) => value.trim() !== '', 'is empty');

/** `90` as YAML reads it is the text "90" to a reader of durations. */
function textOrNumber(what: string) {
  return z.preprocess(
    (value) => (typeof value === 'number' ? String(value) : value),
    z.string({ error: (issue) => `must be ${what}, not ${kindOf(issue.input)}` }),
  );
}

/** `, or "0"/"off" to disable`: the words that switch a setting off, for a message; empty when there are none. */
function orOffWords(offWords: readonly string[], meaning: string): string {
  return offWords.length === 0 ? '' : `, or ${offWords.map((w) => JSON.stringify(w)).join('/')} ${meaning}`;
}

/** Milliseconds, at least `minMs`; `offWords` such as `off` mean 0 (disabled) although 0 is below it. */
export function duration(minMs: number, offWords: readonly string[] = []) {
  return textOrNumber('a duration like 30s, 15m or 8h').transform((value, ctx) => {
    if (offWords.includes(value.trim().toLowerCase())) return 0;
    const ms = tryParseDuration(value);
    if (ms === undefined) {
      const hint = /^\s*\d+(?:\.\d+)?\s*$/.test(value) ? ' — add a unit: ms, s, m, h or d' : '';
      return fail(ctx, `${show(value)} is not a duration (like 30s, 15m, 8h or 1h30m)${hint}`);
    }
    if (ms < minMs) {
      return fail(
        ctx,
        `${show(value)} is too short — use at least ${formatDuration(minMs)}${orOffWords(offWords, 'to disable')}`,
      );
    }
    return ms;
  });
}

/** Calls a second, above 0, fractions allowed; `offWords` such as `off` mean no limit (undefined). */
export function callsPerSecond(offWords: readonly string[] = []) {
  return textOrNumber('a number of calls a second, like 3 or 0.5').transform((value, ctx) => {
    if (offWords.includes(value.trim().toLowerCase())) return undefined;
    const rate = /^\s*\d+(?:\.\d+)?\s*$/.test(value) ? Number(value) : Number.NaN;
    if (!(rate > 0)) {
      return fail(
        ctx,
        `${show(value)} is not a rate — use a number of calls a second above 0, like 3 or 0.5${orOffWords(offWords, 'for no limit')}`,
      );
    }
    return rate;
  });
}

export const durationOrShare = textOrNumber('a duration (like 8h) or a share (like 33%)').transform((value, ctx) => {
  try {
    return parseDurationOrShare(value);
  } catch (err) {
    return fail(ctx, err instanceof Error ? err.message : String(err));
  }
});

export function wholeNumber(min: number, max: number) {
  const range = `a whole number from ${min} to ${max}`;
  const outOfRange = (issue: { readonly input?: unknown }) => `${String(issue.input)} is out of range — use ${range}`;
  return z.preprocess(
    (value) => (typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value),
    z
      .int({ error: (issue) => `must be ${range}, not ${describe(issue.input)}` })
      .min(min, { error: outOfRange })
      .max(max, { error: outOfRange }),
  );
}

export const flag = z.preprocess((value) => (value === 'true' ? true : value === 'false' ? false : value), z.boolean());

/** A Dhan base URL: http(s), no query or fragment, no trailing slash (paths are appended to it). */
export const baseUrl = text.transform((value, ctx) => {
  const url = httpUrl(value);
  if (url === undefined) return fail(ctx, `${show(value)} is not an http(s) URL — e.g. https://api.dhan.co`);
  if (url.search !== '' || url.hash !== '' || value.includes('?')) {
    return fail(ctx, `${show(value)} must not have a query or fragment — give only scheme, host and path`);
  }
  if (url.username !== '' || url.password !== '') return fail(ctx, 'must not carry a user or password');
  return url.href.replace(/\/+$/, '');
});

/** A webhook URL. It is not echoed in messages: people put tokens in query strings. */
export const webhookUrl = text.transform(
  (value, ctx) => httpUrl(value)?.href ?? fail(ctx, 'is not an http(s) URL — e.g. http://127.0.0.1:8080/token'),
);

function httpUrl(value: string): URL | undefined {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

const notHostPort = (value: unknown) => `${describe(value)} is not host:port — write e.g. 127.0.0.1:9470 or [::1]:9470`;

/** `host:port` or `[v6]:port` (see parseListenAddress). */
export const listenAddress = z
  .string({ error: (issue) => notHostPort(issue.input) })
  .transform((value, ctx) => parseListenAddress(value) ?? fail(ctx, notHostPort(value)));

export const timezone = text.transform((value, ctx) =>
  isTimeZoneName(value)
    ? value
    : fail(ctx, `${show(value)} is not a time zone — use an IANA name like Asia/Kolkata or UTC`),
);

/** ICU maps abbreviations to some zone (EST is Panama's, without daylight saving): likely a surprise. */
export function abbreviationWarning(zone: string): string | undefined {
  if (zone.includes('/') || /^(UTC|GMT)$/i.test(zone)) return undefined;
  return `${show(zone)} is an abbreviation — prefer an IANA name like Asia/Kolkata`;
}

function cronText(readByKeeper: boolean) {
  return text.transform((value, ctx) => {
    const result = validateDetailed(value);
    if (!result.valid) {
      const why = result.errors.map((e) => e.message).join('; ');
      return fail(
        ctx,
        `${show(value)} is not a cron expression${why === '' ? '' : ` (${why})`} — e.g. "* * * * *" runs every minute`,
      );
    }
    if (readByKeeper) {
      try {
        parseCron(value, 'UTC');
      } catch (err) {
        return fail(ctx, err instanceof Error ? err.message : String(err));
      }
    }
    return value;
  });
}

/** A cron expression node-cron schedules (the daily summary). */
export const cronExpression = cronText(false);

/**
 * A cron expression the keeper reads itself (src/cron-times.ts), on its clock: the sweep,
 * refreshAt, probeAt. node-cron's grammar without its "L" (last day of the month), which a start
 * would otherwise only meet when it reads the expression.
 */
export const keeperCronExpression = cronText(true);

const notAMode = (value: unknown) => `${describe(value)} is not an octal file mode — write e.g. "0600" or "0640"`;

/** `"0600"`, `"600"` or `"0o600"` → 0o600. A YAML number is refused: YAML reads `0600` as 600. */
export const fileMode = z
  .string({
    error: (issue) =>
      typeof issue.input === 'number'
        ? `${issue.input} is a number — quote the mode as an octal string, like mode: "0600"`
        : notAMode(issue.input),
  })
  .transform((value, ctx) => {
    const octal = /^(?:0o?)?([0-7]{3})$/.exec(value.trim())?.[1];
    return octal === undefined ? fail(ctx, notAMode(value)) : Number.parseInt(octal, 8);
  });

const notAClientId = (value: unknown) =>
  `${describe(value)} is not a client id — Dhan client ids are digits, like "1000000001"`;

/** Dhan client ids are digits; YAML reads an unquoted one as a number, which is fine. */
export const clientId = z
  .union([z.string(), z.number()], { error: (issue) => notAClientId(issue.input) })
  .transform((value, ctx) => {
    if (typeof value === 'number') {
      return Number.isSafeInteger(value) && value > 0
        ? String(value)
        : fail(ctx, `${value} is not a client id — quote it, like clientId: "1000000001"`);
    }
    return /^\d{1,20}$/.test(value.trim()) ? value.trim() : fail(ctx, notAClientId(value));
  });

const notAName = (value: unknown) => `${describe(value)} is not a valid name — use letters, digits, _, . and - only`;

export const name = z.preprocess(
  (value) => (typeof value === 'number' && Number.isInteger(value) ? String(value) : value),
  z
    .string({ error: (issue) => notAName(issue.input) })
    .regex(/^[A-Za-z0-9_.-]+$/, { error: (issue) => notAName(issue.input) }),
);

/** A path, absolute once parsed. */
export function filePath(ctx: Ctx) {
  return text.transform((path) => resolvePath(ctx, path));
}
