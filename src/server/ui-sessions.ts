import { randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'dtk_session';
/** A trading day and then some; a trader logs in again the next morning. */
export const SESSION_TTL_MS = 12 * 60 * 60_000;
/** Bounds memory against a script that logs in in a loop; the oldest session goes first. */
const MAX_SESSIONS = 1000;

export interface UiSession {
  readonly id: string;
  /** The key is remembered by name only: the session never holds the key itself. */
  readonly keyName: string;
  /** Sent back in x-csrf-token on every POST; the cookie alone never authorises an action. */
  readonly csrf: string;
  readonly expiresAt: number;
}

const opaque = (): string => randomBytes(32).toString('base64url');

/** Status-page logins: an opaque id in an HttpOnly cookie maps to a key name and a CSRF token. */
export class UiSessions {
  private readonly sessions = new Map<string, UiSession>();

  create(keyName: string, now: number): UiSession {
    const session: UiSession = { id: opaque(), keyName, csrf: opaque(), expiresAt: now + SESSION_TTL_MS };
    if (this.sessions.size >= MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    this.sessions.set(session.id, session);
    return session;
  }

  find(id: string | undefined, now: number): UiSession | undefined {
    if (id === undefined) return undefined;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    if (session.expiresAt <= now) {
      this.sessions.delete(id);
      return undefined;
    }
    return session;
  }

  end(id: string | undefined): void {
    if (id !== undefined) this.sessions.delete(id);
  }
}

export function csrfMatches(session: UiSession, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The session id from a Cookie header, if any. */
export function sessionIdFrom(cookieHeader: string | undefined): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

export function sessionCookie(session: UiSession): string {
  return `${SESSION_COOKIE}=${session.id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.floor(SESSION_TTL_MS / 1000)}`;
}

export const CLEARED_COOKIE = `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`;
