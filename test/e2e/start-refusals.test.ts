import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Children, tempDir, writeSecretFile } from '../helpers/cli.js';

/*
 * Issue 14, item 10: whatever run refuses at start is a config error that check-config reports
 * too, and both exit 2 (RestartPreventExitStatus=2 then keeps systemd from restarting it forever).
 */

const children = new Children();
afterEach(() => children.killAll());

describe('refusals at start', () => {
  it('a non-loopback listen without API keys: check-config and run both exit 2 naming server.listen', async () => {
    const dir = tempDir();
    const config = writeSecretFile(
      join(dir, 'config.yaml'),
      `storage:\n  path: ./keeper.db\nserver:\n  listen: 0.0.0.0:0\naccounts:\n  - clientId: "1000000901"\n    mode: renew-only\n`,
    );
    for (const command of ['check-config', 'run']) {
      const res = await children.run([command, '--config', config], { timeoutMs: 20_000 });
      expect({ command, code: res.code }).toEqual({ command, code: 2 });
      expect(res.stderr).toMatch(
        /server\.listen: 0\.0\.0\.0 is reachable from other machines and no API key is configured/,
      );
    }
  });
});
