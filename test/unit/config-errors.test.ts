import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { ENV, PIN, TOTP, baseConfig, problemsOf, tempDir, writeConfig, writeFile } from '../helpers/config-fixtures.js';

type Raw = Record<string, unknown>;

/** The base config with `change` applied to it, and the first account handed over for convenience. */
function variant(change: (config: Raw, account: Raw) => void): Raw {
  const config = baseConfig();
  const account = (config['accounts'] as Raw[])[0] ?? {};
  change(config, account);
  return config;
}

function reject(config: Raw | string, env: NodeJS.ProcessEnv = ENV): readonly string[] {
  return problemsOf(writeConfig(tempDir(), config), env);
}

describe('loadConfig: each bad variant names its key path', () => {
  const cases: [string, Raw, string][] = [
    [
      'unknown key close to a known one',
      variant((c) => (c['renewal'] = { renewBefor: '8h' })),
      'renewal.renewBefor: unknown key — did you mean renewBefore?',
    ],
    [
      'unknown key in another spelling convention',
      variant((c) => (c['renewal'] = { renew_before: '8h' })),
      'renewal.renew_before: unknown key — did you mean renewBefore?',
    ],
    [
      'unknown top-level key far from any known one',
      variant((c) => (c['telemetry'] = true)),
      'telemetry: unknown key — expected one of storage, ha, dhan, server, renewal, log, consent, notify, accounts',
    ],
    [
      'unknown key inside a sink, judged by its type',
      variant((_, a) => (a['sinks'] = [{ type: 'file', path: 't.json', formt: 'json' }])),
      'accounts[0].sinks[0].formt: unknown key — did you mean format?',
    ],
    [
      'a key of another sink type',
      variant((_, a) => (a['sinks'] = [{ type: 'exec', command: ['true'], url: 'http://x' }])),
      'accounts[0].sinks[0].url: unknown key — expected one of type, command, timeout',
    ],
    [
      'both pin and pinFile',
      variant((_, a) => (a['pinFile'] = '/run/pin')),
      'accounts[0].pin: both pin and pinFile are set — keep only one',
    ],
    [
      'auto mode without a PIN',
      variant((_, a) => delete a['pin']),
      'accounts[0].pin: missing — mode auto generates tokens with the PIN and TOTP; set pin or pinFile, or use mode: renew-only for a token imported from Dhan Web',
    ],
    [
      'generate-only without a TOTP secret',
      variant((_, a) => {
        a['mode'] = 'generate-only';
        delete a['totpSecret'];
      }),
      'accounts[0].totpSecret: missing — mode generate-only generates tokens with the PIN and TOTP; set totpSecret or totpSecretFile, or use mode: renew-only for a token imported from Dhan Web',
    ],
    [
      'a bad duration',
      variant((c) => (c['dhan'] = { requestTimeout: '10 secs' })),
      'dhan.requestTimeout: "10 secs" is not a duration (like 30s, 15m, 8h or 1h30m)',
    ],
    [
      'a generation margin that is not a duration',
      variant((c) => (c['dhan'] = { generateMargin: 'a little' })),
      'dhan.generateMargin: "a little" is not a duration (like 30s, 15m, 8h or 1h30m)',
    ],
    [
      'a duration without a unit',
      variant((c) => (c['storage'] = { historyRetention: 90 })),
      'storage.historyRetention: "90" is not a duration (like 30s, 15m, 8h or 1h30m) — add a unit: ms, s, m, h or d',
    ],
    [
      'a duration below its minimum',
      variant((c) => (c['dhan'] = { requestTimeout: '50ms' })),
      'dhan.requestTimeout: "50ms" is too short — use at least 100ms',
    ],
    [
      'a probe interval below 10s',
      variant((c) => (c['renewal'] = { probeInterval: '5s' })),
      'renewal.probeInterval: "5s" is too short — use at least 10s, or "0"/"off" to disable',
    ],
    [
      'a probe rate of 0',
      variant((c) => (c['renewal'] = { maxProbeRate: 0 })),
      'renewal.maxProbeRate: "0" is not a rate — use a number of calls a second above 0, like 3 or 0.5, or "off" for no limit',
    ],
    [
      'a probe rate with a unit',
      variant((c) => (c['renewal'] = { maxProbeRate: '3/s' })),
      'renewal.maxProbeRate: "3/s" is not a rate — use a number of calls a second above 0, like 3 or 0.5, or "off" for no limit',
    ],
    [
      'a bad share',
      variant((c) => (c['renewal'] = { renewBefore: '33 percent' })),
      'renewal.renewBefore: "33 percent" is not a duration (like 8h) or a share (like 33%)',
    ],
    [
      'a share of 100% or more',
      variant((c) => (c['renewal'] = { jitter: '150%' })),
      'renewal.jitter: "150%" is not a share strictly between 0% and 100%',
    ],
    [
      'renewBefore and jitter adding up to the whole lifetime',
      variant((c) => (c['renewal'] = { renewBefore: '90%', jitter: '10%' })),
      'renewal.jitter: plus renewBefore reaches 100% of the lifetime, so every new token would be renewed at once — lower one of them',
    ],
    [
      'a bad cron expression',
      variant((c) => (c['renewal'] = { sweep: '61 * * * *' })),
      'renewal.sweep: "61 * * * *" is not a cron expression (61 is a invalid expression for minute) — e.g. "* * * * *" runs every minute',
    ],
    [
      'a cron expression node-cron takes but the keeper does not read',
      variant((c) => (c['renewal'] = { sweep: '0 0 L * *' })),
      'renewal.sweep: "0 0 L * *": the day-of-month value "L" is not supported — use numbers, ranges, lists and steps',
    ],
    [
      'the same in refreshAt',
      variant((c) => (c['renewal'] = { refreshAt: ['30 8 L * *'] })),
      'renewal.refreshAt[0]: "30 8 L * *": the day-of-month value "L" is not supported — use numbers, ranges, lists and steps',
    ],
    [
      'a bad time zone',
      variant((c) => (c['dhan'] = { timezone: 'Asia/Mumbai' })),
      'dhan.timezone: "Asia/Mumbai" is not a time zone — use an IANA name like Asia/Kolkata or UTC',
    ],
    [
      'a listen address without a port',
      variant((c) => (c['server'] = { listen: 'localhost' })),
      'server.listen: "localhost" is not host:port — write e.g. 127.0.0.1:9470 or [::1]:9470',
    ],
    [
      'an IPv6 listen address without brackets',
      variant((c) => (c['server'] = { listen: '::1:9470' })),
      'server.listen: "::1:9470" is not host:port — write e.g. 127.0.0.1:9470 or [::1]:9470',
    ],
    [
      'a port out of range',
      variant((c) => (c['server'] = { listen: '127.0.0.1:70000' })),
      'server.listen: "127.0.0.1:70000" is not host:port — write e.g. 127.0.0.1:9470 or [::1]:9470',
    ],
    [
      'a duplicate clientId',
      variant((c) => (c['accounts'] as Raw[]).push({ clientId: 1000000001, name: 'second', mode: 'renew-only' })),
      'accounts[1].clientId: 1000000001 is already used by accounts[0] — list each account once',
    ],
    [
      'a duplicate name',
      variant((c) => (c['accounts'] as Raw[]).push({ clientId: '1000000002', name: 'main', mode: 'renew-only' })),
      'accounts[1].name: "main" is already used by accounts[0] — names must be unique',
    ],
    [
      'a default name clashing with an explicit one',
      variant((c) =>
        (c['accounts'] as Raw[]).push(
          { clientId: '1000000002', mode: 'renew-only' },
          { clientId: '1000000003', name: '1000000002', mode: 'renew-only' },
        ),
      ),
      'accounts[2].name: "1000000002" is already used by accounts[1] — names must be unique',
    ],
    [
      'a bad name',
      variant((_, a) => (a['name'] = 'my bot')),
      'accounts[0].name: "my bot" is not a valid name — use letters, digits, _, . and - only',
    ],
    ['a PIN of 5 digits', variant((_, a) => (a['pin'] = '12345')), 'accounts[0].pin: must be 6 digits'],
    [
      'a PIN whose leading zero YAML dropped',
      variant((_, a) => (a['pin'] = 12345)),
      'accounts[0].pin: must be 6 digits (quote it: YAML drops the leading zeros of a number)',
    ],
    [
      'a TOTP secret that is not base32',
      variant((_, a) => (a['totpSecret'] = 'JBSWY3DPEHPK3PX1')),
      'accounts[0].totpSecret: is not a base32 TOTP secret (letters A-Z and digits 2-7)',
    ],
    [
      'a TOTP secret under 80 bits',
      variant((_, a) => (a['totpSecret'] = 'JBSWY3DP')),
      'accounts[0].totpSecret: is too short for a TOTP secret — need at least 16 base32 characters (80 bits)',
    ],
    [
      'an otpauth link instead of its secret',
      variant((_, a) => (a['totpSecret'] = 'otpauth://totp/Dhan?secret=JBSWY3DPEHPK3PXP')),
      'accounts[0].totpSecret: is not a base32 TOTP secret (letters A-Z and digits 2-7) (from an otpauth:// link, take only its secret= value)',
    ],
    [
      'a renew-only account with a bad PIN still checks it',
      variant((_, a) => {
        a['mode'] = 'renew-only';
        a['pin'] = '12ab56';
      }),
      'accounts[0].pin: must be 6 digits',
    ],
    [
      'a clientId that is not digits',
      variant((_, a) => (a['clientId'] = 'DH-1001')),
      'accounts[0].clientId: "DH-1001" is not a client id — Dhan client ids are digits, like "1000000001"',
    ],
    [
      'a bad mode',
      variant((_, a) => (a['mode'] = 'renew')),
      'accounts[0].mode: "renew" is not one of auto, renew-only, generate-only, consent — did you mean renew-only?',
    ],
    [
      'a base URL that is not http(s)',
      variant((c) => (c['dhan'] = { authBaseUrl: 'ftp://auth.dhan.co' })),
      'dhan.authBaseUrl: "ftp://auth.dhan.co" is not an http(s) URL — e.g. https://api.dhan.co',
    ],
    [
      'a base URL with a query',
      variant((c) => (c['dhan'] = { apiBaseUrl: 'https://api.dhan.co/?x=1' })),
      'dhan.apiBaseUrl: "https://api.dhan.co/?x=1" must not have a query or fragment — give only scheme, host and path',
    ],
    [
      'a webhook URL that is not a URL',
      variant((_, a) => (a['sinks'] = [{ type: 'webhook', url: 'localhost:8080/hook' }])),
      'accounts[0].sinks[0].url: is not an http(s) URL — e.g. http://127.0.0.1:8080/token',
    ],
    [
      'a bad sink type',
      variant((_, a) => (a['sinks'] = [{ type: 'email', to: 'me@example.com' }])),
      'accounts[0].sinks[0].type: "email" is not one of file, exec, webhook — use one of file, exec, webhook',
    ],
    [
      'an exec command given as a shell string',
      variant((_, a) => (a['sinks'] = [{ type: 'exec', command: 'systemctl reload my-bot' }])),
      'accounts[0].sinks[0].command: must be a list (argv), not a string — write ["systemctl", "reload", "my-bot"]; no shell runs it',
    ],
    [
      'an exec command with a non-string argument',
      variant((_, a) => (a['sinks'] = [{ type: 'exec', command: ['kill', ['-HUP']] }])),
      'accounts[0].sinks[0].command[1]: must be a string, not a list',
    ],
    [
      'a file mode that is not octal',
      variant((_, a) => (a['sinks'] = [{ type: 'file', path: 't.json', mode: '0800' }])),
      'accounts[0].sinks[0].mode: "0800" is not an octal file mode — write e.g. "0600" or "0640"',
    ],
    [
      'a file mode written as a YAML number',
      variant((_, a) => (a['sinks'] = [{ type: 'file', path: 't.json', mode: 600 }])),
      'accounts[0].sinks[0].mode: 600 is a number — quote the mode as an octal string, like mode: "0600"',
    ],
    [
      'a bad file format',
      variant((_, a) => (a['sinks'] = [{ type: 'file', path: 't.json', format: 'jsn' }])),
      'accounts[0].sinks[0].format: "jsn" is not one of json, env — did you mean json?',
    ],
    [
      'a boolean that is not one',
      variant((_, a) => (a['sinks'] = [{ type: 'webhook', url: 'http://127.0.0.1/x', includeToken: 'yes' }])),
      'accounts[0].sinks[0].includeToken: must be true or false, not "yes"',
    ],
    [
      'two sinks writing the same file',
      variant((c) => {
        const sink = { type: 'file', path: './tokens/t.json' };
        (c['accounts'] as Raw[])[0]!['sinks'] = [sink];
        (c['accounts'] as Raw[]).push({
          clientId: '1000000002',
          mode: 'renew-only',
          sinks: [{ ...sink, path: 'tokens/t.json' }],
        });
      }),
      'accounts[1].sinks[0].path: ' /* the rest names the file and accounts[0].sinks[0].path */,
    ],
    [
      'maxConcurrency 0',
      variant((c) => (c['dhan'] = { maxConcurrency: 0 })),
      'dhan.maxConcurrency: 0 is out of range — use a whole number from 1 to 64',
    ],
    [
      'maxConcurrency not whole',
      variant((c) => (c['dhan'] = { maxConcurrency: 2.5 })),
      'dhan.maxConcurrency: must be a whole number from 1 to 64, not a number',
    ],
    [
      'a refreshAt that is not a cron expression',
      variant((c) => (c['renewal'] = { refreshAt: ['30 8 * * mon-fry'] })),
      'renewal.refreshAt[0]: "30 8 * * mon-fry" is not a cron expression (mon-fry is a invalid expression for week day) — e.g. "* * * * *" runs every minute',
    ],
    [
      'a refreshAt entry with its own zone and a bad expression',
      variant((c) => (c['renewal'] = { refreshAt: [{ cron: '30 8 L * *', timezone: 'Asia/Kolkata' }] })),
      'renewal.refreshAt[0]: cron: "30 8 L * *": the day-of-month value "L" is not supported — use numbers, ranges, lists and steps',
    ],
    [
      'an avoid window with a bad day',
      variant((c) => (c['renewal'] = { avoid: [{ days: 'mon-fry', from: '09:00', to: '15:45' }] })),
      'renewal.avoid[0].days: "mon-fry" is not a day — use mon … sun, a range like mon-fri, a list like [mon, wed] or daily',
    ],
    [
      'an avoid window with a bad day in a list',
      variant((c) => (c['renewal'] = { avoid: [{ days: ['mon', 'thurs'], from: '09:00', to: '15:45' }] })),
      'renewal.avoid[0].days: "thurs" is not a day — use mon … sun, a range like mon-fri, a list like [mon, wed] or daily',
    ],
    [
      'an avoid window with a bad time',
      variant((c) => (c['renewal'] = { avoid: [{ days: 'daily', from: '25:00', to: '15:45' }] })),
      'renewal.avoid[0].from: "25:00" is not a time of day — use HH:MM from 00:00 to 23:59',
    ],
    [
      'an avoid window ending at 24:00',
      variant((c) => (c['renewal'] = { avoid: [{ days: 'daily', from: '22:00', to: '24:00' }] })),
      'renewal.avoid[0].to: "24:00" is not a time of day — use HH:MM from 00:00 to 23:59 (write "00:00" for midnight: a window may cross it)',
    ],
    [
      'an avoid window without an end',
      variant((c) => (c['renewal'] = { avoid: [{ days: 'daily', from: '09:00' }] })),
      'renewal.avoid[0].to: missing — give a time like "15:45"',
    ],
    [
      'an empty avoid window',
      variant((c) => (c['renewal'] = { avoid: [{ days: 'daily', from: '09:00', to: '9:00' }] })),
      'renewal.avoid[0].to: equals from, so the window is either empty or the whole day — give different times',
    ],
    [
      'an avoid window in a bad zone',
      variant(
        (c) => (c['renewal'] = { avoid: [{ days: 'daily', from: '09:00', to: '10:00', timezone: 'Mars/Olympus' }] }),
      ),
      'renewal.avoid[0].timezone: "Mars/Olympus" is not a time zone — use an IANA name like Asia/Kolkata or UTC',
    ],
    ['empty accounts', { accounts: [] }, 'accounts: is empty — list at least one account with its clientId'],
    ['no accounts', { log: { level: 'info' } }, 'accounts: missing — list at least one account with its clientId'],
    [
      'a bad log level',
      variant((c) => (c['log'] = { level: 'debg' })),
      'log.level: "debg" is not one of fatal, error, warn, info, debug, trace, silent — did you mean debug?',
    ],
    [
      'a section of the wrong type',
      variant((c) => (c['dhan'] = 'https://api.dhan.co')),
      'dhan: must be a mapping of authBaseUrl, apiBaseUrl, timezone, requestTimeout, minGenerateInterval, generateMargin, maxConcurrency, not a string',
    ],
    [
      'sinks that are not a list',
      variant((_, a) => (a['sinks'] = { type: 'file' })),
      'accounts[0].sinks: must be a list, not a mapping',
    ],
    [
      'an api key without a key',
      variant((c) => (c['server'] = { apiKeys: [{ name: 'bot', clients: ['*'] }] })),
      'server.apiKeys[0].key: missing — set key (e.g. ${BOT_KEY}) or keyFile',
    ],
    [
      'an api key with a bad client',
      variant((c) => (c['server'] = { apiKeys: [{ name: 'bot', key: 'k'.repeat(20), clients: ['main'] }] })),
      'server.apiKeys[0].clients[0]: "main" is not a client id — use digits, or "*" for all',
    ],
    [
      'an api key without clients',
      variant((c) => (c['server'] = { apiKeys: [{ name: 'bot', key: 'k'.repeat(20) }] })),
      'server.apiKeys[0].clients: missing — list the client ids this key may read, or ["*"] for all',
    ],
    [
      'duplicate api key names',
      variant(
        (c) =>
          (c['server'] = {
            apiKeys: [
              { name: 'bot', key: 'a'.repeat(20), clients: '*' },
              { name: 'bot', key: 'b'.repeat(20), clients: '*' },
            ],
          }),
      ),
      'server.apiKeys[1].name: "bot" is already used by server.apiKeys[0] — names must be unique',
    ],
    [
      'an unterminated ${',
      variant((c) => (c['storage'] = { path: '${DATA/keeper.db' })),
      'storage.path: "${" has no closing "}" — write ${NAME}, or $${ for a literal "${"',
    ],
  ];

  it.each(cases)('%s', (_title, config, expected) => {
    const problems = reject(config);
    if (expected.endsWith(': ')) expect(problems.map((p) => p.slice(0, expected.length))).toEqual([expected]);
    else expect(problems).toEqual([expected]);
  });

  it('a refreshAt inside an avoid window is an error naming the entry, a moment, and the fix', () => {
    const config = variant(
      (c) =>
        (c['renewal'] = {
          avoid: [{ days: 'mon-fri', from: '09:00', to: '15:45' }],
          refreshAt: ['30 8 * * 1-5', '0 10 * * 1-5'],
        }),
    );
    const problems = reject(config);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^renewal\.refreshAt\[1\]: "0 10 \* \* 1-5" fires inside an avoid window \(e\.g\. \w{3} 10:00 Asia\/Kolkata\).*move it before the window opens/,
    );
  });

  it('names a missing environment variable and its key', () => {
    expect(reject(baseConfig(), { DHAN_TOTP_SECRET: TOTP })).toEqual([
      "accounts[0].pin: environment variable DHAN_PIN is not set — set it in the keeper's environment",
    ]);
  });

  it('names a missing secret file with its absolute path', () => {
    const dir = tempDir();
    const config = variant((_, a) => {
      delete a['totpSecret'];
      a['totpSecretFile'] = 'secrets/totp';
    });
    expect(problemsOf(writeConfig(dir, config))).toEqual([
      `accounts[0].totpSecretFile: ${join(dir, 'secrets', 'totp')}: no such file`,
    ]);
  });

  it('rejects an empty secret file and an empty secret variable', () => {
    const dir = tempDir();
    writeFile(join(dir, 'pin'), '\n  \n');
    const config = variant((_, a) => {
      delete a['pin'];
      a['pinFile'] = 'pin';
    });
    expect(problemsOf(writeConfig(dir, config), { ...ENV, DHAN_TOTP_SECRET: '' })).toEqual([
      `accounts[0].pinFile: ${join(dir, 'pin')}: is empty — write the secret into it`,
      'accounts[0].totpSecret: is empty — set it, or use totpSecretFile',
    ]);
  });

  it('rejects a secret file that is a directory', () => {
    const dir = tempDir();
    const config = variant((_, a) => {
      delete a['pin'];
      a['pinFile'] = '.';
    });
    expect(problemsOf(writeConfig(dir, config))).toEqual([`accounts[0].pinFile: ${dir}: is a directory, not a file`]);
  });

  it('reports every problem at once, each with its key path', () => {
    const yaml = `
storage:
  historyRetention: forever
dhan:
  maxConcurrency: 0
  timezone: Asia/Mumbai
server:
  listen: 9470
renewal:
  renewBefor: 8h
  sweep: every minute
  avoid:
    - days: mon-fry
      from: "9"
      to: "15:45"
log:
  level: loud
accounts:
  - clientId: "1000000001"
    pin: "12345"
    totpSecret: "not base32!"
    sinks:
      - type: exec
        command: reload-bot
  - clientId: "1000000001"
    mode: manual
`;
    const problems = reject(yaml);
    const paths = problems.map((p) => p.slice(0, p.indexOf(': ')));
    // All of them, in the order the file is read.
    expect(paths).toEqual([
      'storage.historyRetention',
      'dhan.timezone',
      'dhan.maxConcurrency',
      'server.listen',
      'renewal.renewBefor',
      'renewal.sweep',
      'renewal.avoid[0].days',
      'renewal.avoid[0].from',
      'log.level',
      'accounts[0].pin',
      'accounts[0].totpSecret',
      'accounts[0].sinks[0].command',
      'accounts[1].mode',
      'accounts[1].clientId',
    ]);
  });

  it('never puts a secret value into an error or a warning', () => {
    const dir = tempDir();
    const secrets = {
      pin: '98765', // one digit short: rejected
      totp: 'QWERTYUIOPASDFGH1', // has a 1: rejected
      key: 'S3cretApiKey-not-long', // shared by two keys: rejected
      hook: 'hook-S3cret',
      urlToken: 'tok3n-in-query',
    };
    writeFile(join(dir, 'pin'), secrets.pin, 0o644);
    const yaml = `
server:
  apiKeys:
    - { name: a, key: "${secrets.key}", clients: "*" }
    - { name: b, key: "${secrets.key}", clients: ["42"] }
accounts:
  - clientId: "1000000001"
    pinFile: pin
    totpSecret: \${TOTP}
    sinks:
      - { type: webhook, url: "ftp://example.com/?t=${secrets.urlToken}", secret: "${secrets.hook}", secretFile: /x }
  - clientId: "1000000002"
    mode: renew-only
    pin: "${secrets.pin}"
    pim: "${secrets.pin}"
`;
    const path = writeConfig(dir, yaml, 0o644);
    const problems = problemsOf(path, { TOTP: secrets.totp });
    expect(problems.length).toBeGreaterThanOrEqual(5);
    let warnings: string[] = [];
    try {
      loadConfig(path, { TOTP: secrets.totp });
    } catch {
      // Warnings are only returned on success; load a fixed copy to see them too.
      const fixed = yaml
        .replace(`key: "${secrets.key}", clients: ["42"]`, 'key: "another-long-api-key-0001", clients: ["42"]')
        .replace(/ftp:\/\/[^"]*/, 'http://127.0.0.1/')
        .replace(/, secretFile: \/x/, '')
        .replace(/\n {4}pim: .*/, '')
        .replaceAll(`"${secrets.pin}"`, '"987654"');
      writeFile(join(dir, 'pin'), '987654', 0o644);
      warnings = loadConfig(writeConfig(dir, fixed, 0o644), { TOTP: TOTP }).warnings;
    }
    expect(warnings.length).toBeGreaterThanOrEqual(2);
    const text = [...problems, ...warnings].join('\n');
    for (const secret of [...Object.values(secrets), PIN, '987654', TOTP]) expect(text).not.toContain(secret);
  });
});
