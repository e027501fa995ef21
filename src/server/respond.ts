import type { ServerResponse } from 'node:http';

export type Headers = Readonly<Record<string, string | number>>;

/*
 * Every answer may carry a token or account state: no cache (or proxy) may keep one.
 * nosniff keeps a browser from reading JSON as anything else.
 */
const COMMON: Headers = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Headers = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...COMMON,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** JSON serialised beforehand: the body and its headers, made once (see preparedJson). */
export interface PreparedJson {
  readonly json: string;
  /** Flat name/value pairs, as writeHead takes them: no object to walk per answer. */
  readonly headers: readonly string[];
}

/** `extraHeaders` are flat name/value pairs too. */
export function preparedJson(json: string, extraHeaders: readonly string[] = []): PreparedJson {
  return {
    json,
    headers: [
      'cache-control',
      'no-store',
      'x-content-type-options',
      'nosniff',
      'content-type',
      'application/json; charset=utf-8',
      'content-length',
      String(Buffer.byteLength(json)),
      ...extraHeaders,
    ],
  };
}

/** The token API's and /healthz's hot path. */
export function sendPreparedJson(res: ServerResponse, prepared: PreparedJson, status = 200): void {
  if (res.headersSent || res.destroyed) return;
  // writeHead only reads the array (it validates and copies each pair into the header block).
  res.writeHead(status, prepared.headers as string[]);
  res.end(prepared.json);
}

/**
 * `error` is a stable code for programs, `message` says what to do for people. A refused
 * request closes its connection: a client that asks wrongly (no key, a wrong key, junk) must
 * reconnect to ask again, so it cannot hold a keep-alive socket the bots need.
 */
export function sendError(
  res: ServerResponse,
  status: number,
  error: string,
  message: string,
  headers: Headers = {},
): void {
  const close: Headers = status >= 400 && status < 500 ? { connection: 'close' } : {};
  sendJson(res, status, { error, message }, { ...close, ...headers });
}

export function sendEmpty(res: ServerResponse, status: number, headers: Headers = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { ...COMMON, ...headers });
  res.end();
}

export function sendText(res: ServerResponse, status: number, contentType: string, text: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { ...COMMON, 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
