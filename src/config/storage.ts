import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { DEFAULT_TAKEOVER_AFTER_MS, MIN_TAKEOVER_AFTER_MS } from '../store/postgres/leadership-timing.js';
import {
  redactUrl,
  SCHEMA_NAME,
  SCHEMA_NAME_RULE,
  URL_TLS_PARAMS,
  type PostgresTls,
} from '../store/postgres/connection.js';
import type { HaConfig, StorageConfig } from './config.js';
import { formatDuration } from './duration.js';
import { describeFsError, looseModeWarning, resolvePath } from './files.js';
import { fail, passed, show } from './issues.js';
import { at, type Ctx, type Warn } from './problems.js';
import { secretFile } from './secrets.js';
import { storageKeyRule } from './storage-key.js';
import { duration, filePath, flag, text } from './values.js';

/*
 * `storage:` (SQLite at `path`, or PostgreSQL when `url` is given) and `ha:` (several keepers on
 * one PostgreSQL database). The URL is never echoed in a message: it may carry a password.
 */

const URL_EXAMPLE = 'postgres://keeper@db.internal:5432/keeper';

/** The keys that configure PostgreSQL, which mean nothing without storage.url. */
const POSTGRES_ONLY = ['passwordFile', 'schema', 'ssl'] as const;

export interface PostgresUrl {
  readonly url: string;
  readonly hasPassword: boolean;
  readonly tlsParams: readonly string[];
}

const postgresUrl = text.transform((value, ctx): PostgresUrl => {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return fail(ctx, `is not a URL — write e.g. ${URL_EXAMPLE}`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    return fail(ctx, `must start with postgres:// or postgresql:// — write e.g. ${URL_EXAMPLE}`);
  }
  // node-postgres lets the URL's options replace the keeper's own session settings
  // (search_path, synchronous_commit), silently.
  if (url.searchParams.has('options')) {
    return fail(
      ctx,
      'must not set options= — the keeper sets its own session options; give the schema as storage.schema',
    );
  }
  return {
    url: value.trim(),
    hasPassword: url.password !== '' || url.searchParams.has('password'),
    tlsParams: URL_TLS_PARAMS.filter((p) => url.searchParams.has(p)),
  };
});

const schemaName = text.transform((value, ctx) =>
  SCHEMA_NAME.test(value)
    ? value
    : fail(ctx, `${show(value)} is not a usable schema name — use ${SCHEMA_NAME_RULE}, e.g. dhan_token_keeper`),
);

// A CA bundle is a few hundred KB at most; anything bigger is the wrong file.
const MAX_PEM_BYTES = 1024 * 1024;

export interface PemFile {
  readonly pem: string;
  readonly looseMode: string | undefined;
}

/** A PEM file (certificate or key), read at load; relative to the config's folder. */
function pemFile(ctx: Ctx, what: string) {
  return text.transform((path, issues): PemFile => {
    const file = resolvePath(ctx, path);
    let pem: string;
    let mode: string | undefined;
    try {
      const stats = statSync(file);
      if (!stats.isFile()) return fail(issues, `${file}: is not a regular file — give the ${what} file`);
      if (stats.size > MAX_PEM_BYTES)
        return fail(issues, `${file}: is ${stats.size} bytes, too big for a ${what} — is it the right file?`);
      pem = readFileSync(file, 'utf8');
      mode = looseModeWarning(file, stats);
    } catch (err) {
      return fail(issues, describeFsError(file, err));
    }
    if (!pem.includes('-----BEGIN '))
      return fail(issues, `${file}: is not PEM (no -----BEGIN line) — give the ${what} in PEM form`);
    return { pem, looseMode: mode };
  });
}

function tlsSchema(ctx: Ctx) {
  return z.strictObject({
    ca: pemFile(ctx, 'CA certificate').optional(),
    cert: pemFile(ctx, 'client certificate').optional(),
    key: pemFile(ctx, 'client key').optional(),
    rejectUnauthorized: flag.optional(),
    servername: text.optional(),
  });
}

export function storageSchema(ctx: Ctx) {
  return z
    .strictObject({
      path: filePath(ctx).prefault('./data/keeper.db'),
      historyRetention: duration(60_000).prefault('90d'),
      encryptionKeyFile: secretFile(ctx, storageKeyRule).optional(),
      url: postgresUrl.optional(),
      passwordFile: secretFile(ctx).optional(),
      schema: schemaName.optional(),
      ssl: tlsSchema(ctx).optional(),
    })
    .superRefine(
      (storage, issues) => {
        if (storage.url === undefined) {
          for (const key of POSTGRES_ONLY) {
            if (storage[key] === undefined) continue;
            issues.addIssue({
              code: 'custom',
              path: [key],
              message: 'is set, but storage.url is not — it configures PostgreSQL: add storage.url, or remove it',
            });
          }
          return;
        }
        if (storage.url.hasPassword && storage.passwordFile !== undefined) {
          issues.addIssue({
            code: 'custom',
            path: ['url'],
            message:
              'carries a password, and storage.passwordFile is set too — remove the password from the URL (the file keeps it out of the config)',
          });
        }
        if (storage.url.tlsParams.length > 0 && storage.ssl !== undefined) {
          issues.addIssue({
            code: 'custom',
            path: ['ssl'],
            message: `is set, and storage.url sets TLS too (${storage.url.tlsParams.join(', ')}), which would replace it — keep TLS in one place: remove those URL parameters`,
          });
        }
        const cert = storage.ssl?.cert !== undefined;
        const key = storage.ssl?.key !== undefined;
        if (cert !== key) {
          issues.addIssue({
            code: 'custom',
            path: ['ssl', cert ? 'key' : 'cert'],
            message: 'missing — a client certificate and its key work only together',
          });
        }
        // Keys that failed hold what was written: the checks above only ask whether they are set.
      },
      { when: (payload) => passed(payload, 'url') },
    );
}

export const haSchema = z.strictObject({
  takeoverAfter: duration(MIN_TAKEOVER_AFTER_MS).prefault(formatDuration(DEFAULT_TAKEOVER_AFTER_MS)),
});

/** `ha:` makes sense only for keepers sharing PostgreSQL. */
export function haNeedsPostgres(storage: { readonly url?: unknown }, ha: unknown, issues: z.core.$RefinementCtx): void {
  if (ha !== undefined && storage.url === undefined) {
    issues.addIssue({
      code: 'custom',
      path: ['ha'],
      message:
        'is set, but storage.url is not — several keepers share one PostgreSQL database: set storage.url, or remove ha',
    });
  }
}

export function toStorageConfig(storage: z.output<ReturnType<typeof storageSchema>>, warn: Warn): StorageConfig {
  if (storage.encryptionKeyFile?.looseMode !== undefined)
    warn('storage.encryptionKeyFile', storage.encryptionKeyFile.looseMode);
  const base = {
    path: storage.path,
    historyRetentionMs: storage.historyRetention,
    encryptionKey: storage.encryptionKeyFile?.value,
  };
  if (storage.url === undefined) return { ...base, postgres: undefined };
  if (storage.passwordFile?.looseMode !== undefined) warn('storage.passwordFile', storage.passwordFile.looseMode);
  let ssl: PostgresTls | undefined;
  if (storage.ssl !== undefined) {
    const { ca, cert, key, rejectUnauthorized, servername } = storage.ssl;
    if (key?.looseMode !== undefined) warn(at('storage.ssl', 'key'), key.looseMode);
    if (rejectUnauthorized === false) {
      warn(
        'storage.ssl.rejectUnauthorized',
        "is false: the server's certificate is not checked, so whoever sits on the path can pose as the database",
      );
    }
    ssl = {
      ...(ca && { ca: ca.pem }),
      ...(cert && { cert: cert.pem }),
      ...(key && { key: key.pem }),
      ...(rejectUnauthorized !== undefined && { rejectUnauthorized }),
      ...(servername !== undefined && { servername }),
    };
  }
  return {
    ...base,
    postgres: {
      connection: { connectionString: storage.url.url, password: storage.passwordFile?.value, ssl },
      schema: storage.schema,
      location: redactUrl(storage.url.url) + (storage.schema === undefined ? '' : ` (schema ${storage.schema})`),
    },
  };
}

export function toHaConfig(ha: z.output<typeof haSchema> | undefined): HaConfig {
  return { takeoverAfterMs: ha?.takeoverAfter ?? DEFAULT_TAKEOVER_AFTER_MS };
}
