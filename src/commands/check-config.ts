import type { Command } from 'commander';
import { EXIT_OK } from './exit-codes.js';
import { loadCommandConfig, withConfigOption, type ConfigOption } from './command-config.js';
import { humanDuration } from '../time-format.js';
import type { Config, DurationOrShare } from '../config/config.js';
import { storageKey } from '../config/storage-key.js';
import { describeStorage } from '../config/storage-summary.js';
import { keyIdOf } from '../store/token-seal.js';
import { probeIntervalFor } from '../keeper/probe-interval.js';

function describeDurationOrShare(value: DurationOrShare): string {
  return value.kind === 'share' ? `${Math.round(value.ratio * 1000) / 10}% of the lifetime` : humanDuration(value.ms);
}

function sealing(config: Config): string {
  const key = storageKey(config.storage);
  return key === undefined ? 'tokens stored as plaintext' : `tokens sealed at rest (key id ${keyIdOf(key)})`;
}

function describeProbes(config: Config): string {
  const { probeIntervalMs, maxProbeRate } = config.renewal;
  if (probeIntervalMs <= 0) return 'off';
  const every = `every ${humanDuration(probeIntervalMs)}`;
  if (maxProbeRate === undefined) return `${every}, no limit on the rate`;
  const stretched = probeIntervalFor(config.accounts.length, probeIntervalMs, maxProbeRate);
  const limit = `at most ${maxProbeRate}/s in all`;
  if (stretched <= probeIntervalMs) return `${every}, ${limit}`;
  const count = config.accounts.length;
  return `${every}, ${limit}: every ${humanDuration(stretched)} for ${count} ${count === 1 ? 'account' : 'accounts'}`;
}

/** A summary a person can eyeball before starting the daemon: every decision, no secret. */
export function summarise(config: Config): string {
  const lines = [
    `config: ${config.sourcePath} is valid`,
    `storage: ${describeStorage(config)}, ${sealing(config)}`,
    `dhan: auth ${config.dhan.authBaseUrl}, api ${config.dhan.apiBaseUrl}, expiry zone ${config.dhan.timezone}`,
    `server: ${config.server.listen.host}:${config.server.listen.port}, ${config.server.apiKeys.length} API key(s): ${
      config.server.apiKeys.map((k) => k.name).join(', ') || 'none'
    }`,
    `renewal: act ${describeDurationOrShare(config.renewal.renewBefore)} before expiry, jitter ${describeDurationOrShare(
      config.renewal.jitter,
    )}, sweep "${config.renewal.sweep}", probe ${describeProbes(config)}, ${config.renewal.avoid.length} avoid window(s)`,
    `consent: ask for a login ${humanDuration(config.consent.askBeforeMs)} before expiry${config.consent.redirectUrl ? `, redirect URL ${config.consent.redirectUrl}` : ''}`,
    `notify: ${config.notify.channels.map((c) => `${c.name} (${c.type})`).join(', ') || 'no channels'}, repeat every ${humanDuration(config.notify.repeatEveryMs)}${
      config.notify.dailySummary ? `, summary "${config.notify.dailySummary}"` : ''
    }`,
    `accounts: ${config.accounts.length}`,
  ];
  for (const a of config.accounts) {
    const totp = a.pin !== undefined && a.totpSecret !== undefined ? 'PIN and TOTP secret set' : 'no TOTP credentials';
    const creds = a.app ? `${totp}, API key and secret set` : totp;
    const sinks = a.sinks.map((s) =>
      s.type === 'file'
        ? `file ${s.path} (${s.format})`
        : s.type === 'exec'
          ? `exec ${s.command[0] ?? ''}`
          : `webhook ${s.url}`,
    );
    lines.push(`  - ${a.clientId} (${a.name}): mode ${a.mode}, ${creds}, sinks: ${sinks.join('; ') || 'none'}`);
  }
  return `${lines.join('\n')}\n`;
}

export function registerCheckConfig(program: Command): void {
  withConfigOption(
    program
      .command('check-config')
      .description('validate the configuration, report every problem at once, print a summary without secrets'),
  ).action(async (opts: ConfigOption) => {
    const config = await loadCommandConfig(opts);
    process.stdout.write(summarise(config));
    process.exitCode = EXIT_OK;
  });
}
