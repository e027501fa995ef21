import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { KeeperError } from '../errors.js';

/*
 * Tokens at rest, sealed with AES-256-GCM. A shared database and its backups are read by more
 * people than a 0600 file, and a Dhan token is as good as the account's password for a day.
 *
 * A sealed value is text, so it fits the same column as a plaintext one:
 *
 *   dtk-sealed:v1:<key id>:<base64url(iv ‖ ciphertext ‖ tag)>
 *
 * The prefix tells a sealed row from a plaintext one written before a key was configured
 * (a JWT starts with "eyJ", a request payload with "{"). The key id (the first 8 hex digits of
 * SHA-256 over the key) names the key without revealing it, so that a wrong key is reported as
 * such rather than as corrupt data. The additional authenticated data binds the value to its
 * row (table, id, client id): a sealed token copied into another row, or another account's
 * row, fails to open instead of being served as that row's token.
 */

const PREFIX = 'dtk-sealed:v1:';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export function isSealed(value: string): boolean {
  return value.startsWith(PREFIX);
}

/** The key id a sealed value names, or undefined for plaintext. */
export function sealedKeyId(value: string): string | undefined {
  if (!isSealed(value)) return undefined;
  return value.slice(PREFIX.length).split(':', 1)[0];
}

/** What a sealed value is bound to. Changing these strings breaks every sealed row in the field. */
export function tokenBinding(id: number, clientId: string): string {
  return `tokens:${id}:${clientId}`;
}

export function requestBinding(id: number, clientId: string): string {
  return `requests:${id}:${clientId}`;
}

/** A value sealed when the key was first configured, to tell a wrong key from a right one. */
export const KEY_CHECK_BINDING = 'meta:key-check';
const KEY_CHECK_TEXT = 'dhan-token-keeper key check';

/**
 * Parses a key file's trimmed contents: 32 bytes as 64 hex digits or as base64 (44 characters
 * with padding). The message never repeats the contents.
 */
export function parseKey(text: string): Buffer | { readonly problem: string } {
  const trimmed = text.trim();
  let bytes: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) bytes = Buffer.from(trimmed, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) bytes = Buffer.from(trimmed, 'base64');
  if (bytes === undefined || bytes.length !== KEY_BYTES) {
    return {
      problem: `must hold 32 random bytes as 64 hex digits or 44 base64 characters (${trimmed.length} characters found) — create one with \`openssl rand -hex 32\``,
    };
  }
  return bytes;
}

export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

export class TokenSeal {
  readonly keyId: string;
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== KEY_BYTES)
      throw new KeeperError('seal-key', `an encryption key has 32 bytes, got ${key.length}`);
    this.#key = Buffer.from(key);
    this.keyId = keyIdOf(key);
  }

  seal(plain: string, binding: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(binding, 'utf8'));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${PREFIX}${this.keyId}:${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')}`;
  }

  /**
   * The plaintext of a sealed value; a plaintext value passes through unchanged (rows from
   * before the key was configured, until the store seals them). Throws a KeeperError that
   * names the binding, never the value, when the key or the row is wrong.
   */
  open(value: string, binding: string): string {
    if (!isSealed(value)) return value;
    const [kid, data] = value.slice(PREFIX.length).split(':', 2);
    if (kid !== this.keyId) throw wrongKey(binding, kid);
    const bytes = Buffer.from(data ?? '', 'base64url');
    if (bytes.length < IV_BYTES + TAG_BYTES) throw corrupt(binding);
    const decipher = createDecipheriv('aes-256-gcm', this.#key, bytes.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(binding, 'utf8'));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    try {
      return Buffer.concat([
        decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw corrupt(binding);
    }
  }

  keyCheck(): string {
    return this.seal(KEY_CHECK_TEXT, KEY_CHECK_BINDING);
  }

  /** True when `sealed` is a key check made with this very key. */
  verifies(sealed: string): boolean {
    try {
      const plain = Buffer.from(this.open(sealed, KEY_CHECK_BINDING));
      const expected = Buffer.from(KEY_CHECK_TEXT);
      return plain.length === expected.length && timingSafeEqual(plain, expected);
    } catch {
      return false;
    }
  }
}

function wrongKey(binding: string, kid: string | undefined): KeeperError {
  return new KeeperError('store-key-wrong', `${binding} is sealed with another encryption key (key id ${kid ?? '?'})`, {
    hint: 'point storage.encryptionKeyFile at the key the database was sealed with',
  });
}

function corrupt(binding: string): KeeperError {
  return new KeeperError(
    'store-sealed-corrupt',
    `${binding} does not open with this encryption key: the value was altered or copied from another row`,
    {
      hint: 'restore the row from a backup, or reset the account and let the keeper generate a new token',
    },
  );
}
