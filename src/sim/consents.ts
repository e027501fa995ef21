import { randomUUID } from 'node:crypto';
import { DateTime } from 'luxon';
import type { Clock } from '../clock.js';
import type { Reply } from './responses.js';
import type { SimApp } from './simulator-api.js';

/** Dhan allows this many consents per user per day. */
export const CONSENTS_PER_DAY = 25;
const IST = 'Asia/Kolkata';

interface ConsentRecord {
  readonly consentAppId: string;
  readonly clientId: string;
  status: 'GENERATED' | 'APPROVED' | 'CONSUMED';
  tokenId: string | undefined;
}

/** What the login page's approval produced: where Dhan sends the browser next. */
export interface Approval {
  readonly consentAppId: string;
  readonly clientId: string;
  readonly tokenId: string;
  /** The registered redirect URL with `?tokenId=`. */
  readonly location: string;
}

export type ConsumeResult = { readonly clientId: string } | Reply;

/**
 * Dhan's API-key (consent) flow: apps registered per account, consents generated with the app's
 * key and secret (25 a day per user), approved by a person on the login page, and each tokenId
 * exchanged for a token once. Issuing the token itself is the caller's (it owns the tokens).
 */
export class ConsentDesk {
  private readonly apps = new Map<string, SimApp>();
  private readonly consents = new Map<string, ConsentRecord>();
  private readonly byTokenId = new Map<string, ConsentRecord>();
  /** Per client id: the IST day and how many consents were generated on it. */
  private readonly daily = new Map<string, { day: string; count: number }>();

  constructor(private readonly clock: Clock) {}

  registerApp(clientId: string, app: SimApp): void {
    this.apps.set(clientId, app);
  }

  hasApp(clientId: string): boolean {
    return this.apps.has(clientId);
  }

  generate(clientId: string, appId: string | undefined, appSecret: string | undefined): Reply {
    const app = this.apps.get(clientId);
    if (!app || app.apiKey !== appId || app.apiSecret !== appSecret) return unauthorized();
    const day = DateTime.fromMillis(this.clock.now(), { zone: IST }).toISODate() ?? '';
    const used = this.daily.get(clientId);
    const count = used?.day === day ? used.count : 0;
    if (count >= CONSENTS_PER_DAY) {
      return {
        status: 400,
        body: { status: 'error', message: `Consent limit of ${CONSENTS_PER_DAY} per day reached` },
      };
    }
    this.daily.set(clientId, { day, count: count + 1 });
    const record: ConsentRecord = { consentAppId: randomUUID(), clientId, status: 'GENERATED', tokenId: undefined };
    this.consents.set(record.consentAppId, record);
    return {
      status: 200,
      body: { consentAppId: record.consentAppId, consentAppStatus: 'GENERATED', status: 'success' },
    };
  }

  /** The account a login page is for, when the consent exists and awaits a login. */
  pending(consentAppId: string): { clientId: string; redirectUrl: string | undefined } | undefined {
    const record = this.consents.get(consentAppId);
    if (!record || record.status !== 'GENERATED') return undefined;
    return { clientId: record.clientId, redirectUrl: this.apps.get(record.clientId)?.redirectUrl };
  }

  /** The person logged in and approved: a tokenId, and the redirect Dhan answers with. */
  approve(consentAppId: string): Approval | { readonly problem: string } {
    const record = this.consents.get(consentAppId);
    if (!record) return { problem: `no consent ${consentAppId}` };
    if (record.status !== 'GENERATED') return { problem: `consent ${consentAppId} was already used` };
    const app = this.apps.get(record.clientId);
    if (app?.redirectUrl === undefined)
      return { problem: `the app of ${record.clientId} has no redirect URL registered` };
    record.status = 'APPROVED';
    record.tokenId = randomUUID();
    this.byTokenId.set(record.tokenId, record);
    const location = new URL(app.redirectUrl);
    location.searchParams.set('tokenId', record.tokenId);
    return { consentAppId, clientId: record.clientId, tokenId: record.tokenId, location: location.toString() };
  }

  /** Spends a tokenId; the caller issues the token for the returned client id. */
  consume(tokenId: string | undefined, appId: string | undefined, appSecret: string | undefined): ConsumeResult {
    const record = tokenId === undefined ? undefined : this.byTokenId.get(tokenId);
    // The key is checked against the consent's own app: another user's key cannot spend it.
    const app = record ? this.apps.get(record.clientId) : [...this.apps.values()].find((a) => a.apiKey === appId);
    if (!app || app.apiKey !== appId || app.apiSecret !== appSecret) return unauthorized();
    if (!record || record.status !== 'APPROVED') {
      return { status: 400, body: { status: 'error', message: 'Invalid or expired tokenId' } };
    }
    record.status = 'CONSUMED';
    return { clientId: record.clientId };
  }

  generatedToday(clientId: string): number {
    const day = DateTime.fromMillis(this.clock.now(), { zone: IST }).toISODate() ?? '';
    const used = this.daily.get(clientId);
    return used?.day === day ? used.count : 0;
  }
}

function unauthorized(): Reply {
  return { status: 401, body: { status: 'error', message: 'Unauthorized' } };
}
