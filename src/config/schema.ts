import { accounts } from './accounts.js';
import type { Ctx } from './context.js';
import { formatDuration } from './duration.js';
import { UNRESOLVED } from './env.js';
import { avoidWindows } from './avoid.js';
import { durationOrShare, duration, integer, isAbsent, isObject, kindOf, oneOf, section, string } from './fields.js';
import { resolvePath } from './files.js';
import { server, warnUnknownClients } from './server.js';
import type { Config, DhanConfig, DurationOrShare, LogConfig, LogLevel, RenewalConfig, StorageConfig } from './types.js';
import { baseUrl, cronExpression, timezone } from './values.js';

/*
 * Every default lives here, in one place (STYLE.md §10); config.example.yaml repeats them
 * for people, and the test that loads it keeps the two honest.
 */
const TOP_KEYS = ['storage', 'dhan', 'server', 'renewal', 'log', 'accounts'] as const;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const satisfies readonly LogLevel[];
const DHAN_GENERATE_INTERVAL_MS = 2 * 60_000;
const DHAN_TOKEN_LIFETIME_MS = 24 * 3_600_000;

/** Builds the typed config from the interpolated YAML tree; problems go to `ctx`. */
export function buildConfig(ctx: Ctx, tree: unknown, sourcePath: string): Config {
  if (tree !== UNRESOLVED && !isAbsent(tree) && !isObject(tree)) {
    ctx.problems.error('', `${sourcePath}: must be a mapping of sections (storage, dhan, server, renewal, log, accounts), not ${kindOf(tree)}`);
    tree = {};
  }
  const root = section(ctx, '', tree, TOP_KEYS);
  // In file order, so that problems are listed the way the user reads the file.
  const storageConfig = storage(ctx, root['storage']);
  const dhanConfig = dhan(ctx, root['dhan']);
  const serverConfig = server(ctx, root['server']);
  const renewalConfig = renewal(ctx, root['renewal'], dhanConfig.timezone);
  const logConfig = log(ctx, root['log']);
  const accountList = accounts(ctx, root['accounts']);
  warnUnknownClients(ctx, serverConfig, accountList);
  return {
    sourcePath,
    storage: storageConfig,
    dhan: dhanConfig,
    server: serverConfig,
    renewal: renewalConfig,
    log: logConfig,
    accounts: accountList,
  };
}

function storage(ctx: Ctx, value: unknown): StorageConfig {
  const obj = section(ctx, 'storage', value, ['path', 'historyRetention']);
  const path = isAbsent(obj['path']) ? './data/keeper.db' : string(ctx, 'storage.path', obj['path']);
  const retention = or(obj['historyRetention'], '90d', (v) => duration(ctx, 'storage.historyRetention', v, { minMs: 60_000 }));
  return { path: resolvePath(ctx, path ?? './data/keeper.db'), historyRetentionMs: retention };
}

function dhan(ctx: Ctx, value: unknown): DhanConfig {
  const obj = section(ctx, 'dhan', value, [
    'authBaseUrl',
    'apiBaseUrl',
    'timezone',
    'requestTimeout',
    'minGenerateInterval',
    'maxConcurrency',
  ]);
  const minGenerateIntervalMs = or(obj['minGenerateInterval'], '2m', (v) =>
    duration(ctx, 'dhan.minGenerateInterval', v, { minMs: 0 }),
  );
  if (minGenerateIntervalMs < DHAN_GENERATE_INTERVAL_MS) {
    ctx.problems.warn(
      'dhan.minGenerateInterval',
      `${formatDuration(minGenerateIntervalMs)} is below Dhan's limit of one generation per 2m; fine against the simulator only`,
    );
  }
  return {
    authBaseUrl: or(obj['authBaseUrl'], 'https://auth.dhan.co', (v) => baseUrl(ctx, 'dhan.authBaseUrl', v)),
    apiBaseUrl: or(obj['apiBaseUrl'], 'https://api.dhan.co', (v) => baseUrl(ctx, 'dhan.apiBaseUrl', v)),
    timezone: or(obj['timezone'], 'Asia/Kolkata', (v) => timezone(ctx, 'dhan.timezone', v)),
    requestTimeoutMs: or(obj['requestTimeout'], '10s', (v) => duration(ctx, 'dhan.requestTimeout', v, { minMs: 100 })),
    minGenerateIntervalMs,
    maxConcurrency: or(obj['maxConcurrency'], 4, (v) => integer(ctx, 'dhan.maxConcurrency', v, 1, 64)),
  };
}

function renewal(ctx: Ctx, value: unknown, defaultZone: string): RenewalConfig {
  const obj = section(ctx, 'renewal', value, ['renewBefore', 'jitter', 'sweep', 'probeInterval', 'avoid']);
  const renewBefore = or<DurationOrShare>(obj['renewBefore'], '33%', (v) => durationOrShare(ctx, 'renewal.renewBefore', v));
  const jitter = or<DurationOrShare>(obj['jitter'], '5%', (v) => durationOrShare(ctx, 'renewal.jitter', v));
  if (renewBefore.kind === 'duration' && renewBefore.ms === 0) {
    ctx.problems.error('renewal.renewBefore', 'is 0, so tokens would be renewed only as they die — use e.g. 33% or 8h');
  }
  // Renewing with this much or more of the lifetime left means renewing right after every swap.
  if (renewBefore.kind === 'share' && jitter.kind === 'share' && renewBefore.ratio + jitter.ratio >= 1) {
    ctx.problems.error('renewal.jitter', 'plus renewBefore reaches 100% of the lifetime, so every new token would be renewed at once — lower one of them');
  }
  if (renewBefore.kind === 'duration' && jitter.kind === 'duration' && renewBefore.ms + jitter.ms >= DHAN_TOKEN_LIFETIME_MS) {
    ctx.problems.warn('renewal.renewBefore', `plus jitter is ${formatDuration(renewBefore.ms + jitter.ms)}, not less than a Dhan token's 24h lifetime — every new token would be renewed at once`);
  }
  return {
    renewBefore,
    jitter,
    sweep: or(obj['sweep'], '* * * * *', (v) => cronExpression(ctx, 'renewal.sweep', v)),
    probeIntervalMs: or(obj['probeInterval'], '15m', (v) =>
      duration(ctx, 'renewal.probeInterval', v, { minMs: 10_000, offWords: ['0', 'off'] }),
    ),
    avoid: avoidWindows(ctx, 'renewal.avoid', obj['avoid'], defaultZone),
  };
}

function log(ctx: Ctx, value: unknown): LogConfig {
  const obj = section(ctx, 'log', value, ['level']);
  return { level: or(obj['level'], 'info', (v) => oneOf(ctx, 'log.level', v, LOG_LEVELS)) };
}

/**
 * The parsed value, the default when the key is absent, or a placeholder (the default) when
 * it is invalid: the problem is recorded and loadConfig throws before the placeholder is seen.
 * String defaults go through the same parser, so each default is written the way a user would.
 */
function or<T>(value: unknown, fallback: T | string, parse: (value: unknown) => T | undefined): T {
  if (isAbsent(value)) return typeof fallback === 'string' ? parseDefault(fallback, parse) : fallback;
  const parsed = parse(value);
  return parsed ?? (typeof fallback === 'string' ? parseDefault(fallback, parse) : fallback);
}

function parseDefault<T>(fallback: string, parse: (value: unknown) => T | undefined): T {
  const parsed = parse(fallback);
  if (parsed === undefined) throw new Error(`bug: default ${fallback} does not parse`);
  return parsed;
}
