import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/index.js';
import { connectTarget, verifyCopy } from '../../src/store/postgres/migrate-storage.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { Children, tempDir } from '../helpers/cli.js';
import { dropSchemas, PG_URL, uniqueSchema } from '../helpers/postgres.js';

/*
 * migrate-storage through the spawned CLI, into a real PostgreSQL: everything a keeper learned
 * arrives, sealed tokens stay sealed and open with the same key, and the copy is verified.
 */

const ACC = '1000000001';
const OTHER = '1000000002';
const APIKEY = '1000000003';
const T0 = Date.UTC(2026, 6, 7, 2, 11, 12);
const HOUR = 3_600_000;

const children = new Children();
const schemas: string[] = [];
const pgStores: PostgresStore[] = [];
afterEach(async () => {
  await children.killAll();
  for (const s of pgStores.splice(0)) await s.close();
});
afterAll(() => dropSchemas(schemas));

/** The credential budget: one refusal since the last token, and an attempt whose end was never seen. */
const BUDGET = [
  {
    at: T0,
    endedAt: T0 + 800,
    totpStep: Math.floor(T0 / 30_000),
    outcome: 'credentials-refused',
    answer: 'HTTP 401: Invalid Pin',
    retryAfterMs: null,
  },
  {
    at: T0 + 200_000,
    endedAt: null,
    totpStep: Math.floor(T0 / 30_000) + 6,
    outcome: 'pending',
    answer: null,
    retryAfterMs: null,
  },
] as const;

function seedSqlite(path: string, key: Buffer): Store {
  const store = Store.open(path, { key });
  store.upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' });
  store.upsertAccount({ clientId: OTHER, name: 'spare', mode: 'renew-only' });
  store.updateAccount(ACC, {
    renewRefusedKinds: ['consumer:APP'],
    lastGenerateAt: T0,
    lastTotpStep: Math.floor(T0 / 30_000),
    generationAttempts: BUDGET,
    lastResult: 'renew ok',
    nextActionAt: T0 + 8 * HOUR,
  });
  store.updateAccount(OTHER, {
    attention: {
      scope: 'account',
      cause: 'import-needed',
      reason: 'renew-only without a live token',
      wayOut: 'import a fresh token',
      since: T0,
    },
    consecutiveFailures: 2,
  });
  for (let n = 1; n <= 3; n++) {
    store.saveToken({
      clientId: ACC,
      accessToken: `eyJ.migrated-secret-${n}-${'m'.repeat(16)}`,
      source: n === 1 ? 'totp' : 'renew',
      obtainedAt: T0 + n * HOUR,
      expiresAt: T0 + n * HOUR + 24 * HOUR,
      expiryTime: '2026-07-08T07:41:12',
    });
  }
  store.pruneTokenSecrets(T0 + 2 * HOUR + 1);
  store.addEvent({ clientId: ACC, at: T0, kind: 'renew', result: 'success', durationMs: 321, detail: { status: 200 } });
  store.beginEvent({ clientId: ACC, at: T0 + 1, kind: 'generate', detail: { attempt: 1 } });
  store.addEvent({ clientId: null, at: T0 + 2, kind: 'start', result: 'info', message: 'keeper started' });
  const done = store.enqueueRequest(ACC, 'renew', null, T0);
  store.takeRequests();
  store.completeRequest(done, 'done', 'renewed');
  store.enqueueRequest(OTHER, 'import', JSON.stringify({ accessToken: 'eyJ.queued-migrated-secret' }), T0 + 5);
  store.upsertAccount({ clientId: APIKEY, name: 'apikey', mode: 'consent' });
  const used = store.consents.start({
    clientId: APIKEY,
    consentAppId: 'app-used',
    loginUrl: 'https://auth.example/login?consentAppId=app-used',
    startedAt: T0,
  });
  store.consents.claim(used.id, 'token-id-hash-1');
  store.consents.finish(used.id, 'done', T0 + 60_000, 'token saved');
  store.consents.start({
    clientId: APIKEY,
    consentAppId: 'app-open',
    loginUrl: 'https://auth.example/login?consentAppId=app-open',
    startedAt: T0 + HOUR,
  });
  store.consents.requestLogin({ clientId: APIKEY, since: T0, reason: 'the token dies soon', deadline: T0 + 24 * HOUR });
  return store;
}

describe('migrate-storage', () => {
  it('copies everything, verifies it, keeps tokens sealed, and refuses a non-empty target without --overwrite', async () => {
    const dir = tempDir('dtk-migrate-');
    const path = join(dir, 'keeper.db');
    const key = randomBytes(32);
    const sqlite = seedSqlite(path, key);
    const schema = uniqueSchema('dtk_migr');
    schemas.push(schema);

    const res = await children.run(['migrate-storage', '--from', path, '--to', PG_URL, '--schema', schema]);
    expect(res.code, res.proc.dump()).toBe(0);
    expect(res.stdout).toContain('accounts: 3 row(s) copied, 3 verified');
    expect(res.stdout).toContain('consents: 2 row(s) copied, 2 verified');
    expect(res.stdout).toContain('login_requests: 1 row(s) copied, 1 verified');
    expect(res.stdout).toContain('tokens: 3 row(s) copied, 3 verified');
    expect(res.stdout).toContain('events: 3 row(s) copied, 3 verified');
    expect(res.stdout).toContain('requests: 2 row(s) copied, 2 verified');
    expect(res.stdout).toMatch(/every row's checksum matches/);

    const pgStore = await PostgresStore.open({ connection: { connectionString: PG_URL }, schema, key });
    pgStores.push(pgStore);
    expect(await pgStore.listAccounts()).toEqual(sqlite.listAccounts());
    expect((await pgStore.getAccount(ACC))?.lastTotpStep).toBe(Math.floor(T0 / 30_000));
    expect((await pgStore.getAccount(ACC))?.generationAttempts).toEqual(BUDGET);
    expect(await pgStore.listTokens(ACC)).toEqual(sqlite.listTokens(ACC));
    expect(await pgStore.listEvents({ limit: 1000 })).toEqual(sqlite.listEvents({ limit: 1000 }));
    expect(await pgStore.pendingEvents()).toEqual(sqlite.pendingEvents());
    for (const id of [1, 2]) expect(await pgStore.getRequest(id)).toEqual(sqlite.getRequest(id));
    expect(await pgStore.consents.recent(APIKEY)).toEqual(sqlite.consents.recent(APIKEY));
    expect(await pgStore.consents.byTokenIdHash('token-id-hash-1')).toEqual(
      sqlite.consents.byTokenIdHash('token-id-hash-1'),
    );
    expect(await pgStore.consents.loginRequests()).toEqual(sqlite.consents.loginRequests());
    // The sequences continue after the copied ids.
    const next = await pgStore.saveToken({
      ...sqlite.currentToken(ACC)!,
      accessToken: 'eyJ.after-migration',
      obtainedAt: T0 + 9 * HOUR,
    });
    expect(next.id).toBe(4);
    expect(await pgStore.enqueueRequest(ACC, 'renew', null, T0)).toBe(3);
    expect((await pgStore.addEvent({ clientId: ACC, at: T0, kind: 'probe', result: 'info' })).id).toBe(4);
    expect(
      (
        await pgStore.consents.start({
          clientId: APIKEY,
          consentAppId: 'app-next',
          loginUrl: 'https://auth.example/',
          startedAt: T0,
        })
      ).id,
    ).toBe(3);

    const dump = execFileSync('pg_dump', ['--dbname', PG_URL, '--schema', schema, '--data-only'], { encoding: 'utf8' });
    expect(dump).not.toMatch(/migrated-secret/);

    const again = await children.run(['migrate-storage', '--from', path, '--to', PG_URL, '--schema', schema]);
    expect(again.code, again.proc.dump()).toBe(2);
    expect(again.stderr).toMatch(/already holds \d+ row\(s\)/);
    expect(again.stderr).toContain('--overwrite');
    expect((await pgStore.currentToken(ACC))?.accessToken).toBe('eyJ.after-migration');

    const forced = await children.run([
      'migrate-storage',
      '--from',
      path,
      '--to',
      PG_URL,
      '--schema',
      schema,
      '--overwrite',
    ]);
    expect(forced.code, forced.proc.dump()).toBe(0);
    expect(await pgStore.listTokens(ACC)).toEqual(sqlite.listTokens(ACC));
    sqlite.close();
  });

  it('refuses a source a keeper is running on, and a target that is not a postgres URL', async () => {
    const dir = tempDir('dtk-migrate-');
    const path = join(dir, 'keeper.db');
    const store = Store.open(path);
    store.acquireLease({ pid: 4242, host: 'vps' }, Date.now(), 60_000);
    store.close();
    const schema = uniqueSchema('dtk_migr');
    schemas.push(schema);
    const busy = await children.run(['migrate-storage', '--from', path, '--to', PG_URL, '--schema', schema]);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/a keeper \(pid 4242 on vps\) is running/);
    const bad = await children.run(['migrate-storage', '--from', path, '--to', 'mysql://root:hunter2@db/x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).not.toContain('hunter2');
  });

  it('verification finds a row that differs', async () => {
    const dir = tempDir('dtk-migrate-');
    const path = join(dir, 'keeper.db');
    seedSqlite(path, randomBytes(32)).close();
    const schema = uniqueSchema('dtk_migr');
    schemas.push(schema);
    const res = await children.run(['migrate-storage', '--from', path, '--to', PG_URL, '--schema', schema]);
    expect(res.code, res.proc.dump()).toBe(0);
    const target = await connectTarget({ connectionString: PG_URL }, schema);
    const source = new Database(path, { readonly: true });
    try {
      await target.query(`UPDATE accounts SET consecutive_failures = 9 WHERE client_id = $1`, [OTHER]);
      await target.query(`UPDATE accounts SET last_totp_step = last_totp_step - 1 WHERE client_id = $1`, [ACC]);
      await target.query(`DELETE FROM events WHERE kind = 'start'`);
      await target.query(`UPDATE consents SET status = 'open' WHERE consent_app_id = 'app-used'`);
      const reports = await verifyCopy(source, target);
      expect(reports.find((r) => r.table === 'accounts')).toEqual({
        table: 'accounts',
        source: 3,
        target: 3,
        mismatched: [ACC, OTHER],
      });
      expect(reports.find((r) => r.table === 'events')).toMatchObject({ source: 3, target: 2, mismatched: ['3'] });
      expect(reports.find((r) => r.table === 'consents')).toMatchObject({ source: 2, target: 2, mismatched: ['1'] });
      expect(reports.find((r) => r.table === 'tokens')?.mismatched).toEqual([]);
      expect(reports.find((r) => r.table === 'login_requests')?.mismatched).toEqual([]);
    } finally {
      source.close();
      await target.end();
    }
  });
});
