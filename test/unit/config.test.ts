import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, resolveConfigPath, type Config } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';
import { ENV, PIN, TOTP, baseConfig, problemsOf, tempDir, writeConfig, writeFile } from '../helpers/config-fixtures.js';
import { REPO_ROOT } from '../helpers/repo-root.js';

const FULL_EXAMPLE = `
storage:
  path: ./data/keeper.db
  historyRetention: 90d
dhan:
  authBaseUrl: https://auth.dhan.co
  apiBaseUrl: https://api.dhan.co/
  timezone: Asia/Kolkata
  requestTimeout: 10s
  minGenerateInterval: 2m
  maxConcurrency: 4
server:
  listen: 127.0.0.1:9470
  apiKeys:
    - name: bot
      keyFile: ./secrets/bot.key
      clients: ["*"]
    - name: other
      key: \${OTHER_KEY}
      clients: ["1000000001", 1000000002]
renewal:
  renewBefore: 33%
  jitter: 5%
  sweep: "* * * * *"
  probeInterval: 15m
  avoid:
    - days: mon-fri
      from: "09:00"
      to: "15:45"
      timezone: Asia/Kolkata
    - days: [sat, sun]
      from: "22:00"
      to: "02:00"
log:
  level: info
accounts:
  - clientId: "1000000001"
    name: main
    mode: auto
    pin: \${DHAN_PIN}
    totpSecretFile: \${CREDENTIALS_DIRECTORY}/totp
    sinks:
      - type: file
        path: ./data/tokens/main.json
        format: json
        mode: "0600"
        group: bots
      - type: exec
        command: ["systemctl", "reload", "my-bot"]
        timeout: 30s
      - type: webhook
        url: http://127.0.0.1:8080/token
        secret: \${HOOK_SECRET}
        includeToken: true
        timeout: 10s
  - clientId: 1000000002
    mode: renew-only
`;

function loadFullExample(): { dir: string; config: Config; warnings: string[] } {
  const dir = tempDir();
  const credentials = join(dir, 'credentials');
  writeFile(join(dir, 'secrets', 'bot.key'), 'bot-key-0123456789abcdef\n');
  writeFile(join(credentials, 'totp'), 'jbsw y3dp ehpk 3pxp====\n');
  const path = writeConfig(dir, FULL_EXAMPLE);
  const env = {
    DHAN_PIN: PIN,
    HOOK_SECRET: 'hook-secret-value',
    OTHER_KEY: 'other-key-0123456789abcdef',
    CREDENTIALS_DIRECTORY: credentials,
  };
  return { dir, ...loadConfig(path, env) };
}

describe('loadConfig: valid files', () => {
  it('loads the full example with exact typed values', () => {
    const { dir, config, warnings } = loadFullExample();
    expect(warnings).toEqual([]);
    expect(config).toEqual({
      sourcePath: join(dir, 'config.yaml'),
      storage: { path: join(dir, 'data', 'keeper.db'), historyRetentionMs: 90 * 86_400_000 },
      ha: { takeoverAfterMs: 15_000 },
      dhan: {
        authBaseUrl: 'https://auth.dhan.co',
        apiBaseUrl: 'https://api.dhan.co',
        timezone: 'Asia/Kolkata',
        requestTimeoutMs: 10_000,
        minGenerateIntervalMs: 120_000,
        generateMarginMs: 10_000,
        maxConcurrency: 4,
      },
      server: {
        listen: { host: '127.0.0.1', port: 9470 },
        apiKeys: [
          { name: 'bot', key: 'bot-key-0123456789abcdef', clients: '*' },
          { name: 'other', key: 'other-key-0123456789abcdef', clients: ['1000000001', '1000000002'] },
        ],
      },
      renewal: {
        renewBefore: { kind: 'share', ratio: 0.33 },
        jitter: { kind: 'share', ratio: 0.05 },
        sweep: '* * * * *',
        probeIntervalMs: 900_000,
        maxProbeRate: 3,
        avoid: [
          { days: [1, 2, 3, 4, 5], fromMinute: 540, toMinute: 945, timezone: 'Asia/Kolkata' },
          { days: [6, 7], fromMinute: 1320, toMinute: 120, timezone: 'Asia/Kolkata' },
        ],
        refreshAt: [],
        refreshAtSkipIfNewerThanMs: 3_600_000,
        probeAt: [],
      },
      log: { level: 'info' },
      consent: { askBeforeMs: 7_200_000, redirectUrl: undefined },
      notify: { repeatEveryMs: 3_600_000, dailySummary: undefined, channels: [] },
      accounts: [
        {
          clientId: '1000000001',
          name: 'main',
          mode: 'auto',
          pin: PIN,
          totpSecret: TOTP,
          credentialsFingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
          app: undefined,
          sinks: [
            {
              type: 'file',
              path: join(dir, 'data', 'tokens', 'main.json'),
              format: 'json',
              mode: 0o600,
              group: 'bots',
            },
            { type: 'exec', command: ['systemctl', 'reload', 'my-bot'], timeoutMs: 30_000 },
            {
              type: 'webhook',
              url: 'http://127.0.0.1:8080/token',
              secret: 'hook-secret-value',
              includeToken: true,
              timeoutMs: 10_000,
            },
          ],
        },
        {
          clientId: '1000000002',
          name: '1000000002',
          mode: 'renew-only',
          pin: undefined,
          totpSecret: undefined,
          credentialsFingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
          app: undefined,
          sinks: [],
        },
      ],
    });
    // The optional-looking keys are present (exactOptionalPropertyTypes: `pin: string | undefined`).
    expect(Object.keys(config.accounts[1] ?? {})).toContain('pin');
  });

  it('deep-freezes the result', () => {
    const { config } = loadFullExample();
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.accounts)).toBe(true);
    expect(Object.isFrozen(config.accounts[0]?.sinks[1])).toBe(true);
    expect(Object.isFrozen(config.renewal.avoid[0]?.days)).toBe(true);
    expect(() => {
      (config.dhan as { maxConcurrency: number }).maxConcurrency = 9;
    }).toThrow(TypeError);
  });

  it('fills every default from a minimal file', () => {
    const dir = tempDir();
    const { config, warnings } = loadConfig(writeConfig(dir, baseConfig()), ENV);
    expect(warnings).toEqual([]);
    expect(config.storage).toEqual({ path: join(dir, 'data', 'keeper.db'), historyRetentionMs: 7_776_000_000 });
    expect(config.dhan).toEqual({
      authBaseUrl: 'https://auth.dhan.co',
      apiBaseUrl: 'https://api.dhan.co',
      timezone: 'Asia/Kolkata',
      requestTimeoutMs: 10_000,
      minGenerateIntervalMs: 120_000,
      generateMarginMs: 10_000,
      maxConcurrency: 4,
    });
    expect(config.server).toEqual({ listen: { host: '127.0.0.1', port: 9470 }, apiKeys: [] });
    expect(config.renewal).toEqual({
      renewBefore: { kind: 'share', ratio: 0.33 },
      jitter: { kind: 'share', ratio: 0.05 },
      sweep: '* * * * *',
      probeIntervalMs: 900_000,
      maxProbeRate: 3,
      avoid: [],
      refreshAt: [],
      refreshAtSkipIfNewerThanMs: 3_600_000,
      probeAt: [],
    });
    expect(config.log).toEqual({ level: 'info' });
    expect(config.accounts[0]).toMatchObject({ clientId: '1000000001', name: 'main', mode: 'auto', sinks: [] });
  });

  it('loads config.example.yaml with only DHAN_PIN and DHAN_TOTP_SECRET set', () => {
    const example = join(REPO_ROOT, 'config.example.yaml');
    const { config } = loadConfig(example, { DHAN_PIN: '123456', DHAN_TOTP_SECRET: 'JBSWY3DPEHPK3PXP' });
    expect(config.sourcePath).toBe(example);
    expect(config.storage.path).toBe(join(REPO_ROOT, 'data', 'keeper.db'));
    expect(config.renewal.avoid).toEqual([
      { days: [1, 2, 3, 4, 5], fromMinute: 9 * 60, toMinute: 15 * 60 + 45, timezone: 'Asia/Kolkata' },
    ]);
    expect(config.accounts).toHaveLength(1);
    expect(config.accounts[0]).toMatchObject({ clientId: '1000000001', pin: '123456', totpSecret: 'JBSWY3DPEHPK3PXP' });
    expect(config.accounts[0]?.sinks).toEqual([
      {
        type: 'file',
        path: join(REPO_ROOT, 'data', 'tokens', 'main.json'),
        format: 'json',
        mode: 0o600,
        group: undefined,
      },
    ]);
    // The example claims to show the defaults: it must agree with a file that leaves them out.
    const defaults = loadConfig(writeConfig(tempDir(), baseConfig()), ENV).config;
    expect(config.dhan).toEqual(defaults.dhan);
    expect(config.server).toEqual(defaults.server);
    expect(config.log).toEqual(defaults.log);
    expect({ ...config.renewal, avoid: [] }).toEqual(defaults.renewal);
    expect(config.storage.historyRetentionMs).toBe(defaults.storage.historyRetentionMs);
    expect(config.accounts[0]?.mode).toBe(defaults.accounts[0]?.mode);
  });

  it('lets accounts share settings through YAML merge keys', () => {
    const yaml = `
accounts:
  - &first { clientId: "1000000001", mode: renew-only, sinks: [{ type: exec, command: [reload-bots] }] }
  - { <<: *first, clientId: "1000000002", mode: auto, pin: "\${DHAN_PIN}", totpSecret: "\${DHAN_TOTP_SECRET}" }
`;
    const { config } = loadConfig(writeConfig(tempDir(), yaml), ENV);
    expect(config.accounts.map((a) => [a.clientId, a.mode, a.sinks.length])).toEqual([
      ['1000000001', 'renew-only', 1],
      ['1000000002', 'auto', 1],
    ]);
  });

  it('accepts renew-only accounts without any credentials', () => {
    const dir = tempDir();
    const path = writeConfig(dir, { accounts: [{ clientId: '1000000001', mode: 'renew-only' }] });
    const { config } = loadConfig(path, {});
    expect(config.accounts[0]).toMatchObject({ mode: 'renew-only', pin: undefined, totpSecret: undefined });
  });

  it('normalises a numeric clientId to a string', () => {
    const dir = tempDir();
    const path = writeConfig(dir, 'accounts:\n  - clientId: 1000000001\n    mode: renew-only\n');
    const account = loadConfig(path, {}).config.accounts[0];
    expect(account?.clientId).toBe('1000000001');
    expect(account?.name).toBe('1000000001');
  });

  it('reads durations, shares, "off" and other value forms', () => {
    const dir = tempDir();
    const config = baseConfig();
    config['renewal'] = { renewBefore: '8h', jitter: '10m', probeInterval: 'off', sweep: '*/30 * * * * *' };
    config['dhan'] = {
      minGenerateInterval: '2m30s',
      maxConcurrency: '${MAXC}',
      apiBaseUrl: 'http://127.0.0.1:7000/sim/',
    };
    config['server'] = { listen: '[::1]:0' };
    const { config: loaded } = loadConfig(writeConfig(dir, config), { ...ENV, MAXC: '8' });
    expect(loaded.renewal).toMatchObject({
      renewBefore: { kind: 'duration', ms: 28_800_000 },
      jitter: { kind: 'duration', ms: 600_000 },
      probeIntervalMs: 0,
      sweep: '*/30 * * * * *',
    });
    expect(loaded.dhan).toMatchObject({
      minGenerateIntervalMs: 150_000,
      maxConcurrency: 8,
      apiBaseUrl: 'http://127.0.0.1:7000/sim',
    });
    expect(loaded.server.listen).toEqual({ host: '::1', port: 0 });
    expect(loaded.renewal.maxProbeRate).toBe(3);

    for (const [written, read] of [
      ['off', undefined],
      ['0.5', 0.5],
      [12, 12],
      ['${RATE}', 7.25],
    ] as const) {
      config['renewal'] = { maxProbeRate: written };
      expect(
        loadConfig(writeConfig(dir, config), { ...ENV, MAXC: '8', RATE: '7.25' }).config.renewal.maxProbeRate,
      ).toBe(read);
    }
  });

  it('reads the other day forms of avoid windows', () => {
    const dir = tempDir();
    const config = baseConfig();
    config['renewal'] = {
      avoid: [
        { days: 'daily', from: '00:00', to: '00:30' },
        { days: 'sat-sun', from: '10:00', to: '11:00', timezone: 'UTC' },
        { days: ['mon', 'Wednesday', 'fri-sun'], from: '9:15', to: '9:20' },
        { days: 'fri-mon', from: '23:00', to: '00:00' },
      ],
    };
    const avoid = loadConfig(writeConfig(dir, config), ENV).config.renewal.avoid;
    expect(avoid.map((w) => w.days)).toEqual([
      [1, 2, 3, 4, 5, 6, 7],
      [6, 7],
      [1, 3, 5, 6, 7],
      [1, 5, 6, 7],
    ]);
    expect(avoid[1]?.timezone).toBe('UTC');
    expect(avoid[2]).toMatchObject({ fromMinute: 555, toMinute: 560, timezone: 'Asia/Kolkata' });
    expect(avoid[3]).toMatchObject({ fromMinute: 1380, toMinute: 0 });
  });

  it('keeps $${ as a literal and interpolates inside longer strings', () => {
    const dir = tempDir();
    const config = baseConfig();
    config['storage'] = { path: '${DATA}/k$${x}.db' };
    const { config: loaded } = loadConfig(writeConfig(dir, config), { ...ENV, DATA: '/var/lib/keeper' });
    expect(loaded.storage.path).toBe('/var/lib/keeper/k${x}.db');
  });

  it('resolves relative paths against the config folder, not the cwd', () => {
    const dir = tempDir();
    const nested = join(dir, 'etc', 'keeper');
    mkdirSync(nested, { recursive: true });
    writeFile(join(nested, 'secrets', 'pin'), `${PIN}\n`);
    writeFile(join(dir, 'etc', 'totp'), TOTP);
    const config = {
      storage: { path: 'state/keeper.db' },
      accounts: [
        {
          clientId: '1000000001',
          pinFile: 'secrets/pin',
          totpSecretFile: '../totp',
          sinks: [
            { type: 'file', path: './tokens/main.env', format: 'env' },
            { type: 'exec', command: ['./hooks/reload.sh', 'x/y'] },
          ],
        },
      ],
    };
    const { config: loaded } = loadConfig(writeConfig(nested, config), {});
    expect(loaded.storage.path).toBe(join(nested, 'state', 'keeper.db'));
    expect(loaded.accounts[0]?.pin).toBe(PIN);
    expect(loaded.accounts[0]?.totpSecret).toBe(TOTP);
    expect(loaded.accounts[0]?.sinks[0]).toMatchObject({ path: join(nested, 'tokens', 'main.env'), format: 'env' });
    expect(loaded.accounts[0]?.sinks[1]).toMatchObject({ command: [join(nested, 'hooks', 'reload.sh'), 'x/y'] });
  });

  it('changes the credentials fingerprint with the credentials, and only then', () => {
    const fingerprint = (pin: string, totp: string, clientId = '1000000001'): string => {
      const dir = tempDir();
      const config = { accounts: [{ clientId, pin, totpSecret: totp }] };
      return loadConfig(writeConfig(dir, config), {}).config.accounts[0]?.credentialsFingerprint ?? '';
    };
    const base = fingerprint('123456', TOTP);
    expect(fingerprint('123456', TOTP.toLowerCase())).toBe(base);
    expect(fingerprint('123457', TOTP)).not.toBe(base);
    expect(fingerprint('123456', 'JBSWY3DPEHPK3PXQ')).not.toBe(base);
    expect(fingerprint('123456', TOTP, '1000000002')).not.toBe(base);
    expect(base).not.toContain('123456');
  });
});

describe('loadConfig: warnings', () => {
  it('warns about a config file and a secret file readable by others, naming the mode', () => {
    const dir = tempDir();
    writeFile(join(dir, 'pin'), PIN, 0o644);
    writeFile(join(dir, 'totp'), TOTP, 0o640);
    const path = writeConfig(
      dir,
      { accounts: [{ clientId: '1000000001', pinFile: 'pin', totpSecretFile: 'totp' }] },
      0o644,
    );
    const { warnings } = loadConfig(path, {});
    // The config itself holds only references: group- or world-readable is no risk (issue 14, item 8).
    expect(warnings).toEqual([
      `accounts[0].pinFile: ${join(dir, 'pin')} is readable by others (mode 0644); chmod 600 it`,
      `accounts[0].totpSecretFile: ${join(dir, 'totp')} is readable by its group (mode 0640); chmod 600 it`,
    ]);
    for (const warning of warnings) {
      expect(warning).not.toContain(PIN);
      expect(warning).not.toContain(TOTP);
    }
  });

  it('warns about a loose config only when it holds a secret inline, and never advises breaking the 0640 systemd layout', () => {
    const dir = tempDir();
    writeFile(join(dir, 'pin'), PIN, 0o600);
    writeFile(join(dir, 'totp'), TOTP, 0o600);
    const references = writeConfig(
      dir,
      { accounts: [{ clientId: '1000000001', pinFile: 'pin', totpSecretFile: '${TOTP_FILE}' }] },
      0o640,
    );
    expect(loadConfig(references, { TOTP_FILE: join(dir, 'totp') }).warnings).toEqual([]);
    const fromEnv = writeConfig(
      tempDir(),
      { accounts: [{ clientId: '1000000001', pin: '${DHAN_PIN}', totpSecret: '${DHAN_TOTP}' }] },
      0o640,
    );
    expect(loadConfig(fromEnv, { DHAN_PIN: PIN, DHAN_TOTP: TOTP }).warnings).toEqual([]);
    const inline = writeConfig(
      tempDir(),
      { accounts: [{ clientId: '1000000001', pin: PIN, totpSecretFile: join(dir, 'totp') }] },
      0o640,
    );
    const [warning, ...rest] = loadConfig(inline, {}).warnings;
    expect(rest).toEqual([]);
    expect(warning).toMatch(
      /is readable by its group \(mode 0640\); chmod 600 it — it holds accounts\[0\]\.pin inline/,
    );
    expect(warning).not.toContain(PIN);
  });

  it('warns about risky but valid choices', () => {
    const dir = tempDir();
    const config = baseConfig();
    config['dhan'] = { minGenerateInterval: '0', generateMargin: '2s' };
    config['server'] = {
      listen: '0.0.0.0:9470',
      apiKeys: [{ name: 'bot', key: 'k3y-v4lue', clients: ['1000000009'] }],
    };
    const account = (config['accounts'] as Record<string, unknown>[])[0] ?? {};
    account['sinks'] = [
      { type: 'file', path: 't.json', mode: '0644' },
      { type: 'webhook', url: 'http://10.0.0.2/hook', includeToken: true },
    ];
    const { warnings } = loadConfig(writeConfig(dir, config), ENV);
    const keyPaths = warnings.map((w) => w.slice(0, w.indexOf(':')));
    expect([...keyPaths].sort()).toEqual([
      'accounts[0].sinks[0].mode',
      'accounts[0].sinks[1].includeToken',
      'dhan.generateMargin',
      'dhan.minGenerateInterval',
      'server.apiKeys[0].clients[0]',
      'server.apiKeys[0].key',
      'server.listen',
    ]);
    expect(warnings.join('\n')).not.toContain('k3y-v4lue');
  });
});

describe('resolveConfigPath', () => {
  it('prefers --config, then DHAN_TOKEN_KEEPER_CONFIG, then ./config.yaml, all absolute', () => {
    expect(resolveConfigPath('/etc/k.yaml', { DHAN_TOKEN_KEEPER_CONFIG: '/x.yaml' })).toBe('/etc/k.yaml');
    expect(resolveConfigPath('rel.yaml', {})).toBe(join(process.cwd(), 'rel.yaml'));
    expect(resolveConfigPath(undefined, { DHAN_TOKEN_KEEPER_CONFIG: '/x.yaml' })).toBe('/x.yaml');
    expect(resolveConfigPath(undefined, { DHAN_TOKEN_KEEPER_CONFIG: '' })).toBe(join(process.cwd(), 'config.yaml'));
    expect(resolveConfigPath(undefined, {})).toBe(join(process.cwd(), 'config.yaml'));
  });
});

describe('loadConfig: the file itself', () => {
  it('names a missing config file and how to point at another', () => {
    const path = join(tempDir(), 'nope.yaml');
    expect(() => loadConfig(path, {})).toThrow(ConfigError);
    expect(problemsOf(path)).toEqual([
      `${path}: no such file — pass --config FILE or set DHAN_TOKEN_KEEPER_CONFIG (config.example.yaml shows every key)`,
    ]);
  });

  it('reports invalid YAML with line and column, without echoing the file', () => {
    const dir = tempDir();
    const path = writeConfig(
      dir,
      `accounts:\n  - clientId: "1"\n    pin: "987654"\n    totpSecret: [JBSW\n  name: x\n`,
    );
    const problems = problemsOf(path);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]).toMatch(new RegExp(`^${path}: invalid YAML — .* at line \\d+, column \\d+$`));
    expect(problems.join('\n')).not.toContain('987654');
  });

  it('reports duplicate keys as invalid YAML', () => {
    const dir = tempDir();
    const path = writeConfig(dir, 'log:\n  level: info\nlog:\n  level: debug\naccounts: []\n');
    expect(problemsOf(path)[0]).toMatch(/invalid YAML — Map keys must be unique at line 3, column 1/);
  });

  it('rejects an empty file and a file that is not a mapping', () => {
    const dir = tempDir();
    expect(problemsOf(writeConfig(dir, ''))).toEqual([
      'accounts: missing — list at least one account with its clientId',
    ]);
    const path = writeConfig(dir, '- a\n- b\n');
    expect(problemsOf(path)[0]).toMatch(new RegExp(`^${path}: must be a mapping of sections`));
  });
});

describe('renewal.refreshAt and renewal.probeAt', () => {
  it('reads plain cron strings in dhan.timezone and {cron, timezone} entries in their own zone', () => {
    const dir = tempDir();
    const config = baseConfig();
    config['renewal'] = {
      refreshAt: ['30 8 * * 1-5', { cron: '0 7 * * 6', timezone: 'UTC' }],
      refreshAtSkipIfNewerThan: '90m',
      probeAt: ['1 3 * * *'],
    };
    const { config: loaded } = loadConfig(writeConfig(dir, config), ENV);
    expect(loaded.renewal.refreshAt.map((s) => [s.expression, s.timezone])).toEqual([
      ['30 8 * * 1-5', 'Asia/Kolkata'],
      ['0 7 * * 6', 'UTC'],
    ]);
    expect(loaded.renewal.refreshAtSkipIfNewerThanMs).toBe(90 * 60_000);
    expect(loaded.renewal.probeAt.map((s) => s.expression)).toEqual(['1 3 * * *']);
  });
});
