import type Database from 'better-sqlite3';

/** One consent this keeper asked Dhan for. Times are epoch ms. */
export interface ConsentRecord {
  readonly id: number;
  readonly clientId: string;
  readonly consentAppId: string;
  /** The login page's address: no secret in it. */
  readonly loginUrl: string;
  readonly startedAt: number;
  readonly status: ConsentStatus;
  readonly finishedAt: number | null;
  /** What happened, safe to print. */
  readonly message: string | null;
}

/** open: awaits its tokenId; consuming: a tokenId is being exchanged; done/failed: used up. */
export type ConsentStatus = 'open' | 'consuming' | 'done' | 'failed';

/** A consent account waiting for a person to log in. */
export interface LoginRequest {
  readonly clientId: string;
  readonly since: number;
  readonly reason: string;
  /** When the current token dies (null: there is none). */
  readonly deadline: number | null;
}

/** A row of `consents`, as both databases return it. */
export interface ConsentRow {
  id: number;
  client_id: string;
  consent_app_id: string;
  login_url: string;
  started_at: number;
  status: string;
  token_id_hash: string | null;
  finished_at: number | null;
  message: string | null;
}

/** A row of `login_requests`, as both databases return it. */
export interface LoginRow {
  client_id: string;
  since: number;
  reason: string;
  deadline: number | null;
}

/**
 * The API-key login's durable state, beside the Store's other tables (same connection, same
 * transactions). A tokenId is accepted for one consent, once: `claim` is the single place that
 * decides it, under the write lock.
 */
export class ConsentStore {
  readonly #sql;

  constructor(db: Database.Database) {
    this.#sql = {
      insert: db.prepare<{ clientId: string; consentAppId: string; loginUrl: string; startedAt: number }, ConsentRow>(
        `INSERT INTO consents (client_id, consent_app_id, login_url, started_at, status)
         VALUES (@clientId, @consentAppId, @loginUrl, @startedAt, 'open') RETURNING *`,
      ),
      get: db.prepare<[number], ConsentRow>(`SELECT * FROM consents WHERE id = ?`),
      byAppId: db.prepare<[string], ConsentRow>(`SELECT * FROM consents WHERE consent_app_id = ?`),
      byTokenHash: db.prepare<[string], ConsentRow>(`SELECT * FROM consents WHERE token_id_hash = ?`),
      newestOpen: db.prepare<{ since: number; clientId: string | null }, ConsentRow>(
        `SELECT * FROM consents WHERE status = 'open' AND started_at >= @since
           AND (@clientId IS NULL OR client_id = @clientId) ORDER BY started_at DESC, id DESC LIMIT 1`,
      ),
      claim: db.prepare<{ id: number; hash: string }>(
        `UPDATE consents SET status = 'consuming', token_id_hash = @hash WHERE id = @id AND status = 'open'`,
      ),
      reopen: db.prepare<[number]>(
        `UPDATE consents SET status = 'open', token_id_hash = NULL WHERE id = ? AND status = 'consuming'`,
      ),
      finish: db.prepare<{ id: number; status: 'done' | 'failed'; at: number; message: string }>(
        `UPDATE consents SET status = @status, finished_at = @at, message = @message WHERE id = @id`,
      ),
      recent: db.prepare<{ clientId: string; limit: number }, ConsentRow>(
        `SELECT * FROM consents WHERE client_id = @clientId ORDER BY started_at DESC, id DESC LIMIT @limit`,
      ),
      startedSince: db.prepare<{ clientId: string; since: number }, { n: number }>(
        `SELECT count(*) AS n FROM consents WHERE client_id = @clientId AND started_at >= @since`,
      ),
      putLogin: db.prepare<LoginRow>(
        `INSERT INTO login_requests (client_id, since, reason, deadline) VALUES (@client_id, @since, @reason, @deadline)
         ON CONFLICT (client_id) DO UPDATE SET reason = excluded.reason, deadline = excluded.deadline`,
      ),
      getLogin: db.prepare<[string], LoginRow>(`SELECT * FROM login_requests WHERE client_id = ?`),
      listLogins: db.prepare<[], LoginRow>(`SELECT * FROM login_requests ORDER BY client_id`),
      clearLogin: db.prepare<[string]>(`DELETE FROM login_requests WHERE client_id = ?`),
    };
  }

  start(c: { clientId: string; consentAppId: string; loginUrl: string; startedAt: number }): ConsentRecord {
    return toConsent(this.#sql.insert.get(c)!);
  }

  get(id: number): ConsentRecord | undefined {
    const row = this.#sql.get.get(id);
    return row && toConsent(row);
  }

  byConsentAppId(consentAppId: string): ConsentRecord | undefined {
    const row = this.#sql.byAppId.get(consentAppId);
    return row && toConsent(row);
  }

  /** The consent a tokenId (by its hash) was already spent on, if any: a replay. */
  byTokenIdHash(hash: string): ConsentRecord | undefined {
    const row = this.#sql.byTokenHash.get(hash);
    return row && toConsent(row);
  }

  newestOpen(since: number, clientId?: string): ConsentRecord | undefined {
    const row = this.#sql.newestOpen.get({ since, clientId: clientId ?? null });
    return row && toConsent(row);
  }

  /** Marks an open consent as being consumed with this tokenId. False if it was no longer open. */
  claim(id: number, tokenIdHash: string): boolean {
    return this.#sql.claim.run({ id, hash: tokenIdHash }).changes === 1;
  }

  /** Dhan did not take the tokenId (forged, or Dhan failed): the consent may still be finished. */
  reopen(id: number): void {
    this.#sql.reopen.run(id);
  }

  finish(id: number, status: 'done' | 'failed', at: number, message: string): void {
    this.#sql.finish.run({ id, status, at, message });
  }

  recent(clientId: string, limit = 10): ConsentRecord[] {
    return this.#sql.recent.all({ clientId, limit }).map(toConsent);
  }

  countStartedSince(clientId: string, since: number): number {
    return this.#sql.startedSince.get({ clientId, since })?.n ?? 0;
  }

  /** Records (or updates the reason of) a login request; `since` keeps its first value. */
  requestLogin(r: LoginRequest): LoginRequest {
    this.#sql.putLogin.run({ client_id: r.clientId, since: r.since, reason: r.reason, deadline: r.deadline });
    return this.loginRequest(r.clientId)!;
  }

  loginRequest(clientId: string): LoginRequest | undefined {
    const row = this.#sql.getLogin.get(clientId);
    return row && toLogin(row);
  }

  loginRequests(): LoginRequest[] {
    return this.#sql.listLogins.all().map(toLogin);
  }

  /** True when there was a request to clear. */
  clearLoginRequest(clientId: string): boolean {
    return this.#sql.clearLogin.run(clientId).changes === 1;
  }
}

export function toConsent(r: ConsentRow): ConsentRecord {
  return {
    id: r.id,
    clientId: r.client_id,
    consentAppId: r.consent_app_id,
    loginUrl: r.login_url,
    startedAt: r.started_at,
    // CHECK admits only ConsentStatus members.
    status: r.status as ConsentStatus,
    finishedAt: r.finished_at,
    message: r.message,
  };
}

export function toLogin(r: LoginRow): LoginRequest {
  return { clientId: r.client_id, since: r.since, reason: r.reason, deadline: r.deadline };
}
