import type { NotifyChannelConfig } from '../config/config.js';
import { signBody, SIGNATURE_HEADER } from '../publish/webhook-sink.js';
import { VERSION } from '../version.js';
import { plainText, type NotifyEvent } from './event.js';

export interface DeliveryTry {
  readonly ok: boolean;
  /** False when another try cannot help (a 4xx other than 429, a redirect). */
  readonly retryable: boolean;
  readonly httpStatus?: number;
  /** Safe to print: never the URL (a Telegram URL holds the bot token) nor a body. */
  readonly error?: string;
}

const TIMEOUT_MS = 10_000;

/** One delivery attempt to one channel. */
export async function deliver(
  channel: NotifyChannelConfig,
  event: NotifyEvent,
  signal?: AbortSignal,
): Promise<DeliveryTry> {
  const { url, init } = request(channel, event);
  const timeout = AbortSignal.timeout(TIMEOUT_MS);
  try {
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    await res.body?.cancel().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) return { ok: true, retryable: false, httpStatus: res.status };
    const retryable = res.status === 429 || res.status >= 500;
    return { ok: false, retryable, httpStatus: res.status, error: `HTTP ${res.status}` };
  } catch (err) {
    if (signal?.aborted) return { ok: false, retryable: false, error: 'aborted' };
    const code = (err as { cause?: { code?: unknown } }).cause?.code;
    return {
      ok: false,
      retryable: true,
      error: timeout.aborted
        ? `no answer within ${TIMEOUT_MS / 1000} s`
        : `network error${typeof code === 'string' ? ` (${code})` : ''}`,
    };
  }
}

function request(channel: NotifyChannelConfig, event: NotifyEvent): { url: string; init: RequestInit } {
  const userAgent = `dhan-token-keeper/${VERSION}`;
  switch (channel.type) {
    case 'telegram':
      return {
        url: `${channel.apiBaseUrl}/bot${channel.botToken}/sendMessage`,
        init: {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': userAgent },
          body: JSON.stringify({ chat_id: channel.chatId, text: plainText(event), disable_web_page_preview: true }),
        },
      };
    case 'ntfy': {
      const headers: Record<string, string> = {
        'content-type': 'text/plain; charset=utf-8',
        'user-agent': userAgent,
        // Header values must be ASCII (the body is UTF-8): titles are built from ASCII parts.
        title: event.title.replace(/[^\x20-\x7e]/g, '?'),
        tags: event.kind,
      };
      if (event.link !== undefined) headers['click'] = event.link;
      if (event.kind === 'login-needed' || event.kind === 'attention' || event.kind === 'token-dead')
        headers['priority'] = 'high';
      if (channel.token !== undefined) headers['authorization'] = `Bearer ${channel.token}`;
      return {
        url: `${channel.url}/${channel.topic}`,
        init: { method: 'POST', headers, body: [event.text, event.link].filter(Boolean).join('\n') },
      };
    }
    case 'webhook': {
      const body = JSON.stringify({
        event: event.kind,
        clientId: event.clientId,
        name: event.name,
        title: event.title,
        text: event.text,
        ...(event.link === undefined ? {} : { link: event.link }),
        at: new Date(event.at).toISOString(),
      });
      const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': userAgent };
      if (channel.secret !== undefined) headers[SIGNATURE_HEADER] = signBody(channel.secret, body);
      return { url: channel.url, init: { method: 'POST', headers, body } };
    }
  }
}
