import type { Command } from 'commander';
import { KeeperError, errorMessage } from '../errors.js';
import { loadConfigWithoutSecrets, withConfigOption, type ConfigOption } from './command-config.js';

/** A wildcard bind is reached on loopback; an IPv6 literal needs brackets in a URL. */
function reachableHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

export function registerHealthcheck(program: Command): void {
  withConfigOption(
    program
      .command('healthcheck')
      .description(
        "exit 0 when the running keeper's /healthz answers (for Docker HEALTHCHECK; slim images have no curl)",
      )
      .option('--ready', 'check /readyz instead: every account has a live token'),
  ).action(async (opts: ConfigOption & { ready?: boolean }) => {
    const config = await loadConfigWithoutSecrets(opts, 'skip');
    const { host, port } = config.server.listen;
    const url = `http://${reachableHost(host)}:${port}${opts.ready ? '/readyz' : '/healthz'}`;
    let status: number;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      status = res.status;
      await res.body?.cancel();
    } catch (err) {
      throw new KeeperError('unhealthy', `no answer from ${url}: ${errorMessage(err)}`);
    }
    if (status !== 200) throw new KeeperError('unhealthy', `${url} answered ${status}`);
    process.stdout.write(`ok: ${url} answered 200\n`);
  });
}
