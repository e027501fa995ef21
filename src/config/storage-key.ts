import { parseKey } from '../store/token-seal.js';
import type { SecretRule } from './secrets.js';

/** `storage.encryptionKeyFile`: 32 bytes as hex or base64, kept in the config as hex. */
export const storageKeyRule: SecretRule = (value) => {
  const key = parseKey(value);
  return Buffer.isBuffer(key) ? key.toString('hex') : key;
};

/** The key for `Store.open`, from a validated config. */
export function storageKey(storage: { readonly encryptionKey: string | undefined }): Buffer | undefined {
  return storage.encryptionKey === undefined ? undefined : Buffer.from(storage.encryptionKey, 'hex');
}
