import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, bench, describe } from 'vitest';
import { silentLogger } from '../src/log.js';
import { startServer, type RunningServer, type TokenProvider } from '../src/server/index.js';
import type { StoredToken } from '../src/tokens.js';

/**
 * GET /v1/tokens/{id} with auth, against the baseline of a bare node:http server answering the
 * same JSON, both on loopback in the same run: the ratio is what our routing, constant-time key
 * check and serialisation cost per request.
 */
const token: StoredToken = {
  id: 1,
  clientId: '1000000001',
  accessToken: `eyJ${'a'.repeat(200)}.eyJ${'b'.repeat(200)}.${'c'.repeat(86)}`,
  source: 'renew',
  obtainedAt: Date.now(),
  expiresAt: Date.now() + 86_400_000,
  expiryTime: '2026-01-01T00:00:00.000',
  supersededAt: null,
};
const provider: TokenProvider = {
  liveToken: () => token,
  onTokenChange: () => () => undefined,
  isKnownClient: (id) => id === token.clientId,
  statuses: () => [],
  readiness: () => ({ ready: true, notReady: [] }),
};
const KEY = 'bench-key-0123456789abcdef';
let keeperServer: RunningServer;
let baseline: Server;
let baselineUrl = '';

beforeAll(async () => {
  keeperServer = await startServer({
    config: { listen: { host: '127.0.0.1', port: 0 }, apiKeys: [{ name: 'bench', key: KEY, clients: '*' }] },
    timezone: 'Asia/Kolkata',
    provider,
    log: silentLogger(),
  });
  const body = JSON.stringify({ ...token, fingerprint: 'abcdef012345' });
  baseline = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => baseline.listen(0, '127.0.0.1', resolve));
  baselineUrl = `http://127.0.0.1:${(baseline.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  await keeperServer.close();
  baseline.closeAllConnections();
  await new Promise((resolve) => baseline.close(resolve));
});

describe('token API', () => {
  bench('baseline: bare node:http JSON', async () => {
    const res = await fetch(baselineUrl);
    await res.text();
  });

  bench('GET /v1/tokens/{clientId} with a Bearer key', async () => {
    const res = await fetch(`${keeperServer.url}/v1/tokens/1000000001`, { headers: { authorization: `Bearer ${KEY}` } });
    if (res.status !== 200) throw new Error(`unexpected ${res.status}`);
    await res.text();
  });
});
