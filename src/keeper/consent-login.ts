import { createHash } from 'node:crypto';
import type { Clock } from '../clock.js';
import { isAbortError } from '../clock.js';
import type { AccountConfig } from '../config/config.js';
import { isDhanError } from '../dhan/errors.js';
import type { DhanConsentApi } from '../dhan/dhan-api.js';
import { errorMessage } from '../errors.js';
import { tokenFingerprint } from '../token-fingerprint.js';
import type { CommandOutcome } from './account-commands.js';
import type { ImportedToken } from './imported-token.js';
import type { Logger } from '../log.js';
import type { AsyncStore } from '../store/contract.js';

/** A consent is finished only by a tokenId arriving this soon after this keeper started it. */
export const CONSENT_TTL_MS = 10 * 60_000;

/** Dhan's tokenIds are UUIDs; allow a little more, never anything that could be markup or a path. */
const TOKEN_ID = /^[A-Za-z0-9._-]{8,200}$/;

export interface ConsentLoginDeps {
  readonly accounts: readonly AccountConfig[];
  readonly store: AsyncStore;
  readonly dhan: DhanConsentApi;
  readonly clock: Clock;
  readonly log: Logger;
  /** Makes the token current exactly as an import does: durable, then published. */
  adopt(clientId: string, token: ImportedToken, signal?: AbortSignal): Promise<CommandOutcome>;
}

export type StartOutcome =
  | { readonly ok: true; readonly clientId: string; readonly consentAppId: string; readonly loginUrl: string }
  | { readonly ok: false; readonly message: string };

/**
 * How a tokenId was received. `status` is what the callback answers the browser with: 200 only
 * for a stored token; every 4xx/5xx leaves the keeper's state as it was, except `wrong-account`
 * (the tokenId is spent at Dhan, so its consent is closed).
 */
export type FinishOutcome =
  | { readonly result: 'stored'; readonly status: 200; readonly clientId: string; readonly message: string }
  | {
      readonly result: 'invalid' | 'replayed' | 'no-consent' | 'busy' | 'refused' | 'wrong-account' | 'failed';
      readonly status: 400 | 404 | 409 | 502;
      readonly clientId?: string;
      readonly message: string;
    };

export function hashTokenId(tokenId: string): string {
  return createHash('sha256').update(tokenId).digest('hex');
}

/**
 * The API-key login from the keeper's side: ask Dhan for a consent (its login link goes to a
 * person), then turn the tokenId Dhan's redirect brings back into a stored, published token.
 * Only tokenIds of a consent this keeper started in the last 10 minutes are taken, each once.
 */
export class ConsentLogin {
  constructor(private readonly deps: ConsentLoginDeps) {}

  async start(clientId: string, signal?: AbortSignal): Promise<StartOutcome> {
    const { store, clock, dhan } = this.deps;
    const account = this.deps.accounts.find((a) => a.clientId === clientId);
    if (!account) return { ok: false, message: `no account ${clientId} in the config` };
    if (!account.app) {
      return {
        ok: false,
        message: `account ${account.name} has no apiKey and apiSecret: add them to log in with the API key (or use import)`,
      };
    }
    let consentAppId: string;
    try {
      ({ consentAppId } = await dhan.generateConsent(clientId, account.app, signal));
    } catch (err) {
      if (isAbortError(err)) throw err;
      const message = `Dhan refused a new login: ${errorMessage(err)}`;
      await store.addEvent({
        clientId,
        at: clock.now(),
        kind: 'consent',
        result: 'failure',
        message,
        ...(isDhanError(err) ? { errorKind: err.kind } : {}),
      });
      return { ok: false, message };
    }
    const loginUrl = dhan.consentLoginUrl(consentAppId);
    const now = clock.now();
    await store.transaction(async (tx) => {
      await tx.consents.start({ clientId, consentAppId, loginUrl, startedAt: now });
      await tx.addEvent({
        clientId,
        at: now,
        kind: 'consent',
        result: 'info',
        message: 'login started: the link is valid for 10 minutes',
      });
    });
    this.deps.log.info({ clientId }, 'API-key login started; waiting for the person to log in');
    return { ok: true, clientId, consentAppId, loginUrl };
  }

  /** Takes a tokenId (from the callback or pasted); `clientId` narrows it to one account's consent. */
  async finish(
    rawTokenId: string | undefined,
    options: { clientId?: string; signal?: AbortSignal } = {},
  ): Promise<FinishOutcome> {
    const { store, clock, dhan, log } = this.deps;
    const tokenId = rawTokenId?.trim() ?? '';
    if (!TOKEN_ID.test(tokenId)) {
      return {
        result: 'invalid',
        status: 400,
        message: 'no usable tokenId: the address must end in ?tokenId=… as Dhan sent it',
      };
    }
    const hash = hashTokenId(tokenId);
    const now = clock.now();
    const claimed = await store.transaction(async (tx) => {
      if (await tx.consents.byTokenIdHash(hash)) return 'replayed' as const;
      const consent = await tx.consents.newestOpen(now - CONSENT_TTL_MS, options.clientId);
      if (!consent) return 'no-consent' as const;
      return (await tx.consents.claim(consent.id, hash)) ? consent : ('busy' as const);
    });
    if (claimed === 'replayed')
      return {
        result: 'replayed',
        status: 409,
        message: 'this login was already used: start a new one with `dhan-token-keeper login`',
      };
    if (claimed === 'no-consent') {
      return {
        result: 'no-consent',
        status: 404,
        message: 'no login started by this keeper in the last 10 minutes: start one with `dhan-token-keeper login`',
      };
    }
    if (claimed === 'busy')
      return {
        result: 'busy',
        status: 409,
        message: 'another login is being finished right now: wait a moment and check status',
      };

    const consent = claimed;
    const account = this.deps.accounts.find((a) => a.clientId === consent.clientId);
    if (!account?.app) {
      await store.consents.finish(
        consent.id,
        'failed',
        clock.now(),
        'the account no longer has an API key in the config',
      );
      return {
        result: 'failed',
        status: 409,
        clientId: consent.clientId,
        message: 'the account no longer has an API key in the config',
      };
    }
    let issued;
    try {
      issued = await dhan.consumeConsent(tokenId, account.app, options.signal);
    } catch (err) {
      // Dhan did not take it (a forged or stale tokenId, or Dhan failed): the consent stays open
      // for the real tokenId, as if this request never came.
      await store.consents.reopen(consent.id);
      if (isAbortError(err)) throw err;
      const message = `Dhan did not accept this login: ${errorMessage(err)}`;
      await store.addEvent({
        clientId: consent.clientId,
        at: clock.now(),
        kind: 'consent',
        result: 'failure',
        message,
        ...(isDhanError(err) ? { errorKind: err.kind } : {}),
      });
      log.warn({ clientId: consent.clientId }, message);
      return { result: 'refused', status: 502, clientId: consent.clientId, message };
    }
    if (issued.dhanClientId !== consent.clientId) {
      const message = `the login was for client ${issued.dhanClientId}, not ${consent.clientId}: the token was not stored`;
      await store.transaction(async (tx) => {
        await tx.consents.finish(consent.id, 'failed', clock.now(), message);
        await tx.addEvent({ clientId: consent.clientId, at: clock.now(), kind: 'consent', result: 'failure', message });
      });
      return { result: 'wrong-account', status: 409, clientId: consent.clientId, message };
    }
    if (issued.expiresAt <= clock.now()) {
      const message = 'Dhan handed over a token that had already expired: start a new login';
      await store.consents.finish(consent.id, 'failed', clock.now(), message);
      return { result: 'failed', status: 502, clientId: consent.clientId, message };
    }
    const outcome = await this.deps.adopt(
      consent.clientId,
      {
        accessToken: issued.accessToken,
        source: 'consent',
        expiresAt: issued.expiresAt,
        expiryTime: issued.expiryTime,
      },
      options.signal,
    );
    const at = clock.now();
    if (!outcome.ok) {
      await store.consents.finish(consent.id, 'failed', at, outcome.message);
      return { result: 'failed', status: 502, clientId: consent.clientId, message: outcome.message };
    }
    const message = `logged in: token ${tokenFingerprint(issued.accessToken)} valid until ${new Date(issued.expiresAt).toISOString()}`;
    await store.transaction(async (tx) => {
      await tx.consents.finish(consent.id, 'done', at, message);
      await tx.addEvent({
        clientId: consent.clientId,
        at,
        kind: 'consent',
        result: 'success',
        message,
        expiryAfter: issued.expiresAt,
      });
    });
    return { result: 'stored', status: 200, clientId: consent.clientId, message };
  }
}
