import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { summarise } from '../../src/commands/check-config.js';
import { loadConfig } from '../../src/config/index.js';
import { baseConfig, ENV, problemsOf, tempDir, writeConfig, writeFile } from '../helpers/config-fixtures.js';

/* storage.url and its companions (passwordFile, schema, ssl), and the ha section. */

const PASSWORD = 'pg-pass-w0rd-!@#';
/** As it would be written into a URL (no character that needs percent-encoding). */
const URL_PASSWORD = 'hunter2-in-the-url';
const CA = '-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n';
const CERT = '-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIBkey\n-----END PRIVATE KEY-----\n';

function withStorage(storage: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...baseConfig(), storage, ...extra };
}

describe('storage on SQLite (no storage.url)', () => {
  it('has no PostgreSQL settings, and ha at its defaults', () => {
    const { config } = loadConfig(writeConfig(tempDir(), baseConfig()), ENV);
    expect(config.storage.postgres).toBeUndefined();
    expect(config.ha).toEqual({ takeoverAfterMs: 15_000 });
  });
});

describe('storage on PostgreSQL', () => {
  it('reads the URL with ${ENV}, the password file, the schema, TLS files and ha.takeoverAfter', () => {
    const dir = tempDir();
    writeFile(join(dir, 'secrets', 'pg-password'), `${PASSWORD}\n`);
    writeFile(join(dir, 'tls', 'ca.pem'), CA, 0o644);
    writeFile(join(dir, 'tls', 'client.pem'), CERT, 0o644);
    writeFile(join(dir, 'tls', 'client.key'), KEY);
    const path = writeConfig(
      dir,
      withStorage(
        {
          url: 'postgres://keeper@${DB_HOST}:5432/keeper',
          passwordFile: 'secrets/pg-password',
          schema: 'dhan_token_keeper',
          ssl: {
            ca: 'tls/ca.pem',
            cert: 'tls/client.pem',
            key: 'tls/client.key',
            rejectUnauthorized: true,
            servername: 'db.internal',
          },
        },
        { ha: { takeoverAfter: '30s' } },
      ),
    );
    const { config, warnings } = loadConfig(path, { ...ENV, DB_HOST: 'db.internal' });
    expect(warnings).toEqual([]);
    expect(config.storage.postgres).toEqual({
      connection: {
        connectionString: 'postgres://keeper@db.internal:5432/keeper',
        password: PASSWORD,
        ssl: { ca: CA, cert: CERT, key: KEY, rejectUnauthorized: true, servername: 'db.internal' },
      },
      schema: 'dhan_token_keeper',
      location: 'postgres://keeper@db.internal:5432/keeper (schema dhan_token_keeper)',
    });
    expect(config.ha).toEqual({ takeoverAfterMs: 30_000 });
  });

  it('takes postgresql:// and a password inside the URL when no file is given, keeping it out of location', () => {
    const { config } = loadConfig(
      writeConfig(tempDir(), withStorage({ url: 'postgresql://keeper:${PGPW}@db/keeper' }, { ha: {} })),
      { ...ENV, PGPW: URL_PASSWORD },
    );
    expect(config.storage.postgres?.connection).toEqual({
      connectionString: `postgresql://keeper:${URL_PASSWORD}@db/keeper`,
      password: undefined,
      ssl: undefined,
    });
    expect(config.storage.postgres?.location).toBe('postgresql://keeper:***@db/keeper');
    expect(config.storage.postgres?.schema).toBeUndefined();
    expect(config.ha).toEqual({ takeoverAfterMs: 15_000 });
  });

  it('warns about a certificate that is not checked, and about a password written into a readable config', () => {
    const dir = tempDir();
    const { warnings } = loadConfig(
      writeConfig(
        dir,
        withStorage({ url: `postgres://keeper:${URL_PASSWORD}@db/keeper`, ssl: { rejectUnauthorized: false } }),
        0o644,
      ),
      ENV,
    );
    const text = warnings.join('\n');
    expect(text).toContain('storage.ssl.rejectUnauthorized: is false');
    expect(text).toContain('storage.url (its password)');
    expect(text).not.toContain(URL_PASSWORD);
  });

  const cases: [string, Record<string, unknown>, string][] = [
    ['a URL that is not one', withStorage({ url: 'not a url' }), 'storage.url: is not a URL — write e.g. postgres://'],
    [
      'another database',
      withStorage({ url: `mysql://root:${URL_PASSWORD}@db/x` }),
      'storage.url: must start with postgres:// or postgresql://',
    ],
    [
      'options= in the URL',
      withStorage({ url: 'postgres://db/x?options=-c%20search_path%3Dother' }),
      'storage.url: must not set options=',
    ],
    [
      'a password in the URL and a password file',
      withStorage({ url: `postgres://keeper:${URL_PASSWORD}@db/x`, passwordFile: 'config.yaml' }),
      'storage.url: carries a password, and storage.passwordFile is set too — remove the password from the URL',
    ],
    [
      'TLS in the URL and in storage.ssl',
      withStorage({ url: 'postgres://db/x?sslmode=verify-full', ssl: { servername: 'db' } }),
      'storage.ssl: is set, and storage.url sets TLS too (sslmode)',
    ],
    [
      'a schema name that cannot be used',
      withStorage({ url: 'postgres://db/x', schema: 'my-schema' }),
      'storage.schema: "my-schema" is not a usable schema name',
    ],
    ['a schema without a URL', withStorage({ schema: 'dtk' }), 'storage.schema: is set, but storage.url is not'],
    [
      'a password file without a URL',
      withStorage({ passwordFile: 'x' }),
      'storage.passwordFile: is set, but storage.url is not',
    ],
    [
      'ha without a URL',
      { ...baseConfig(), ha: { takeoverAfter: '20s' } },
      'ha: is set, but storage.url is not — several keepers share one PostgreSQL database: set storage.url, or remove ha',
    ],
    [
      'a takeover faster than the keepalives allow',
      withStorage({ url: 'postgres://db/x' }, { ha: { takeoverAfter: '2s' } }),
      'ha.takeoverAfter: "2s" is too short — use at least 5s',
    ],
    [
      'an unknown ha key',
      withStorage({ url: 'postgres://db/x' }, { ha: { takeover: '20s' } }),
      'ha.takeover: unknown key — did you mean takeoverAfter?',
    ],
    [
      'a client certificate without its key',
      withStorage({ url: 'postgres://db/x', ssl: { cert: '/dev/null' } }),
      'storage.ssl.cert:',
    ],
    [
      'a missing CA file',
      withStorage({ url: 'postgres://db/x', ssl: { ca: 'nowhere/ca.pem' } }),
      'nowhere/ca.pem: no such file',
    ],
    [
      'rejectUnauthorized that is not a flag',
      withStorage({ url: 'postgres://db/x', ssl: { rejectUnauthorized: 'maybe' } }),
      'storage.ssl.rejectUnauthorized: must be true or false',
    ],
    [
      'a missing password file',
      withStorage({ url: 'postgres://db/x', passwordFile: 'secrets/none' }),
      'secrets/none: no such file',
    ],
  ];
  for (const [what, raw, want] of cases) {
    it(`refuses ${what}, naming the key and the fix`, () => {
      const problems = problemsOf(writeConfig(tempDir(), raw)).join('\n');
      expect(problems).toContain(want);
      expect(problems).not.toContain(URL_PASSWORD);
    });
  }

  it('refuses a CA file that is not PEM, and a client key without its certificate', () => {
    const dir = tempDir();
    writeFile(join(dir, 'ca.der'), 'binary stuff');
    writeFile(join(dir, 'client.key'), KEY);
    const problems = problemsOf(writeConfig(dir, withStorage({ url: 'postgres://db/x', ssl: { ca: 'ca.der' } }))).join(
      '\n',
    );
    expect(problems).toContain('ca.der: is not PEM (no -----BEGIN line)');
    const alone = problemsOf(
      writeConfig(dir, withStorage({ url: 'postgres://db/x', ssl: { key: 'client.key' } })),
    ).join('\n');
    expect(alone).toContain('storage.ssl.cert: missing — a client certificate and its key work only together');
  });

  it('a command loaded without secrets still reads a reachable password file, and leaves out one it cannot reach', () => {
    const dir = tempDir();
    writeFile(join(dir, 'pg-password'), PASSWORD);
    const reachable = writeConfig(dir, withStorage({ url: 'postgres://keeper@db/x', passwordFile: 'pg-password' }));
    expect(loadConfig(reachable, {}, { secrets: 'skip' }).config.storage.postgres?.connection.password).toBe(PASSWORD);
    // Under systemd the credential exists only inside the service: an admin shell lacks even the variable.
    const credential = writeConfig(
      dir,
      withStorage({ url: 'postgres://keeper@db/x', passwordFile: '${CREDENTIALS_DIRECTORY}/pg-password' }),
    );
    expect(
      loadConfig(credential, {}, { secrets: 'skip' }).config.storage.postgres?.connection.password,
    ).toBeUndefined();
    expect(problemsOf(credential, {}).join('\n')).toContain('environment variable CREDENTIALS_DIRECTORY is not set');
  });
});

describe('check-config: where the data lives', () => {
  it('names SQLite by its file, and PostgreSQL by its URL without the password, with TLS and the takeover bound', () => {
    const dir = tempDir();
    expect(summarise(loadConfig(writeConfig(dir, baseConfig()), ENV).config)).toContain(
      `storage: SQLite at ${join(dir, 'data', 'keeper.db')} (history kept 90d)`,
    );

    writeFile(join(dir, 'ca.pem'), CA, 0o644);
    writeFile(join(dir, 'pg-password'), PASSWORD);
    const pg = loadConfig(
      writeConfig(
        dir,
        withStorage(
          { url: 'postgres://keeper@db/keeper', passwordFile: 'pg-password', schema: 'dtk', ssl: { ca: 'ca.pem' } },
          { ha: { takeoverAfter: '20s' } },
        ),
      ),
      ENV,
    ).config;
    const line = summarise(pg)
      .split('\n')
      .find((l) => l.startsWith('storage:'));
    expect(line).toBe(
      'storage: PostgreSQL at postgres://keeper@db/keeper (schema dtk) (history kept 90d), password from storage.passwordFile, TLS with its own CA, a standby takes over within 20s, tokens stored as plaintext',
    );
    const inUrl = loadConfig(
      writeConfig(dir, withStorage({ url: `postgres://keeper:${URL_PASSWORD}@db/keeper` })),
      ENV,
    ).config;
    expect(summarise(inUrl)).toContain('storage: PostgreSQL at postgres://keeper:***@db/keeper');
    expect(summarise(inUrl)).not.toContain(URL_PASSWORD);
  });
});
