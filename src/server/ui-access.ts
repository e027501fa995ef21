import type { ApiKeyConfig } from '../config/config.js';
import { mayRead, type AuthResult } from './auth.js';
import type { UiSession } from './ui-sessions.js';

/** Who is looking at the status page, and how they proved it. */
export type UiAccess =
  | { readonly ok: true; readonly via: 'anonymous' }
  | { readonly ok: true; readonly via: 'bearer'; readonly key: ApiKeyConfig }
  | { readonly ok: true; readonly via: 'cookie'; readonly key: ApiKeyConfig; readonly session: UiSession }
  | { readonly ok: false; readonly status: 401 | 403; readonly error: string; readonly message: string };

export interface AccessInput {
  readonly keysConfigured: boolean;
  readonly loopback: boolean;
  /** The Authorization header's verdict, or undefined when the request sent none. */
  readonly bearer: AuthResult | undefined;
  /** A live session from the cookie, with the key it names (undefined if that key is gone). */
  readonly session: { readonly session: UiSession; readonly key: ApiKeyConfig | undefined } | undefined;
}

/**
 * Without API keys the page is a read-only view for this machine only; with keys, a key
 * marked `ui: true` is needed, by Bearer or by a login session. A Bearer header wins over a
 * cookie so that a script never acts with a browser's session by accident.
 */
export function resolveAccess(input: AccessInput): UiAccess {
  if (input.bearer !== undefined) {
    if (!input.bearer.ok)
      return { ok: false, status: 401, error: 'unauthorized', message: 'the API key is not one of server.apiKeys' };
    if (!input.bearer.key.ui) return notUi(input.bearer.key);
    return { ok: true, via: 'bearer', key: input.bearer.key };
  }
  if (input.session !== undefined) {
    const { key, session } = input.session;
    if (key?.ui) return { ok: true, via: 'cookie', key, session };
  }
  if (!input.keysConfigured) {
    if (input.loopback) return { ok: true, via: 'anonymous' };
    return {
      ok: false,
      status: 403,
      error: 'forbidden',
      message: 'without server.apiKeys the status page is served to this machine only',
    };
  }
  return { ok: false, status: 401, error: 'login-required', message: 'log in with an API key that has ui: true' };
}

function notUi(key: ApiKeyConfig): UiAccess {
  return {
    ok: false,
    status: 403,
    error: 'forbidden',
    message: `API key "${key.name}" may not open the status page — set ui: true on it`,
  };
}

export function mayView(access: UiAccess, clientId: string): boolean {
  if (!access.ok) return false;
  return access.via === 'anonymous' || mayRead(access.key, clientId);
}

/** Actions need a key: the anonymous loopback view is read-only. */
export function mayAct(access: UiAccess, clientId: string): boolean {
  return access.ok && access.via !== 'anonymous' && access.key.ui === true && mayRead(access.key, clientId);
}
