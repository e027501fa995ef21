import type { Clock } from '../clock.js';
import { escapeHtml } from '../html-escape.js';
import type { RequestContext, ServerDeps } from './route.js';
import { sendText } from './respond.js';

/** What the keeper made of a tokenId; the callback only shows it. */
export interface ConsentCallbackResult {
  readonly status: number;
  readonly stored: boolean;
  /** Safe to show: never a token, tokenId or secret. */
  readonly message: string;
}

/** Finishes the API-key login with the tokenId Dhan's redirect brought. */
export type ConsentCallback = (tokenId: string | undefined, signal: AbortSignal) => Promise<ConsentCallbackResult>;

/**
 * The browser has no API key, so this route is open: a fixed budget of attempts per minute
 * bounds what a stranger can make the keeper (and Dhan) do. A person needs one or two.
 */
export class CallbackRateLimit {
  private windowStart = 0;
  private used = 0;

  constructor(
    private readonly clock: Clock,
    private readonly perMinute = 10,
  ) {}

  take(): boolean {
    const now = this.clock.now();
    if (now - this.windowStart >= 60_000) {
      this.windowStart = now;
      this.used = 0;
    }
    if (this.used >= this.perMinute) return false;
    this.used++;
    return true;
  }
}

/** GET /v1/consent/callback?tokenId= (or tokenid, as an older Dhan doc spells it). */
export async function serveConsentCallback(deps: ServerDeps, ctx: RequestContext): Promise<void> {
  const { res, url } = ctx;
  const finish = deps.consentCallback;
  if (!finish) {
    page(res, 404, 'No API-key login here', 'This keeper has no account that logs in with an API key.');
    return;
  }
  if (!deps.callbackLimit.take()) {
    page(res, 429, 'Too many attempts', 'Wait a minute, then open the address Dhan sent you to again.');
    return;
  }
  const tokenId = url.searchParams.get('tokenId') ?? url.searchParams.get('tokenid') ?? undefined;
  const result = await finish(tokenId, ctx.signal);
  page(
    res,
    result.status,
    result.stored ? 'Logged in' : 'Login not completed',
    result.stored ? `${result.message}. You can close this page.` : `${result.message}. Nothing was changed.`,
  );
}

function page(res: RequestContext['res'], status: number, title: string, text: string): void {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>dhan-token-keeper: ${escapeHtml(title)}</title></head>
<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>
`;
  sendText(res, status, 'text/html; charset=utf-8', html);
}
