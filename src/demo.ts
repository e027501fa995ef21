import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from './clock.js';
import { loadConfig } from './config/index.js';
import { startDaemon, type RunningDaemon } from './keeper/daemon.js';
import { createLogger } from './log.js';
import { startSimulator } from './sim/index.js';
import type { Simulator } from './sim/simulator-api.js';
import { tokenFingerprint } from './token-fingerprint.js';

export const DEMO_CLIENT_ID = '1000000001';
/** A well-known test secret: the demo's "Dhan" is a simulator on loopback, nothing real. */
const DEMO_PIN = '123456';
const DEMO_TOTP_SECRET = 'JBSWY3DPEHPK3PXP';

export interface DemoOptions {
  readonly tokenLifetimeMs: number;
  /** Where to write what happens, a line per event. */
  readonly print: (line: string) => void;
}

export interface RunningDemo {
  readonly dataDir: string;
  readonly configPath: string;
  readonly sinkPath: string;
  stop(): Promise<void>;
}

/**
 * A whole world on this machine: a simulated Dhan issuing short-lived tokens and a keeper with
 * a file sink, in a throw-away folder, so a new user watches generation and renewals happen.
 */
export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const { print } = options;
  const dataDir = mkdtempSync(join(tmpdir(), 'dhan-token-keeper-demo-'));
  const sim: Simulator = await startSimulator({
    accounts: [{ clientId: DEMO_CLIENT_ID, pin: DEMO_PIN, totpSecret: DEMO_TOTP_SECRET, name: 'DEMO TRADER' }],
    clock: systemClock,
    tokenLifetimeMs: options.tokenLifetimeMs,
    generateIntervalMs: 10_000,
  });
  const configPath = join(dataDir, 'config.yaml');
  const sinkPath = join(dataDir, 'tokens', 'demo.json');
  writeFileSync(
    configPath,
    [
      '# Written by `dhan-token-keeper demo`: a keeper against a simulated Dhan on loopback.',
      'storage:',
      '  path: ./keeper.db',
      'dhan:',
      `  authBaseUrl: ${sim.baseUrl}`,
      `  apiBaseUrl: ${sim.baseUrl}`,
      'server:',
      '  listen: 127.0.0.1:0',
      'renewal:',
      '  probeInterval: 30s',
      'log:',
      '  level: warn',
      'accounts:',
      `  - clientId: "${DEMO_CLIENT_ID}"`,
      '    name: demo',
      '    mode: auto',
      `    pin: "${DEMO_PIN}"`,
      `    totpSecret: ${DEMO_TOTP_SECRET}`,
      '    sinks:',
      '      - type: file',
      '        path: ./tokens/demo.json',
      '        format: json',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const { config } = loadConfig(configPath);
  print(`demo: simulated Dhan at ${sim.baseUrl}, tokens live ${Math.round(options.tokenLifetimeMs / 1000)} s`);
  print(`demo: data folder ${dataDir}`);

  let daemon: RunningDaemon;
  try {
    daemon = await startDaemon(config, { log: createLogger({ level: 'warn', destination: process.stderr }) });
  } catch (err) {
    await sim.close();
    throw err;
  }
  const describe = (): void => {
    const status = daemon.keeper.statuses()[0];
    const token = daemon.keeper.liveToken(DEMO_CLIENT_ID);
    if (!token || !status) return;
    const verb = token.source === 'renew' ? 'renewed' : token.source === 'totp' ? 'generated' : 'imported';
    const left = Math.round((token.expiresAt - systemClock.now()) / 1000);
    print(
      `${new Date().toISOString()}  ${verb} token ${tokenFingerprint(token.accessToken)} for ${DEMO_CLIENT_ID}: valid ${left} s, written to ${sinkPath}`,
    );
  };
  const unsubscribe = daemon.keeper.onTokenChange(() => describe());
  if (daemon.keeper.liveToken(DEMO_CLIENT_ID)) describe();
  print(`demo: status page at ${daemon.url}/ (open it in a browser)`);
  print(`demo: token API and metrics at ${daemon.url} (try ${daemon.url}/metrics)`);
  print(`demo: in another terminal: ${cliInvocation()} status --config ${configPath}`);
  print('demo: press Ctrl-C to stop');

  return {
    dataDir,
    configPath,
    sinkPath,
    stop: async () => {
      unsubscribe();
      await daemon.stop();
      await sim.close();
    },
  };
}

/**
 * How to run this very CLI from the user's shell: after the Quick start (npm install, npm run
 * demo) there is no `dhan-token-keeper` on PATH, so the bare name would be "command not found".
 */
function cliInvocation(): string {
  const cli = fileURLToPath(new URL('./cli.js', import.meta.url));
  const rel = relative(process.cwd(), cli);
  return `node ${rel.startsWith('..') || rel === '' ? cli : rel}`;
}
