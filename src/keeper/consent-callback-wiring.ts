import type { Config } from '../config/config.js';
import type { Keeper } from './keeper.js';
import type { ConsentCallback } from '../server/consent-callback.js';

/** The server's consent callback for this keeper, only when some account logs in with an API key. */
export function consentCallbackFor(config: Config, keeper: Keeper): { consentCallback?: ConsentCallback } {
  const consent = keeper.consent;
  if (!consent || !config.accounts.some((a) => a.app !== undefined)) return {};
  return {
    consentCallback: async (tokenId, signal) => {
      const result = await consent.finish(tokenId, { signal });
      return { status: result.status, stored: result.result === 'stored', message: result.message };
    },
  };
}
