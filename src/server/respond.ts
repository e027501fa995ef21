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

/** A 200 whose JSON was serialised beforehand (the token API's and /healthz's hot path): one literal, no spreading. */
export function sendPreparedJson(res: ServerResponse, json: string, length: number): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(200, {
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'content-type': 'application/json; charset=utf-8',
    'content-length': length,
  });
  res.end(json);
}

/**
 * `error` is a stable code for programs, `message` says what to do for people. A refused
 * request closes its connection: a client that asks wrongly (no key, a wrong key, junk) must
 * reconnect to ask again, so it cannot hold a keep-alive socket the bots need.
 */
export function sendError(res: ServerResponse, status: number, error: string, message: string, headers: Headers = {}): void {
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
