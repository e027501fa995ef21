import { isIP } from 'node:net';
import { IANAZone } from 'luxon';
import { validateDetailed } from 'node-cron';
import type { Ctx } from './context.js';
import { UNRESOLVED } from './env.js';
import { kindOf, show, string } from './fields.js';

/** A Dhan base URL: http(s), no query or fragment, no trailing slash (paths are appended to it). */
export function baseUrl(ctx: Ctx, path: string, value: unknown): string | undefined {
  const text = string(ctx, path, value);
  if (text === undefined) return undefined;
  const url = httpUrl(text);
  if (url === undefined) {
    ctx.problems.error(path, `${show(text)} is not an http(s) URL — e.g. https://api.dhan.co`);
    return undefined;
  }
  if (url.search !== '' || url.hash !== '' || text.includes('?')) {
    ctx.problems.error(path, `${show(text)} must not have a query or fragment — give only scheme, host and path`);
    return undefined;
  }
  if (url.username !== '' || url.password !== '') {
    ctx.problems.error(path, 'must not carry a user or password');
    return undefined;
  }
  return url.href.replace(/\/+$/, '');
}

/** A webhook URL. It is not echoed in messages: people put tokens in query strings. */
export function webhookUrl(ctx: Ctx, path: string, value: unknown): string | undefined {
  const text = string(ctx, path, value);
  if (text === undefined) return undefined;
  const url = httpUrl(text);
  if (url === undefined) {
    ctx.problems.error(path, 'is not an http(s) URL — e.g. http://127.0.0.1:8080/token');
    return undefined;
  }
  return url.href;
}

function httpUrl(text: string): URL | undefined {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

/** `host:port` or `[v6]:port`; the host comes back without brackets, as `server.listen()` wants it. */
export function listenAddress(ctx: Ctx, path: string, value: unknown): { host: string; port: number } | undefined {
  if (value === UNRESOLVED) return undefined;
  const text = typeof value === 'string' ? value.trim() : undefined;
  const match = text === undefined ? null : (/^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text));
  const host = match?.[1];
  const port = Number(match?.[2]);
  const bracketed = text?.startsWith('[') ?? false;
  const hostOk =
    host !== undefined && (bracketed ? isIP(host) === 6 : isIP(host) === 4 || HOSTNAME.test(host));
  if (!hostOk || !(port >= 0 && port <= 65535)) {
    const shown = typeof value === 'string' ? show(value) : kindOf(value);
    ctx.problems.error(path, `${shown} is not host:port — write e.g. 127.0.0.1:9470 or [::1]:9470`);
    return undefined;
  }
  return { host, port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function timezone(ctx: Ctx, path: string, value: unknown): string | undefined {
  const text = string(ctx, path, value);
  if (text === undefined) return undefined;
  if (!IANAZone.isValidZone(text)) {
    ctx.problems.error(path, `${show(text)} is not a time zone — use an IANA name like Asia/Kolkata or UTC`);
    return undefined;
  }
  // ICU maps abbreviations to some zone (EST is Panama's, without daylight saving): likely a surprise.
  if (!text.includes('/') && !/^(UTC|GMT)$/i.test(text)) {
    ctx.problems.warn(path, `${show(text)} is an abbreviation — prefer an IANA name like Asia/Kolkata`);
  }
  return text;
}

export function cronExpression(ctx: Ctx, path: string, value: unknown): string | undefined {
  const text = string(ctx, path, value);
  if (text === undefined) return undefined;
  const result = validateDetailed(text);
  if (!result.valid) {
    const why = result.errors.map((e) => e.message).join('; ');
    ctx.problems.error(
      path,
      `${show(text)} is not a cron expression${why === '' ? '' : ` (${why})`} — e.g. "* * * * *" runs every minute`,
    );
    return undefined;
  }
  return text;
}

/** `"0600"`, `"600"` or `"0o600"` → 0o600. A YAML number is refused: YAML reads `0600` as 600. */
export function fileMode(ctx: Ctx, path: string, value: unknown): number | undefined {
  if (value === UNRESOLVED) return undefined;
  if (typeof value === 'number') {
    ctx.problems.error(path, `${value} is a number — quote the mode as an octal string, like mode: "0600"`);
    return undefined;
  }
  const match = typeof value === 'string' ? /^(?:0o?)?([0-7]{3})$/.exec(value.trim()) : null;
  if (match?.[1] === undefined) {
    const shown = typeof value === 'string' ? show(value) : kindOf(value);
    ctx.problems.error(path, `${shown} is not an octal file mode — write e.g. "0600" or "0640"`);
    return undefined;
  }
  return Number.parseInt(match[1], 8);
}
