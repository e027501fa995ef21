type Tree = Record<string, unknown>;

const isTree = (value: unknown): value is Tree => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A value made only of `${NAME}` references holds no secret itself: the environment does. */
const ONLY_REFERENCES = /^\s*(\$\{[A-Za-z_][A-Za-z0-9_]*\}\s*)+$/;

/**
 * Where the raw config holds a secret in its own text (not a `…File` path, not `${ENV}`).
 * Only then does the config file itself need to be private: the documented systemd layout
 * keeps it 0640 for the service's group, holding nothing but references.
 */
export function inlineSecretKeys(raw: unknown): string[] {
  const found: string[] = [];
  const check = (node: unknown, path: string, key: string): void => {
    if (!isTree(node)) return;
    const value = node[key];
    if (value === undefined || value === null) return;
    if (typeof value === 'string' && (value.trim() === '' || ONLY_REFERENCES.test(value))) return;
    found.push(`${path}.${key}`);
  };
  if (!isTree(raw)) return found;
  const storage = raw['storage'];
  if (isTree(storage) && typeof storage['url'] === 'string' && urlHoldsPassword(storage['url']))
    found.push('storage.url (its password)');
  const server = raw['server'];
  if (isTree(server) && Array.isArray(server['apiKeys'])) {
    server['apiKeys'].forEach((apiKey, i) => check(apiKey, `server.apiKeys[${i}]`, 'key'));
  }
  if (Array.isArray(raw['accounts'])) {
    raw['accounts'].forEach((account, i) => {
      check(account, `accounts[${i}]`, 'pin');
      check(account, `accounts[${i}]`, 'totpSecret');
      if (isTree(account) && Array.isArray(account['sinks'])) {
        account['sinks'].forEach((sink, j) => check(sink, `accounts[${i}].sinks[${j}]`, 'secret'));
      }
    });
  }
  return found;
}

/** A URL written with a password in it (a `${NAME}` password is the environment's, not the file's). */
function urlHoldsPassword(url: string): boolean {
  const m = /^[a-z]+:\/\/[^/@?#]*:([^/@?#]*)@/i.exec(url.trim());
  const password = m?.[1] ?? /[?&]password=([^&#]*)/.exec(url)?.[1];
  return password !== undefined && password !== '' && !ONLY_REFERENCES.test(password);
}
