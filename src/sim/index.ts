import type { AddressInfo } from 'node:net';
import { DhanState } from './dhan-state.js';
import { FaultBook } from './faults.js';
import { createSimServer } from './server.js';
import type { Simulator, SimulatorOptions } from './simulator-api.js';

export { loadSimAccounts } from './accounts.js';
export type * from './simulator-api.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const TWO_MINUTES_MS = 2 * 60 * 1000;

/** Starts a Dhan simulator on loopback (by default an ephemeral port); use `baseUrl` for both Dhan hosts. */
export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const tokenLifetimeMs = options.tokenLifetimeMs ?? DAY_MS;
  const generateIntervalMs = options.generateIntervalMs ?? TWO_MINUTES_MS;
  if (!(Number.isFinite(tokenLifetimeMs) && tokenLifetimeMs > 0))
    throw new Error('simulator: tokenLifetimeMs must be positive');
  if (!(Number.isFinite(generateIntervalMs) && generateIntervalMs >= 0)) {
    throw new Error('simulator: generateIntervalMs must not be negative');
  }
  const state = new DhanState({
    accounts: options.accounts,
    clock: options.clock,
    tokenLifetimeMs,
    generateIntervalMs,
  });
  const faults = new FaultBook();
  const { server, cancelDelays } = createSimServer(state, faults, options.clock);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closing: Promise<void> | undefined;
  return {
    baseUrl: `http://${host}:${address.port}`,
    addFault: (fault) => faults.add(fault),
    clearFaults: () => faults.clear(),
    setAccountOptions: (clientId, accountOptions) => state.setAccountOptions(clientId, accountOptions),
    killTokens: (clientId) => state.killTokens(clientId),
    issueWebToken: (clientId) => state.issueWebToken(clientId),
    registerApp: (clientId, app) => state.registerApp(clientId, app),
    approveConsent: (consentAppId) => {
      const approval = state.approveConsent(consentAppId);
      if ('problem' in approval) throw new Error(`simulator: ${approval.problem}`);
      return approval;
    },
    isLive: (accessToken) => state.isLive(accessToken),
    stats: () => state.stats(),
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        cancelDelays();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
