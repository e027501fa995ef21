import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { KeeperError } from '../../src/errors.js';
import { Store } from '../../src/store/index.js';
import type { NewToken } from '../../src/store/index.js';
import { isSealed, parseKey, requestBinding, TokenSeal, tokenBinding } from '../../src/store/token-seal.js';
import { Children, tempDir, writeSecretFile } from '../helpers/cli.js';

/*
 * Tokens at rest: sealed with AES-256-GCM, bound to their row, over a real SQLite file; a stolen
 * file (or its WAL) shows no token, a missing or wrong key stops the keeper instead of serving
 * garbage, and rotate-key re-seals everything.
 */

const ACC = '1000000001';
const OTHER = '1000000002';
const T0 = Date.UTC(2026, 6, 7, 2, 11, 12);
const HOUR = 3_600_000;

function token(clientId: string, n: number): NewToken {
  return {
    clientId,
    accessToken: `eyJ.sealing-secret-${clientId}-${n}-${'q'.repeat(24)}`,
    source: 'totp',
    obtainedAt: T0 + n * HOUR,
    expiresAt: T0 + n * HOUR + 24 * HOUR,
    expiryTime: '2026-07-08T07:41:12',
  };
}

const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});

function open(path: string, options: Parameters<typeof Store.open>[1] = {}): Store {
  const store = Store.open(path, options);
  stores.push(store);
  return store;
}

function dbPath(): string {
  return join(tempDir('dtk-seal-'), 'keeper.db');
}

function fileBytes(path: string): Buffer {
  return Buffer.concat([path, `${path}-wal`].filter((p) => fs.existsSync(p)).map((p) => fs.readFileSync(p)));
}

function rawColumn(path: string, sql: string): unknown[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(sql).pluck().all();
  } finally {
    db.close();
  }
}

function caught(fn: () => unknown): KeeperError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KeeperError);
    return err as KeeperError;
  }
  throw new Error('expected a throw');
}

function seed(store: Store): void {
  store.upsertAccount({ clientId: ACC, name: 'main', mode: 'auto' });
  store.upsertAccount({ clientId: OTHER, name: 'spare', mode: 'auto' });
}

describe('TokenSeal', () => {
  const key = randomBytes(32);

  it('opens what it sealed, and only at the row it was sealed for', () => {
    const seal = new TokenSeal(key);
    const sealed = seal.seal('eyJ.abc', tokenBinding(7, ACC));
    expect(isSealed(sealed)).toBe(true);
    expect(sealed).not.toContain('eyJ.abc');
    expect(seal.open(sealed, tokenBinding(7, ACC))).toBe('eyJ.abc');
    expect(seal.seal('eyJ.abc', tokenBinding(7, ACC))).not.toBe(sealed);
    for (const other of [tokenBinding(8, ACC), tokenBinding(7, OTHER), requestBinding(7, ACC)]) {
      expect(caught(() => seal.open(sealed, other)).code).toBe('store-sealed-corrupt');
    }
    const flipped = sealed.slice(0, -3) + (sealed.endsWith('AAA') ? 'BBB' : 'AAA');
    expect(caught(() => seal.open(flipped, tokenBinding(7, ACC))).code).toBe('store-sealed-corrupt');
  });

  it('names a wrong key as such, and lets plaintext through', () => {
    const sealed = new TokenSeal(key).seal('eyJ.abc', tokenBinding(1, ACC));
    const err = caught(() => new TokenSeal(randomBytes(32)).open(sealed, tokenBinding(1, ACC)));
    expect(err.code).toBe('store-key-wrong');
    expect(err.message).not.toContain('eyJ');
    expect(new TokenSeal(key).open('eyJ.plain', tokenBinding(1, ACC))).toBe('eyJ.plain');
  });

  it.each([
    ['hex', key.toString('hex'), true],
    ['upper-case hex with a newline', `${key.toString('hex').toUpperCase()}\n`, true],
    ['base64', key.toString('base64'), true],
    ['base64url without padding', key.toString('base64url'), true],
    ['too short', key.toString('hex').slice(2), false],
    ['a passphrase', 'correct horse battery staple', false],
    ['33 bytes of base64', randomBytes(33).toString('base64'), false],
  ])('parses a key given as %s', (_what, text, ok) => {
    const parsed = parseKey(text);
    if (ok) expect(parsed).toEqual(key);
    else expect(parsed).toMatchObject({ problem: expect.stringMatching(/openssl rand -hex 32/) });
  });
});

describe('a sealed SQLite store', () => {
  it('stores no token in the file or its WAL, and reads every token back', () => {
    const path = dbPath();
    const key = randomBytes(32);
    const store = open(path, { key });
    seed(store);
    const t1 = store.saveToken(token(ACC, 1));
    const t2 = store.saveToken(token(ACC, 2));
    const o1 = store.saveToken(token(OTHER, 1));
    const payload = JSON.stringify({ accessToken: 'eyJ.queued-import-secret', source: 'web' });
    const req = store.enqueueRequest(ACC, 'import', payload, T0);

    expect(store.currentToken(ACC)).toEqual(t2);
    expect(store.listTokens(ACC)).toEqual([t2, { ...t1, supersededAt: t2.obtainedAt }]);
    expect(store.getRequest(req)?.payload).toBe(payload);
    expect(rawColumn(path, 'SELECT access_token FROM tokens').every((v) => isSealed(String(v)))).toBe(true);
    expect(rawColumn(path, 'SELECT payload FROM requests').every((v) => isSealed(String(v)))).toBe(true);
    const bytes = fileBytes(path);
    for (const secret of [t1.accessToken, t2.accessToken, o1.accessToken, 'queued-import-secret']) {
      expect(bytes.includes(secret)).toBe(false);
    }

    const reader = open(path, { readonly: true, key });
    expect(reader.currentToken(OTHER)).toEqual(o1);
    expect(store.takeRequests()[0]?.payload).toBe(payload);
  });

  it('a sealed token copied into another row does not open there', () => {
    const path = dbPath();
    const key = randomBytes(32);
    const store = open(path, { key });
    seed(store);
    store.saveToken(token(ACC, 1));
    store.saveToken(token(OTHER, 1));
    store.close();
    const db = new Database(path);
    db.prepare(
      `UPDATE tokens SET access_token = (SELECT access_token FROM tokens WHERE client_id = ?) WHERE client_id = ?`,
    ).run(ACC, OTHER);
    db.close();
    const again = open(path, { key });
    expect(again.currentToken(ACC)?.accessToken).toBe(token(ACC, 1).accessToken);
    expect(caught(() => again.currentToken(OTHER)).code).toBe('store-sealed-corrupt');
  });

  it('seals the plaintext rows of an older database when a key is first given, leaving no copy behind', () => {
    const path = dbPath();
    const plain = open(path);
    seed(plain);
    const t1 = plain.saveToken(token(ACC, 1));
    const t2 = plain.saveToken(token(ACC, 2));
    const t3 = plain.saveToken(token(ACC, 3));
    expect(plain.pruneTokenSecrets(t3.obtainedAt)).toBe(1);
    plain.enqueueRequest(OTHER, 'import', JSON.stringify({ accessToken: 'eyJ.plain-queued-secret' }), T0);
    plain.close();
    expect(fileBytes(path).includes(t3.accessToken)).toBe(true);

    const key = randomBytes(32);
    const sealed = open(path, { key });
    expect(sealed.keyId).toBe(new TokenSeal(key).keyId);
    expect(sealed.listTokens(ACC).map((t) => t.accessToken)).toEqual([t3.accessToken, t2.accessToken, '']);
    expect(
      rawColumn(path, `SELECT access_token FROM tokens WHERE access_token <> ''`).every((v) => isSealed(String(v))),
    ).toBe(true);
    sealed.close();
    const bytes = fileBytes(path);
    for (const secret of [t1.accessToken, t2.accessToken, t3.accessToken, 'plain-queued-secret']) {
      expect(bytes.includes(secret)).toBe(false);
    }
  });

  it('refuses to open without the key or with another one, naming the config key', () => {
    const path = dbPath();
    const key = randomBytes(32);
    const store = open(path, { key });
    seed(store);
    const t1 = store.saveToken(token(ACC, 1));
    store.close();

    const missing = caught(() => open(path));
    expect(missing.code).toBe('store-key-missing');
    expect(missing.hint).toContain('storage.encryptionKeyFile');
    expect(caught(() => open(path, { readonly: true })).code).toBe('store-key-missing');
    // A writer never goes without the key: it would add plaintext rows to a sealed database.
    expect(caught(() => open(path, { withoutKey: 'hide-tokens' })).code).toBe('store-key-missing');
    const wrong = caught(() => open(path, { key: randomBytes(32) }));
    expect(wrong.code).toBe('store-key-wrong');
    expect(wrong.message).toContain(new TokenSeal(key).keyId);
    expect(caught(() => open(path, { readonly: true, key: randomBytes(32) })).code).toBe('store-key-wrong');

    // status and history print no token, so they work without the key.
    const hidden = open(path, { readonly: true, withoutKey: 'hide-tokens' });
    expect(hidden.currentToken(ACC)).toEqual({ ...t1, accessToken: '' });
  });

  it('rotateKey re-seals every row with the new key in one go', () => {
    const path = dbPath();
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const store = open(path, { key: oldKey });
    seed(store);
    const t1 = store.saveToken(token(ACC, 1));
    const t2 = store.saveToken(token(ACC, 2));
    const req = store.enqueueRequest(ACC, 'import', '{"accessToken":"eyJ.q"}', T0);
    expect(store.rotateKey(newKey)).toEqual({ tokens: 2, requests: 1 });
    expect(store.keyId).toBe(new TokenSeal(newKey).keyId);
    const t3 = store.saveToken(token(ACC, 3));
    store.close();

    expect(caught(() => open(path, { key: oldKey })).code).toBe('store-key-wrong');
    const again = open(path, { key: newKey });
    expect(again.listTokens(ACC).map((t) => t.accessToken)).toEqual([t3.accessToken, t2.accessToken, t1.accessToken]);
    expect(again.getRequest(req)?.payload).toBe('{"accessToken":"eyJ.q"}');
  });
});

describe('encryption at rest through the CLI', () => {
  const children = new Children();
  afterEach(() => children.killAll());

  function setup(): { dir: string; configPath: string; keyFile: string; key: Buffer } {
    const dir = tempDir('dtk-seal-cli-');
    const key = randomBytes(32);
    const keyFile = writeSecretFile(join(dir, 'storage.key'), `${key.toString('hex')}\n`);
    const configPath = join(dir, 'config.yaml');
    fs.writeFileSync(
      configPath,
      `storage:\n  path: ./keeper.db\n  encryptionKeyFile: ./storage.key\naccounts:\n  - clientId: "${ACC}"\n    name: main\n    mode: renew-only\n`,
      { mode: 0o600 },
    );
    return { dir, configPath, keyFile, key };
  }

  it('serves the token with the key, refuses a wrong or missing key with exit 2, and rotate-key moves to a new key', async () => {
    const { dir, configPath, keyFile, key } = setup();
    const store = open(join(dir, 'keeper.db'), { key });
    store.upsertAccount({ clientId: ACC, name: 'main', mode: 'renew-only' });
    const live = { ...token(ACC, 1), obtainedAt: Date.now(), expiresAt: Date.now() + 24 * HOUR };
    store.saveToken(live);
    store.close();

    const check = await children.run(['check-config', '--config', configPath]);
    expect(check.code, check.proc.dump()).toBe(0);
    expect(check.stdout).toContain(`tokens sealed at rest (key id ${new TokenSeal(key).keyId})`);
    expect(check.stdout).not.toContain(key.toString('hex'));

    const printed = await children.run(['token', ACC, '--config', configPath]);
    expect(printed.code, printed.proc.dump()).toBe(0);
    expect(printed.stdout).toBe(`${live.accessToken}\n`);

    // A key that did not seal the database: a config error, before anything is served.
    writeSecretFile(keyFile, randomBytes(32).toString('base64'));
    for (const args of [['token', ACC], ['renew', ACC], ['run']]) {
      const res = await children.run([...args, '--config', configPath], { timeoutMs: 20_000 });
      expect(res.code, res.proc.dump()).toBe(2);
      expect(res.stderr).toMatch(/sealed with another encryption key/);
      expect(res.stderr).toContain('storage.encryptionKeyFile');
      expect(res.stdout + res.stderr).not.toContain(live.accessToken);
    }
    // status prints no token, so it does not even read the key.
    const status = await children.run(['status', '--json', '--config', configPath]);
    expect(status.code, status.proc.dump()).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject([{ clientId: ACC, state: 'valid' }]);

    // Without the key at all.
    fs.writeFileSync(
      configPath,
      fs.readFileSync(configPath, 'utf8').replace('  encryptionKeyFile: ./storage.key\n', ''),
    );
    const missing = await children.run(['token', ACC, '--config', configPath]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/sealed, and no encryption key was given/);

    // Back to the right key, then rotate to a new one.
    writeSecretFile(keyFile, key.toString('hex'));
    fs.writeFileSync(
      configPath,
      fs
        .readFileSync(configPath, 'utf8')
        .replace('  path: ./keeper.db\n', '  path: ./keeper.db\n  encryptionKeyFile: ./storage.key\n'),
    );
    const newKey = randomBytes(32);
    const newKeyFile = writeSecretFile(join(dir, 'new.key'), newKey.toString('base64'));
    const bad = await children.run(['rotate-key', '--new-key-file', join(dir, 'nope.key'), '--config', configPath]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--new-key-file: .*no such file/);
    const rotated = await children.run(['rotate-key', '--new-key-file', newKeyFile, '--config', configPath]);
    expect(rotated.code, rotated.proc.dump()).toBe(0);
    expect(rotated.stdout).toContain(
      `re-sealed 1 token(s) and 0 queued request(s) with key ${new TokenSeal(newKey).keyId}`,
    );
    expect((await children.run(['token', ACC, '--config', configPath])).code).toBe(2);
    fs.copyFileSync(newKeyFile, keyFile);
    const after = await children.run(['token', ACC, '--config', configPath]);
    expect(after.code, after.proc.dump()).toBe(0);
    expect(after.stdout).toBe(`${live.accessToken}\n`);
    const bytes = fileBytes(join(dir, 'keeper.db'));
    expect(bytes.includes(live.accessToken)).toBe(false);
    // A dozen CLI processes one after the other: on a loaded machine that takes a while.
  }, 150_000);

  it('check-config names a malformed key file without printing it', async () => {
    const { configPath, keyFile } = setup();
    writeSecretFile(keyFile, 'hunter2-is-not-a-key');
    const res = await children.run(['check-config', '--config', configPath]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/storage\.encryptionKeyFile: must hold 32 random bytes/);
    expect(res.stderr).not.toContain('hunter2');
  });
});
