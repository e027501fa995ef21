import type { QueryResult, QueryResultRow } from 'pg';
import type { AsyncConsentStore } from '../contract.js';
import {
  toConsent,
  toLogin,
  type ConsentRecord,
  type ConsentRow,
  type LoginRequest,
  type LoginRow,
} from '../consents.js';

/** Runs one named, parameterised query on the store's current connection (its transaction's, inside one). */
export type PgQuery = <R extends QueryResultRow>(
  name: string,
  text: string,
  values?: unknown[],
) => Promise<QueryResult<R>>;

/**
 * The API-key login's durable state in PostgreSQL, with SQLite's ConsentStore semantics. Every
 * query goes through the store's `query`, so calls made inside a store transaction join it.
 * `claim` is a single conditional UPDATE: of two keepers claiming one consent at once, the second
 * waits for the first's row lock, re-reads the row (no longer 'open') and changes nothing.
 */
export class PgConsentStore implements AsyncConsentStore {
  readonly #query: PgQuery;

  constructor(query: PgQuery) {
    this.#query = query;
  }

  async #one<R extends QueryResultRow>(name: string, text: string, values: unknown[]): Promise<R | undefined> {
    return (await this.#query<R>(name, text, values)).rows[0];
  }

  async #consent(name: string, text: string, values: unknown[]): Promise<ConsentRecord | undefined> {
    const row = await this.#one<ConsentRow>(name, text, values);
    return row === undefined ? undefined : toConsent(row);
  }

  async start(c: {
    clientId: string;
    consentAppId: string;
    loginUrl: string;
    startedAt: number;
  }): Promise<ConsentRecord> {
    const row = await this.#one<ConsentRow>(
      'consent-start',
      `INSERT INTO consents (client_id, consent_app_id, login_url, started_at, status) VALUES ($1, $2, $3, $4, 'open') RETURNING *`,
      [c.clientId, c.consentAppId, c.loginUrl, c.startedAt],
    );
    return toConsent(row!);
  }

  get(id: number): Promise<ConsentRecord | undefined> {
    return this.#consent('consent-get', `SELECT * FROM consents WHERE id = $1`, [id]);
  }

  byConsentAppId(consentAppId: string): Promise<ConsentRecord | undefined> {
    return this.#consent('consent-by-app-id', `SELECT * FROM consents WHERE consent_app_id = $1`, [consentAppId]);
  }

  byTokenIdHash(hash: string): Promise<ConsentRecord | undefined> {
    return this.#consent('consent-by-token-hash', `SELECT * FROM consents WHERE token_id_hash = $1`, [hash]);
  }

  newestOpen(since: number, clientId?: string): Promise<ConsentRecord | undefined> {
    return this.#consent(
      'consent-newest-open',
      `SELECT * FROM consents WHERE status = 'open' AND started_at >= $1 AND ($2::text IS NULL OR client_id = $2)
       ORDER BY started_at DESC, id DESC LIMIT 1`,
      [since, clientId ?? null],
    );
  }

  async claim(id: number, tokenIdHash: string): Promise<boolean> {
    const r = await this.#query(
      'consent-claim',
      `UPDATE consents SET status = 'consuming', token_id_hash = $2 WHERE id = $1 AND status = 'open'`,
      [id, tokenIdHash],
    );
    return r.rowCount === 1;
  }

  async reopen(id: number): Promise<void> {
    await this.#query(
      'consent-reopen',
      `UPDATE consents SET status = 'open', token_id_hash = NULL WHERE id = $1 AND status = 'consuming'`,
      [id],
    );
  }

  async finish(id: number, status: 'done' | 'failed', at: number, message: string): Promise<void> {
    await this.#query(
      'consent-finish',
      `UPDATE consents SET status = $2, finished_at = $3, message = $4 WHERE id = $1`,
      [id, status, at, message],
    );
  }

  async recent(clientId: string, limit = 10): Promise<ConsentRecord[]> {
    const r = await this.#query<ConsentRow>(
      'consent-recent',
      `SELECT * FROM consents WHERE client_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2`,
      [clientId, limit],
    );
    return r.rows.map(toConsent);
  }

  async countStartedSince(clientId: string, since: number): Promise<number> {
    const row = await this.#one<{ n: number }>(
      'consent-count-since',
      `SELECT count(*) AS n FROM consents WHERE client_id = $1 AND started_at >= $2`,
      [clientId, since],
    );
    return row?.n ?? 0;
  }

  /** Records (or updates the reason of) a login request; `since` keeps its first value. */
  async requestLogin(r: LoginRequest): Promise<LoginRequest> {
    const row = await this.#one<LoginRow>(
      'login-request-put',
      `INSERT INTO login_requests (client_id, since, reason, deadline) VALUES ($1, $2, $3, $4)
       ON CONFLICT (client_id) DO UPDATE SET reason = excluded.reason, deadline = excluded.deadline RETURNING *`,
      [r.clientId, r.since, r.reason, r.deadline],
    );
    return toLogin(row!);
  }

  async loginRequest(clientId: string): Promise<LoginRequest | undefined> {
    const row = await this.#one<LoginRow>('login-request-get', `SELECT * FROM login_requests WHERE client_id = $1`, [
      clientId,
    ]);
    return row === undefined ? undefined : toLogin(row);
  }

  async loginRequests(): Promise<LoginRequest[]> {
    const r = await this.#query<LoginRow>(
      'login-request-list',
      `SELECT * FROM login_requests ORDER BY client_id COLLATE "C"`,
    );
    return r.rows.map(toLogin);
  }

  async clearLoginRequest(clientId: string): Promise<boolean> {
    return (
      (await this.#query('login-request-clear', `DELETE FROM login_requests WHERE client_id = $1`, [clientId]))
        .rowCount === 1
    );
  }
}
