import { z } from 'zod';
import { accountsSchema, toAccountConfig } from './accounts.js';
import { avoidWindow, toAvoidWindow } from './avoid.js';
import { cronEntry, refreshAtInsideAvoid, toSchedules } from './cron-schedules.js';
import { at, type Ctx, type Warn } from './problems.js';
import { formatDuration } from './duration.js';
import { consentSchema } from './consent.js';
import { kindOf, passed } from './issues.js';
import { notifySchema, toNotifyConfig } from './notify.js';
import { haNeedsPostgres, haSchema, storageSchema, toHaConfig, toStorageConfig } from './storage.js';
import { serverSchema, toServerConfig, warnUnknownClients } from './server.js';
import type { Config, DurationOrShare, LogLevel } from './config.js';
import {
  abbreviationWarning,
  baseUrl,
  callsPerSecond,
  duration,
  durationOrShare,
  keeperCronExpression,
  timezone,
  wholeNumber,
} from './values.js';

/*
 * The config file's shape, and every default, in one place. Defaults are written
 * the way a user would and parsed like one; config.example.yaml repeats them for people, and the
 * test that loads it keeps the two honest.
 */
const LOG_LEVELS = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
] as const satisfies readonly LogLevel[];
const DHAN_GENERATE_INTERVAL_MS = 2 * 60_000;
/** Field clients wait 125–130 s from an attempt; less than 5 s has been refused by Dhan's own clock. */
const LEAST_GENERATE_MARGIN_MS = 5_000;
const DHAN_TOKEN_LIFETIME_MS = 24 * 3_600_000;

export function configSchema(ctx: Ctx) {
  return z
    .strictObject(
      {
        storage: storageSchema(ctx).prefault({}),
        ha: haSchema.optional(),
        dhan: z
          .strictObject({
            authBaseUrl: baseUrl.prefault('https://auth.dhan.co'),
            apiBaseUrl: baseUrl.prefault('https://api.dhan.co'),
            timezone: timezone.prefault('Asia/Kolkata'),
            requestTimeout: duration(100).prefault('10s'),
            minGenerateInterval: duration(0).prefault('2m'),
            generateMargin: duration(0).prefault('10s'),
            maxConcurrency: wholeNumber(1, 64).prefault(4),
          })
          .prefault({}),
        server: serverSchema(ctx).prefault({}),
        renewal: z
          .strictObject({
            renewBefore: durationOrShare.prefault('33%'),
            jitter: durationOrShare.prefault('5%'),
            sweep: keeperCronExpression.prefault('* * * * *'),
            probeInterval: duration(10_000, ['0', 'off']).prefault('15m'),
            maxProbeRate: callsPerSecond(['off']).prefault('3'),
            avoid: z.array(avoidWindow).prefault([]),
            refreshAt: z.array(cronEntry).prefault([]),
            refreshAtSkipIfNewerThan: duration(0).prefault('1h'),
            probeAt: z.array(cronEntry).prefault([]),
          })
          .superRefine(renewalLimits, {
            when: (payload) => passed(payload, 'renewBefore') && passed(payload, 'jitter'),
          })
          .prefault({}),
        log: z.strictObject({ level: z.enum(LOG_LEVELS).default('info') }).prefault({}),
        consent: consentSchema.prefault({}),
        notify: notifySchema(ctx).prefault({}),
        accounts: accountsSchema(ctx),
      },
      {
        error: (issue) =>
          issue.code === 'invalid_type'
            ? `${ctx.sourcePath}: must be a mapping of sections (storage, ha, dhan, server, renewal, log, consent, notify, accounts), not ${kindOf(issue.input)}`
            : undefined,
      },
    )
    .superRefine(
      ({ renewal, dhan }, issues) => {
        const inside = refreshAtInsideAvoid(renewal.refreshAt, renewal.avoid, dhan.timezone, Date.now());
        if (inside)
          issues.addIssue({ code: 'custom', path: ['renewal', 'refreshAt', inside.index], message: inside.message });
      },
      { when: (payload) => passed(payload, 'renewal') && passed(payload, 'dhan') },
    )
    .superRefine(({ storage, ha }, issues) => haNeedsPostgres(storage, ha, issues), {
      when: (payload) => passed(payload, 'storage') && passed(payload, 'ha'),
    });
}

/** Between them, renewBefore and jitter must leave a new token some life before it is renewed again. */
function renewalLimits(
  { renewBefore, jitter }: { renewBefore: DurationOrShare; jitter: DurationOrShare },
  issues: z.core.$RefinementCtx,
): void {
  if (renewBefore.kind === 'duration' && renewBefore.ms === 0) {
    issues.addIssue({
      code: 'custom',
      path: ['renewBefore'],
      message: 'is 0, so tokens would be renewed only as they die — use e.g. 33% or 8h',
    });
  }
  // Renewing with this much or more of the lifetime left means renewing right after every swap.
  if (renewBefore.kind === 'share' && jitter.kind === 'share' && renewBefore.ratio + jitter.ratio >= 1) {
    issues.addIssue({
      code: 'custom',
      path: ['jitter'],
      message:
        'plus renewBefore reaches 100% of the lifetime, so every new token would be renewed at once — lower one of them',
    });
  }
}

/** The typed config from a valid file, and what is risky in it: unlike the schema, this knows each key path. */
export function toConfig(file: z.output<ReturnType<typeof configSchema>>, sourcePath: string, warn: Warn): Config {
  const { storage, dhan, renewal } = file;
  if (dhan.minGenerateInterval < DHAN_GENERATE_INTERVAL_MS) {
    warn(
      'dhan.minGenerateInterval',
      `${formatDuration(dhan.minGenerateInterval)} is below Dhan's limit of one generation per 2m; fine against the simulator only`,
    );
  }
  if (dhan.generateMargin < LEAST_GENERATE_MARGIN_MS) {
    warn(
      'dhan.generateMargin',
      `${formatDuration(dhan.generateMargin)} is under 5s: Dhan counts its 2-minute window from when it processed the last attempt, and a generation sent right at its end has been refused; fine against the simulator only`,
    );
  }
  const zoneWarning = abbreviationWarning(dhan.timezone);
  if (zoneWarning !== undefined) warn('dhan.timezone', zoneWarning);
  const server = toServerConfig(file.server, warn);
  const storageConfig = toStorageConfig(storage, warn);
  const { renewBefore, jitter } = renewal;
  if (
    renewBefore.kind === 'duration' &&
    jitter.kind === 'duration' &&
    renewBefore.ms + jitter.ms >= DHAN_TOKEN_LIFETIME_MS
  ) {
    warn(
      'renewal.renewBefore',
      `plus jitter is ${formatDuration(renewBefore.ms + jitter.ms)}, not less than a Dhan token's 24h lifetime — every new token would be renewed at once`,
    );
  }
  const avoid = renewal.avoid.map((window, i) => toAvoidWindow(window, at('renewal.avoid', i), dhan.timezone, warn));
  const accounts = file.accounts.map((account, i) => toAccountConfig(account, at('accounts', i), warn));
  warnUnknownClients(server, accounts, warn);
  return {
    sourcePath,
    storage: storageConfig,
    ha: toHaConfig(file.ha),
    dhan: {
      authBaseUrl: dhan.authBaseUrl,
      apiBaseUrl: dhan.apiBaseUrl,
      timezone: dhan.timezone,
      requestTimeoutMs: dhan.requestTimeout,
      minGenerateIntervalMs: dhan.minGenerateInterval,
      generateMarginMs: dhan.generateMargin,
      maxConcurrency: dhan.maxConcurrency,
    },
    server,
    renewal: {
      renewBefore,
      jitter,
      sweep: renewal.sweep,
      probeIntervalMs: renewal.probeInterval,
      maxProbeRate: renewal.maxProbeRate,
      avoid,
      refreshAt: toSchedules(renewal.refreshAt, dhan.timezone),
      refreshAtSkipIfNewerThanMs: renewal.refreshAtSkipIfNewerThan,
      probeAt: toSchedules(renewal.probeAt, dhan.timezone),
    },
    log: file.log,
    consent: { askBeforeMs: file.consent.askBefore, redirectUrl: file.consent.redirectUrl },
    notify: toNotifyConfig(file.notify, warn),
    accounts,
  };
}
