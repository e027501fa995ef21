import { z } from 'zod';
import { fail, show } from './issues.js';
import { duration, text } from './values.js';
import { CONSENT_CALLBACK_PATH } from './consent-callback-path.js';

/**
 * The redirect URL registered with Dhan must land on the keeper's callback path: anything else
 * would send the person's browser (and its tokenId) somewhere the keeper never sees.
 */
const redirectUrl = text.transform((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail(ctx, `${show(value)} is not a URL — e.g. http://127.0.0.1:9470${CONSENT_CALLBACK_PATH}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return fail(ctx, `${show(value)} must be an http(s) URL`);
  if (url.pathname.replace(/\/+$/, '') !== CONSENT_CALLBACK_PATH) {
    return fail(ctx, `must end in ${CONSENT_CALLBACK_PATH}, the path the keeper serves — register that URL with Dhan`);
  }
  if (url.search !== '' || url.hash !== '')
    return fail(ctx, 'must not have a query or fragment: Dhan appends ?tokenId=');
  return url.href;
});

export const consentSchema = z.strictObject({
  askBefore: duration(1000).prefault('2h'),
  redirectUrl: redirectUrl.optional(),
});
