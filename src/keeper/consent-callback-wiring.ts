import type { Config } from '../config/config.js';
import type { Keeper } from './keeper.js';
import type { ConsentCallback, ConsentCallbackResult } from '../server/consent-callback.js';

/**
 * Several keepers on PostgreSQL: a browser may come back to a standby, which must not store a
 * token itself (only the leader swaps); it hands the tokenId over to the leader instead.
 */
export type ConsentHandOver = (tokenId: string | undefined, signal: AbortSignal) => Promise<ConsentCallbackResult>;

/** The server's consent callback for this keeper, only when some account logs in with an API key. */
export function consentCallbackFor(
  config: Config,
  keeper: Keeper,
  handOver?: ConsentHandOver,
): { consentCallback?: ConsentCallback } {
  const consent = keeper.consent;
  if (!consent || !config.accounts.some((a) => a.app !== undefined)) return {};
  return {
    consentCallback: async (tokenId, signal) => {
      if (handOver && !keeper.isActing) return handOver(tokenId, signal);
      const result = await consent.finish(tokenId, { signal });
      return { status: result.status, stored: result.result === 'stored', message: result.message };
    },
  };
}
