import type { ClientConfig } from 'pg';

/*
 * What the keeper knows about reaching PostgreSQL, shared by the config (which validates it) and
 * the store (which connects): no pg import here, so loading a config does not load the driver.
 */

/** A schema name as it can go into the connection's search_path option, where quoting does not carry. */
export const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export const SCHEMA_NAME_RULE = 'letters, digits and _ (not starting with a digit), at most 63 characters';

/** URL query parameters that set TLS, which node-postgres lets override an `ssl` object given beside the URL. */
export const URL_TLS_PARAMS = ['ssl', 'sslmode', 'sslcert', 'sslkey', 'sslrootcert', 'sslnegotiation'] as const;

/** TLS to the server, as node-postgres (and Node's tls.connect) takes it; ca/cert/key are PEM text. */
export interface PostgresTls {
  readonly ca?: string;
  readonly cert?: string;
  /** Secret: the client certificate's private key. */
  readonly key?: string;
  readonly rejectUnauthorized?: boolean;
  readonly servername?: string;
}

/** How to reach the server, as the config gives it. */
export interface PostgresConnection {
  /** postgres:// or postgresql://; may itself carry a password (when no password file is given). */
  readonly connectionString: string;
  /** Secret, from storage.passwordFile. */
  readonly password: string | undefined;
  readonly ssl: PostgresTls | undefined;
}

/**
 * A URL without its password, for messages: one in the user part shows as ***, a `password`
 * parameter (where pgClientConfig puts the password file's) is left out.
 */
export function redactUrl(url: string | undefined): string {
  if (url === undefined) return 'postgresql';
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    u.searchParams.delete('password');
    return u.toString();
  } catch {
    return 'postgresql (unparsable URL)';
  }
}

/**
 * The node-postgres settings for a connection. node-postgres lets every field of a
 * connectionString override the fields beside it, and a URL without a password yields an
 * empty one: a `password` field next to the URL is silently dropped (the connection then
 * falls back to PGPASSWORD or ~/.pgpass). So the password goes into the URL, as its `password`
 * parameter (which works without a host, for a Unix socket too); redactUrl hides it.
 */
export function pgClientConfig(c: PostgresConnection): ClientConfig & { readonly connectionString: string } {
  let connectionString = c.connectionString;
  if (c.password !== undefined) {
    const u = new URL(c.connectionString);
    u.searchParams.set('password', c.password);
    connectionString = u.toString();
  }
  return c.ssl === undefined ? { connectionString } : { connectionString, ssl: { ...c.ssl } };
}
