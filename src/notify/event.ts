import type { NotifyEventKind } from '../config/config.js';

/**
 * One thing a person should hear. Built only from safe parts (account name and id, reasons the
 * store keeps as printable, Dhan's login link): never a token, PIN, TOTP secret, API key or secret.
 */
export interface NotifyEvent {
  readonly kind: NotifyEventKind | 'test';
  /** null for events about the keeper as a whole (summary, test). */
  readonly clientId: string | null;
  readonly name: string | null;
  /** One line. */
  readonly title: string;
  readonly text: string;
  /** The Dhan login page for a login-needed event: it holds no secret. */
  readonly link?: string;
  readonly at: number;
}

/** Plain text for channels without structure (Telegram, ntfy): title, text, then the link alone on a line. */
export function plainText(event: NotifyEvent): string {
  return [event.title, event.text, event.link].filter((part) => part !== undefined && part !== '').join('\n');
}
