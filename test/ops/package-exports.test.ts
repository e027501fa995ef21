import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/repo-root.js';

/** What a bot gets from `import … from 'dhan-token-keeper/client'`: resolved through package.json's exports, built code. */
it('the package exports resolve to built code: the bot client and the library surface', () => {
  const script = `
    const client = await import('dhan-token-keeper/client');
    const root = await import('dhan-token-keeper');
    console.log(JSON.stringify({ client: typeof client.TokenClient, error: typeof client.TokenClientError, sim: typeof root.startSimulator, version: root.VERSION }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO_ROOT, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual({
    client: 'function',
    error: 'function',
    sim: 'function',
    version: expect.stringMatching(/^\d+\.\d+\.\d+/),
  });
});
