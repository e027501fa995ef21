/*
 * Deployment artefacts (systemd/, deploy/, Dockerfile, scripts/) checked from outside, the
 * way a user meets them: the files parse, every path they mount exists, the rules and the
 * dashboard use only metrics the keeper exports, promtool and systemd-analyze accept them,
 * and the release built by scripts/build-release.sh runs as a non-root user.
 *
 * promtool and systemd-analyze are optional on a developer machine (the checks skip) but
 * required in CI (process.env.CI), where .ci/run installs them.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { systemClock } from '../../src/clock.js';
import { loadConfig } from '../../src/config/index.js';
import { METRIC_NAMES, createMetrics } from '../../src/metrics.js';
import { freePort } from '../helpers/http.js';
import { nodeFor } from '../helpers/service-release.js';
import { REPO_ROOT } from '../helpers/repo-root.js';

const ROOT = REPO_ROOT;
const DEPLOY = join(ROOT, 'deploy');
const PROM = join(DEPLOY, 'prometheus');
const UNIT = join(ROOT, 'systemd', 'dhan-token-keeper.service');
const IN_CI = Boolean(process.env['CI']);

const ALERTS = [
  'DhanTokenExpiringSoon',
  'DhanTokenExpired',
  'DhanTokenRefreshFailing',
  'DhanTokenNeedsAttention',
  'DhanTokenLoginNeeded',
  'DhanTokenKeeperDown',
  'DhanTokenKeeperNoLeader',
  'DhanClockSkew',
] as const;
const RUNBOOK = 'https://github.com/dhan-token-keeper/dhan-token-keeper/blob/main/docs/runbook.md#runbook-';

type Obj = Record<string, unknown>;

function readText(...parts: string[]): string {
  return readFileSync(join(ROOT, ...parts), 'utf8');
}
function readYaml(...parts: string[]): unknown {
  return parseYaml(readText(...parts));
}
function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
function obj(value: unknown, what: string): Obj {
  if (!isObj(value)) throw new Error(`${what} is not a mapping`);
  return value;
}

function onPath(command: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

/** Optional locally, required in CI: a missing tool there must fail, not skip silently. */
function tool(command: string, debianPackage: string): { present: boolean; require: () => string } {
  const path = onPath(command);
  return {
    present: path !== undefined || IN_CI,
    require: () => {
      if (path === undefined)
        throw new Error(`${command} is not on PATH; CI must install Debian's ${debianPackage} package (.ci/run does)`);
      return path;
    },
  };
}
const promtool = tool('promtool', 'prometheus');
const systemdAnalyze = tool('systemd-analyze', 'systemd');

function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; timeout?: number } = {},
): SpawnSyncReturns<string> {
  return spawnSync(command, args, { encoding: 'utf8', timeout: options.timeout ?? 60_000, cwd: options.cwd ?? ROOT });
}
function output(result: SpawnSyncReturns<string>): string {
  return `exit ${String(result.status)}${result.error ? ` (${result.error.message})` : ''}\n${result.stdout}${result.stderr}`;
}

/** Every `dhan_*` metric name in a string; PromQL label values use hyphens, so they never match. */
function metricNames(text: string): string[] {
  return text.match(/\bdhan_[a-z0-9_]+\b/g) ?? [];
}
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (isObj(value)) return Object.values(value).flatMap(strings);
  return [];
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
function alertRules(): Rule[] {
  const groups = obj(readYaml('deploy', 'prometheus', 'alerts.yml'), 'alerts.yml')['groups'] as { rules: Rule[] }[];
  return groups.flatMap((g) => g.rules);
}

interface Dashboard {
  uid: string;
  panels: { title: string; type: string; datasource?: { uid?: string }; targets?: { expr: string }[] }[];
  templating: { list: { name: string }[] };
}
function dashboard(): Dashboard {
  return JSON.parse(readText('deploy', 'grafana', 'dashboards', 'dhan-token-keeper.json')) as Dashboard;
}
function dashboardExprs(): string[] {
  return dashboard().panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
}

describe('docker-compose.yml', () => {
  const compose = obj(readYaml('deploy', 'docker-compose.yml'), 'docker-compose.yml');
  const services = obj(compose['services'], 'services');
  const service = (name: string): Obj => obj(services[name], `services.${name}`);

  it('has the keeper, an example bot, Prometheus and Grafana', () => {
    expect(Object.keys(services).sort()).toEqual(['bot', 'grafana', 'keeper', 'prometheus']);
  });

  it('mounts only host paths that exist in the repo', () => {
    const mounts: string[] = [];
    for (const [name, svc] of Object.entries(services)) {
      for (const volume of (obj(svc, name)['volumes'] as unknown[] | undefined) ?? []) {
        const source = typeof volume === 'string' ? volume.split(':')[0] : (obj(volume, 'volume')['source'] as string);
        // Named volumes are created by compose; only paths come from the repo.
        if (source === undefined || !(source.startsWith('.') || isAbsolute(source))) continue;
        expect(isAbsolute(source), `${name} mounts the absolute host path ${source}: use a path in the repo`).toBe(
          false,
        );
        mounts.push(source);
        expect(existsSync(resolve(DEPLOY, source)), `${name} mounts ${source}, which is not in deploy/`).toBe(true);
      }
      const build = obj(svc, name)['build'];
      if (build !== undefined) {
        const context = typeof build === 'string' ? build : (obj(build, 'build')['context'] as string);
        const dockerfile =
          typeof build === 'string'
            ? 'Dockerfile'
            : ((obj(build, 'build')['dockerfile'] as string | undefined) ?? 'Dockerfile');
        expect(existsSync(resolve(DEPLOY, context, dockerfile)), `${name} builds ${context}/${dockerfile}`).toBe(true);
      }
    }
    expect(mounts).toEqual(
      expect.arrayContaining([
        './keeper/config.yaml',
        './prometheus',
        './grafana/provisioning',
        './grafana/dashboards',
        './bot',
      ]),
    );
  });

  it('takes secrets from files that are git-ignored, each with an .example beside it', () => {
    const secrets = obj(compose['secrets'], 'secrets');
    expect(Object.keys(secrets).length).toBeGreaterThan(0);
    for (const [name, secret] of Object.entries(secrets)) {
      const file = resolve(DEPLOY, obj(secret, name)['file'] as string);
      expect(existsSync(`${file}.example`), `${file}.example`).toBe(true);
      const ignored = run('git', ['check-ignore', '-q', '--no-index', file]);
      expect(ignored.status, `${file} must be git-ignored: a real secret would be committed`).toBe(0);
    }
  });

  it('pins every image to a tag', () => {
    for (const [name, svc] of Object.entries(services)) {
      const image = obj(svc, name)['image'];
      if (typeof image !== 'string') {
        expect(obj(svc, name)['build'], `${name} has neither image nor build`).toBeDefined();
        continue;
      }
      const ref = image.split('@')[0] ?? image;
      const lastPart = ref.slice(ref.lastIndexOf('/') + 1);
      const tag = lastPart.includes(':') ? lastPart.slice(lastPart.indexOf(':') + 1) : '';
      expect(tag, `${name}: ${image} has no tag`).not.toBe('');
      expect(tag, `${name}: ${image} is not pinned`).not.toBe('latest');
    }
    expect(service('bot')['image']).toMatch(/^python:3\.12/);
  });

  it('publishes ports on the host loopback only', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const port of (obj(svc, name)['ports'] as unknown[] | undefined) ?? []) {
        expect(String(port), `${name} publishes ${String(port)} beyond loopback`).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
      }
    }
  });

  it('runs the keeper read-only, with its data in volumes and its config where the image expects it', () => {
    const keeper = service('keeper');
    expect(keeper['read_only']).toBe(true);
    const volumes = keeper['volumes'] as string[];
    expect(volumes).toContain('keeper-data:/data');
    expect(volumes).toContain('./keeper/config.yaml:/config/config.yaml:ro');
    // The bot shares the token files, never the database.
    const botVolumes = service('bot')['volumes'] as string[];
    expect(botVolumes.some((v) => v.startsWith('keeper-data:'))).toBe(false);
    expect(botVolumes).toContain('tokens:/tokens:ro');
  });

  it('points Grafana at the dashboards folder that the provisioning reads', () => {
    const provider = obj(
      readYaml('deploy', 'grafana', 'provisioning', 'dashboards', 'dashboards.yml'),
      'dashboards.yml',
    );
    const path = (provider['providers'] as { options: { path: string } }[])[0]?.options.path;
    expect(service('grafana')['volumes']).toContain(`./grafana/dashboards:${String(path)}:ro`);
    const datasources = obj(
      readYaml('deploy', 'grafana', 'provisioning', 'datasources', 'prometheus.yml'),
      'datasource',
    );
    const uid = (datasources['datasources'] as { uid: string }[])[0]?.uid;
    for (const panel of dashboard().panels) expect(panel.datasource?.uid, panel.title).toBe(uid);
  });
});

describe('docker-compose.ha.yml', () => {
  // Compose resolves YAML merge keys (`<<: *keeper`); so must this reading of the file.
  const compose = obj(parseYaml(readText('deploy', 'docker-compose.ha.yml'), { merge: true }), 'docker-compose.ha.yml');
  const services = obj(compose['services'], 'services');
  const service = (name: string): Obj => obj(services[name], `services.${name}`);
  const KEEPERS = ['keeper-a', 'keeper-b'] as const;

  it('has two keepers and PostgreSQL 15, pinned to a tag', () => {
    expect(Object.keys(services).sort()).toEqual(['keeper-a', 'keeper-b', 'postgres']);
    expect(service('postgres')['image']).toMatch(/^postgres:15\.\d+/);
    for (const name of KEEPERS) expect(service(name)['image']).toBe('dhan-token-keeper:local');
  });

  it('mounts only paths in deploy/, and builds the repo Dockerfile', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const volume of (obj(svc, name)['volumes'] as string[] | undefined) ?? []) {
        const source = volume.split(':')[0]!;
        if (!source.startsWith('.')) continue;
        expect(existsSync(resolve(DEPLOY, source)), `${name} mounts ${source}, which is not in deploy/`).toBe(true);
      }
    }
    const build = obj(service('keeper-a')['build'], 'build');
    expect(existsSync(resolve(DEPLOY, build['context'] as string, build['dockerfile'] as string))).toBe(true);
  });

  it('takes every secret from a git-ignored file with an .example beside it, the database password too', () => {
    const secrets = obj(compose['secrets'], 'secrets');
    expect(Object.keys(secrets)).toContain('postgres_password');
    for (const [name, secret] of Object.entries(secrets)) {
      const file = resolve(DEPLOY, obj(secret, name)['file'] as string);
      expect(existsSync(`${file}.example`), `${file}.example`).toBe(true);
      expect(run('git', ['check-ignore', '-q', '--no-index', file]).status, `${file} must be git-ignored`).toBe(0);
    }
    const postgres = service('postgres');
    expect(obj(postgres['environment'], 'environment')['POSTGRES_PASSWORD_FILE']).toBe(
      '/run/secrets/postgres_password',
    );
    expect(postgres['secrets']).toEqual(['postgres_password']);
    // Compose secrets keep the host file's owner: the server must run as the keepers' uid to read the same file.
    expect(postgres['user']).toBe('1000:1000');
    expect(JSON.stringify(compose)).not.toMatch(/POSTGRES_PASSWORD"?:/);
  });

  it('runs each keeper read-only with its own config, data volume and loopback port, after PostgreSQL is healthy', () => {
    const ports = new Set<string>();
    const data = new Set<string>();
    for (const name of KEEPERS) {
      const keeper = service(name);
      expect(keeper['read_only'], name).toBe(true);
      expect(keeper['cap_drop'], name).toEqual(['ALL']);
      expect(obj(obj(keeper['depends_on'], 'depends_on')['postgres'], 'postgres')['condition']).toBe('service_healthy');
      expect((keeper['secrets'] as string[]).sort()).toEqual([
        'bot_api_key',
        'dhan_pin',
        'dhan_totp_secret',
        'postgres_password',
      ]);
      const volumes = keeper['volumes'] as string[];
      expect(volumes).toContain(`./keeper-ha/${name}.yaml:/config/config.yaml:ro`);
      data.add(volumes.find((v) => v.endsWith(':/data'))!);
      for (const port of keeper['ports'] as string[]) {
        expect(port).toMatch(/^127\.0\.0\.1:\d+:9470$/);
        ports.add(port.split(':')[1]!);
      }
    }
    expect(ports.size).toBe(2);
    expect(data.size).toBe(2);
    expect(service('postgres')['ports']).toBeUndefined();
    expect(obj(service('postgres')['healthcheck'], 'healthcheck')['test']).toContain('pg_isready');
  });

  it('gives both keepers configs that load, on the same database, schema and accounts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dtk-ops-ha-'));
    try {
      for (const [file, value] of [
        ['dhan_pin', '123456'],
        ['dhan_totp_secret', 'JBSWY3DPEHPK3PXP'],
        ['bot_api_key', 'a'.repeat(64)],
        ['postgres_password', 'b'.repeat(48)],
      ] as const) {
        writeFileSync(join(dir, file), `${value}\n`, { mode: 0o600 });
      }
      const loaded = KEEPERS.map((name) => {
        const copy = join(dir, `${name}.yaml`);
        writeFileSync(copy, readText('deploy', 'keeper-ha', `${name}.yaml`).replaceAll('/run/secrets/', `${dir}/`), {
          mode: 0o600,
        });
        const { config, warnings } = loadConfig(copy, {});
        // The plain-HTTP listen warning is the compose network's, as for the single keeper; none about the database.
        expect(
          warnings.filter((w) => !w.startsWith('server.listen')),
          name,
        ).toEqual([]);
        return config;
      });
      for (const config of loaded) {
        expect(config.storage.postgres?.connection.connectionString).toBe('postgres://keeper@postgres:5432/keeper');
        expect(config.storage.postgres?.connection.password).toBe('b'.repeat(48));
        expect(config.storage.postgres?.schema).toBe('dhan_token_keeper');
        expect(config.ha.takeoverAfterMs).toBe(15_000);
        for (const sink of config.accounts.flatMap((a) => a.sinks)) {
          if (sink.type === 'file') expect(sink.path).toMatch(/^\/data\/tokens\//);
        }
      }
      expect(loaded[0]!.accounts.map((a) => a.clientId)).toEqual(loaded[1]!.accounts.map((a) => a.clientId));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = readText('Dockerfile');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const has = (pattern: RegExp): boolean => instructions.some((line) => pattern.test(line));

  const nodeVersion = readText('.node-version').trim();

  it('builds in two stages on the Node that .node-version pins, with the shared release script', () => {
    expect(nodeVersion).toMatch(/^\d+\.\d+\.\d+$/);
    expect(instructions).toContain(`ARG NODE_VERSION=${nodeVersion}`);
    expect(instructions).toContain('ARG NODE_IMAGE=node:${NODE_VERSION}-bookworm-slim');
    expect(instructions).toContain('ARG BUILD_IMAGE=node:${NODE_VERSION}-bookworm');
    expect(instructions.filter((line) => line.startsWith('FROM '))).toEqual([
      'FROM ${BUILD_IMAGE} AS build',
      'FROM ${NODE_IMAGE} AS runtime',
    ]);
    // Each stage checks that its image has the pinned Node.
    expect(instructions.filter((line) => line.includes('test "$(node --version)" = "v${NODE_VERSION}"'))).toHaveLength(
      2,
    );
    expect(has(/^RUN .*scripts\/build-release\.sh \/release /)).toBe(true);
    expect(has(/^COPY --from=build .*\/release \/app$/)).toBe(true);
  });

  it('builds with the legacy builder as well as BuildKit, and downloads nothing but npm packages', () => {
    // A `# syntax=` line makes BuildKit fetch a frontend image; RUN --mount needs BuildKit.
    expect(dockerfile).not.toMatch(/^#\s*syntax\s*=/im);
    expect(has(/--mount/)).toBe(false);
    for (const line of instructions.filter((l) => /^(RUN|ADD) /.test(l))) {
      expect(line).not.toMatch(/\b(apt-get|apt|curl|wget|git clone)\b|^ADD https?:/);
    }
    // node-gyp uses the image's own headers and compiles: no header download, no prebuilt binary.
    expect(has(/npm_config_nodedir=\/usr\/local .*npm_config_build_from_source=true/)).toBe(true);
  });

  it('runs as node, with /data, port 9470, a readiness healthcheck through the CLI and the documented entrypoint', () => {
    expect(has(/^USER node$/)).toBe(true);
    expect(has(/^WORKDIR \/app$/)).toBe(true);
    expect(has(/^VOLUME \/data$/)).toBe(true);
    expect(has(/^EXPOSE 9470$/)).toBe(true);
    expect(
      has(
        /^HEALTHCHECK .*CMD \["node", "dist\/cli\.js", "healthcheck", "--ready", "--config", "\/config\/config\.yaml"\]$/,
      ),
    ).toBe(true);
    expect(has(/^ENTRYPOINT \["node", "dist\/cli\.js"\]$/)).toBe(true);
    expect(has(/^CMD \["run", "--config", "\/config\/config\.yaml"\]$/)).toBe(true);
    // Read-only root filesystem: temporary files go to the volume too.
    expect(dockerfile).toMatch(/TMPDIR=\/data\/tmp/);
  });

  it("sets every variable the systemd unit sets, with the same value (the bench measures the keeper with the unit's)", () => {
    const unitVars = readFileSync(UNIT, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('Environment='))
      .flatMap((line) => line.slice('Environment='.length).trim().split(/\s+/));
    expect(unitVars).toContain('MALLOC_ARENA_MAX=2');
    const env = instructions
      .filter((line) => line.startsWith('ENV '))
      .flatMap((line) => line.slice(4).trim().split(/\s+/));
    for (const pair of unitVars) expect(env).toContain(pair);
  });

  it('sends only what scripts/build-release.sh reads to the context', () => {
    const ignore = readText('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(ignore[0]).toBe('**');
    expect(instructions.filter((line) => /^COPY (?!--from)/.test(line))).toEqual(['COPY . /src']);
    // What build-release.sh copies into its build folder, and the script itself.
    const copyLine = readText('scripts', 'build-release.sh')
      .split('\n')
      .find((line) => line.startsWith('cp -R "$src/package.json"'));
    const read = [...(copyLine ?? '').matchAll(/"\$src\/([^"]+)"/g)].map((m) => m[1]!);
    expect(read).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'src']));
    expect(ignore.slice(1).sort()).toEqual([...read, 'scripts/build-release.sh'].map((p) => `!${p}`).sort());
    for (const path of [...read, 'scripts/build-release.sh']) expect(existsSync(join(ROOT, path)), path).toBe(true);
  });
});

describe('example configurations', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'dtk-ops-config-'));
    for (const [file, value] of [
      ['pin', '123456'],
      ['totp', 'JBSWY3DPEHPK3PXP'],
      ['dhan_pin', '123456'],
      ['dhan_totp_secret', 'JBSWY3DPEHPK3PXP'],
      ['bot_api_key', 'a'.repeat(64)],
    ] as const) {
      writeFileSync(join(dir, file), `${value}\n`, { mode: 0o600 });
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('systemd/config.yaml loads with the unit credentials and keeps state in StateDirectory', () => {
    const { config } = loadConfig(join(ROOT, 'systemd', 'config.yaml'), { CREDENTIALS_DIRECTORY: dir });
    expect(config.storage.path).toBe('/var/lib/dhan-token-keeper/keeper.db');
    expect(config.server.listen).toEqual({ host: '127.0.0.1', port: 9470 });
    expect(config.accounts[0]?.pin).toBe('123456');
    for (const sink of config.accounts.flatMap((a) => a.sinks)) {
      if (sink.type === 'file') expect(sink.path).toMatch(/^\/var\/lib\/dhan-token-keeper\/tokens\//);
    }
  });

  it('deploy/keeper/config.yaml loads with the compose secrets and writes only to /data', () => {
    // Compose mounts the secrets at /run/secrets; here they are files in a temp folder.
    const copy = join(dir, 'config.yaml');
    writeFileSync(copy, readText('deploy', 'keeper', 'config.yaml').replaceAll('/run/secrets/', `${dir}/`));
    const { config } = loadConfig(copy, {});
    expect(config.storage.path).toBe('/data/keeper.db');
    expect(config.server.apiKeys.map((k) => k.name)).toEqual(['bot']);
    const compose = obj(readYaml('deploy', 'docker-compose.yml'), 'compose');
    const secrets = (obj(obj(compose['services'], 'services')['keeper'], 'keeper')['secrets'] as string[]).sort();
    expect(secrets).toEqual(['bot_api_key', 'dhan_pin', 'dhan_totp_secret']);
    for (const sink of config.accounts.flatMap((a) => a.sinks)) {
      if (sink.type === 'file') expect(sink.path).toMatch(/^\/data\/tokens\//);
    }
  });
});

describe('Prometheus alert rules and the Grafana dashboard', () => {
  it('define every alert of the observability issue, with severity, summary, description and a runbook link', () => {
    const rules = alertRules();
    expect([...new Set(rules.map((r) => r.alert))].sort()).toEqual([...ALERTS].sort());
    for (const rule of rules) {
      const name = rule.alert ?? '';
      expect(['warning', 'critical'], name).toContain(rule.labels?.['severity']);
      expect(rule.annotations?.['summary'], name).toBeTruthy();
      expect(rule.annotations?.['description'], name).toBeTruthy();
      expect(rule.annotations?.['runbook_url'], name).toBe(`${RUNBOOK}${name.toLowerCase()}`);
      if (rule.expr.includes('client_id') || /dhan_token_(?!keeper)/.test(rule.expr)) {
        // Per-account alerts name the account they are about.
        expect(rule.annotations?.['description'], name).toContain('{{ $labels.client_id }}');
      }
    }
    const expiring = rules.filter((r) => r.alert === 'DhanTokenExpiringSoon');
    expect(expiring.map((r) => r.labels?.['severity']).sort()).toEqual(['critical', 'warning']);
  });

  it('test each alert both firing and not firing', () => {
    const tests = obj(readYaml('deploy', 'prometheus', 'alerts.test.yml'), 'alerts.test.yml')['tests'] as {
      alert_rule_test: { alertname: string; exp_alerts: unknown[] }[];
    }[];
    const cases = tests.flatMap((t) => t.alert_rule_test);
    for (const alert of ALERTS) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(
        mine.some((c) => c.exp_alerts.length > 0),
        `${alert} firing`,
      ).toBe(true);
      expect(
        mine.some((c) => c.exp_alerts.length === 0),
        `${alert} not firing`,
      ).toBe(true);
    }
  });

  it('use only metric names that the keeper exports', () => {
    const used = new Set([
      ...alertRules().flatMap((r) => metricNames(r.expr)),
      ...strings(dashboard()).flatMap(metricNames),
    ]);
    const exported = new Set<string>(METRIC_NAMES);
    // What the registry itself serves, not only what the module says it does.
    const registered = new Set(
      createMetrics({ version: 'test', snapshot: () => [], clock: systemClock })
        .registry.getMetricsAsArray()
        .map((m) => m.name),
    );
    const base = (name: string): string => {
      const stripped = name.replace(/_(bucket|sum|count)$/, '');
      return stripped !== name && exported.has(stripped) ? stripped : name;
    };
    const unknown = [...used].filter((name) => !exported.has(base(name)) || !registered.has(base(name)));
    expect(unknown).toEqual([]);
    // The panels the observability issue asks for.
    for (const name of [
      'dhan_token_expiry_timestamp_seconds',
      'dhan_token_refresh_total',
      'dhan_api_request_duration_seconds_bucket',
      'dhan_api_clock_skew_seconds',
      'dhan_token_attention',
      'dhan_token_refresh_failures_consecutive',
      'dhan_token_next_refresh_timestamp_seconds',
    ]) {
      expect(
        strings(dashboard()).some((s) => s.includes(name)),
        `dashboard uses ${name}`,
      ).toBe(true);
    }
    const exprs = dashboardExprs();
    expect(exprs).toContain('dhan_token_expiry_timestamp_seconds{name=~"$account"} - time()');
    for (const q of ['0.5', '0.95', '0.99']) {
      expect(
        exprs.some(
          (e) => e.startsWith(`histogram_quantile(${q},`) && e.includes('dhan_api_request_duration_seconds_bucket'),
        ),
      ).toBe(true);
    }
    expect(
      exprs.some((e) => /increase\(dhan_token_refresh_total\{[^}]*\}\[/.test(e) && e.includes('by (method, result)')),
    ).toBe(true);
  });

  it.skipIf(!promtool.present)('pass promtool check rules and promtool test rules', () => {
    const bin = promtool.require();
    const check = run(bin, ['check', 'rules', 'alerts.yml'], { cwd: PROM });
    expect(check.status, output(check)).toBe(0);
    const test = run(bin, ['test', 'rules', 'alerts.test.yml'], { cwd: PROM });
    expect(test.status, output(test)).toBe(0);
    process.stdout.write(
      `promtool: ${check.stdout.trim().split('\n').pop() ?? ''}; test rules: ${test.stdout.trim().split('\n').pop() ?? ''}\n`,
    );
  });

  it.skipIf(!promtool.present)('has dashboard queries that are valid PromQL', () => {
    const bin = promtool.require();
    // promtool has no offline "check expression": each query becomes a recording rule, with
    // Grafana's variables replaced by values Prometheus accepts.
    const dir = mkdtempSync(join(tmpdir(), 'dtk-ops-promql-'));
    try {
      const rules = dashboardExprs().map((expr, i) => ({
        record: `dashboard_query_${i}`,
        expr: expr
          .replaceAll('$account', '.*')
          .replaceAll('$__rate_interval', '2m')
          .replaceAll('$__interval', '1h')
          .replaceAll('$window', '6h'),
      }));
      expect(
        rules.every((r) => !r.expr.includes('$')),
        'an unknown Grafana variable',
      ).toBe(true);
      writeFileSync(join(dir, 'dashboard.rules.yml'), JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
      const check = run(bin, ['check', 'rules', join(dir, 'dashboard.rules.yml')]);
      expect(check.status, output(check)).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!promtool.present)('ship a prometheus.yml that promtool accepts and that loads the alert rules', () => {
    const bin = promtool.require();
    const config = obj(readYaml('deploy', 'prometheus', 'prometheus.yml'), 'prometheus.yml');
    const jobs = config['scrape_configs'] as { job_name: string; static_configs: { targets: string[] }[] }[];
    const job = jobs.find((j) => j.job_name === 'dhan-token-keeper');
    expect(job?.static_configs[0]?.targets).toEqual(['keeper:9470']);
    expect(config['rule_files']).toEqual(['/etc/prometheus/alerts.yml']);
    // In compose, deploy/prometheus is /etc/prometheus: check a copy with that folder here.
    const dir = mkdtempSync(join(tmpdir(), 'dtk-ops-prom-'));
    try {
      cpSync(PROM, dir, { recursive: true });
      const text = readFileSync(join(dir, 'prometheus.yml'), 'utf8').replaceAll('/etc/prometheus/', `${dir}/`);
      writeFileSync(join(dir, 'prometheus.yml'), text);
      const check = run(bin, ['check', 'config', join(dir, 'prometheus.yml')]);
      expect(check.status, output(check)).toBe(0);
      expect(check.stdout).toMatch(/SUCCESS: 9 rules found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('systemd unit', () => {
  const unit = readFileSync(UNIT, 'utf8');
  const directives = unit
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^[A-Za-z]+=/.test(line));

  it('runs the installed CLI with the /etc config, as its own user, with state, config and credentials from systemd', () => {
    for (const line of [
      'ExecStart=/usr/bin/dhan-token-keeper run --config /etc/dhan-token-keeper/config.yaml',
      'User=dhan-token-keeper',
      'StateDirectory=dhan-token-keeper dhan-token-keeper/tokens',
      'ConfigurationDirectory=dhan-token-keeper',
      'LoadCredential=pin:/etc/dhan-token-keeper/credentials/pin',
      'LoadCredential=totp:/etc/dhan-token-keeper/credentials/totp',
      'Restart=on-failure',
      'RestartSec=5',
      'UMask=0077',
    ]) {
      expect(directives).toContain(line);
    }
    expect(readText('systemd', 'config.yaml')).toContain('pinFile: ${CREDENTIALS_DIRECTORY}/pin');
  });

  it('has the hardening the issue lists, and no MemoryDenyWriteExecute (V8 needs a JIT)', () => {
    for (const line of [
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'ProtectHome=yes',
      'PrivateTmp=yes',
      'PrivateDevices=yes',
      'ProtectKernelTunables=yes',
      'ProtectKernelModules=yes',
      'ProtectKernelLogs=yes',
      'ProtectControlGroups=yes',
      'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
      'RestrictNamespaces=yes',
      'LockPersonality=yes',
      'SystemCallFilter=@system-service',
      'CapabilityBoundingSet=',
    ]) {
      expect(directives).toContain(line);
    }
    expect(directives.some((d) => d.startsWith('MemoryDenyWriteExecute='))).toBe(false);
  });

  it.skipIf(!systemdAnalyze.present)('passes systemd-analyze verify', () => {
    const bin = systemdAnalyze.require();
    // verify fails when ExecStart's program does not exist, and /usr/bin/dhan-token-keeper
    // exists only once installed. So verify a copy (same file name) whose ExecStart is this
    // Node binary: every other line is checked as shipped.
    const dir = mkdtempSync(join(tmpdir(), 'dtk-ops-unit-'));
    try {
      const copy = join(dir, 'dhan-token-keeper.service');
      writeFileSync(copy, unit.replace(/^ExecStart=\/usr\/bin\/dhan-token-keeper /m, `ExecStart=${process.execPath} `));
      expect(readFileSync(copy, 'utf8')).not.toEqual(unit);
      const verify = run(bin, ['verify', '--man=no', copy]);
      expect(verify.status, output(verify)).toBe(0);
      expect(verify.stderr, output(verify)).not.toMatch(/dhan-token-keeper\.service:/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!systemdAnalyze.present)('has an exposure level of 2.5 or less in systemd-analyze security', () => {
    const bin = systemdAnalyze.require();
    const security = run(bin, ['security', '--offline=yes', '--no-pager', UNIT]);
    // eslint-disable-next-line no-control-regex
    const text = `${security.stdout}${security.stderr}`.replace(/\u001b\[[0-9;]*m/g, '');
    const match = /Overall exposure level for dhan-token-keeper\.service: (\d+(?:\.\d+)?) (\w+)/.exec(text);
    expect(match, output(security)).not.toBeNull();
    const score = Number(match?.[1]);
    process.stdout.write(`systemd-analyze security: exposure ${score} ${match?.[2] ?? ''}\n`);
    expect(score).toBeLessThanOrEqual(2.5);
  });
});

describe('scripts/install-systemd.sh', () => {
  const script = join(ROOT, 'scripts', 'install-systemd.sh');
  let prefix: string;
  beforeAll(() => {
    prefix = mkdtempSync(join(tmpdir(), 'dtk-ops-install-'));
  });
  afterAll(() => rmSync(prefix, { recursive: true, force: true }));
  const mode = (path: string): string => (statSync(join(prefix, path)).mode & 0o777).toString(8);

  it('installs the unit, config and a private credentials folder under --prefix, again without clobbering', () => {
    const first = run('bash', [script, '--prefix', prefix, '--bin', '/usr/local/bin/dhan-token-keeper']);
    expect(first.status, output(first)).toBe(0);
    const unit = readFileSync(join(prefix, 'etc/systemd/system/dhan-token-keeper.service'), 'utf8');
    expect(unit).toContain(
      'ExecStart=/usr/local/bin/dhan-token-keeper run --config /etc/dhan-token-keeper/config.yaml',
    );
    expect(unit.replace('/usr/local/bin/', '/usr/bin/')).toEqual(readFileSync(UNIT, 'utf8'));
    expect(mode('etc/dhan-token-keeper/credentials')).toBe('700');
    expect(mode('etc/dhan-token-keeper')).toBe('755');
    expect(mode('etc/dhan-token-keeper/config.yaml')).toBe('640');

    const config = join(prefix, 'etc/dhan-token-keeper/config.yaml');
    writeFileSync(config, '# edited by the user\n');
    const second = run('bash', [script, '--prefix', prefix, '--bin', '/usr/local/bin/dhan-token-keeper']);
    expect(second.status, output(second)).toBe(0);
    expect(readFileSync(config, 'utf8')).toBe('# edited by the user\n');
    expect(second.stderr).toMatch(/is up to date/);
  });

  it('changes nothing with --dry-run', () => {
    const empty = mkdtempSync(join(tmpdir(), 'dtk-ops-dry-'));
    try {
      const dry = run('bash', [script, '--dry-run', '--prefix', empty, '--bin', '/usr/bin/dhan-token-keeper']);
      expect(dry.status, output(dry)).toBe(0);
      expect(dry.stdout).toMatch(/^\+ install -d -m 0700 .*\/etc\/dhan-token-keeper\/credentials$/m);
      expect(readdirSync(empty)).toEqual([]);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

/*
 * The release: scripts/build-release.sh into a fresh folder (npm ci and a native compile take
 * minutes, so only when DHAN_RELEASE_TEST=1, which .ci/run sets), then started as a user
 * that owns none of it, as in the image.
 */
describe.skipIf(process.env['DHAN_RELEASE_TEST'] !== '1')('release built by scripts/build-release.sh', () => {
  let out: string;
  let parent: string;
  const children: ChildProcess[] = [];
  const nobody = { uid: 65534, gid: 65534 };
  const asRoot = process.getuid?.() === 0;
  // This Node may sit where nobody cannot reach it (under /root): then a copy beside the release.
  let node = process.execPath;

  /** Runs as nobody when we are root (as CI is); a developer is already not root. */
  function asUser(args: readonly string[]): [string, string[]] {
    if (!asRoot) return [process.execPath, [...args]];
    return ['setpriv', [`--reuid=${nobody.uid}`, `--regid=${nobody.gid}`, '--clear-groups', '--', node, ...args]];
  }

  beforeAll(() => {
    // World-readable: the release must run as a user that did not build it.
    parent = mkdtempSync('/tmp/dtk-release-');
    chmodSync(parent, 0o755);
    out = join(parent, 'release');
    const build = run('bash', [join(ROOT, 'scripts', 'build-release.sh'), out], { timeout: 15 * 60_000 });
    expect(build.status, output(build)).toBe(0);
    if (asRoot) node = nodeFor(nobody, parent);
  }, 16 * 60_000);

  afterAll(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(parent, { recursive: true, force: true });
  });

  it('holds the compiled CLI and production dependencies only', () => {
    expect(existsSync(join(out, 'dist', 'cli.js'))).toBe(true);
    expect(existsSync(join(out, 'node_modules', 'better-sqlite3'))).toBe(true);
    for (const dev of ['typescript', 'vitest', 'fast-check'])
      expect(existsSync(join(out, 'node_modules', dev)), dev).toBe(false);
    expect(existsSync(join(out, 'src'))).toBe(false);
    // node-gyp's sources and object files stay out: better-sqlite3 loads only its compiled addon.
    const addon = join(out, 'node_modules', 'better-sqlite3');
    expect(readdirSync(join(addon, 'build', 'Release'))).toEqual(['better_sqlite3.node']);
    expect(readdirSync(join(addon, 'build'))).toEqual(['Release']);
    for (const leftover of ['deps', 'src', 'binding.gyp'])
      expect(existsSync(join(addon, leftover)), leftover).toBe(false);
  });

  it('runs as a non-root user', () => {
    const [command, args] = asUser([join(out, 'dist', 'cli.js'), 'version']);
    const version = spawnSync(command, args, { encoding: 'utf8', cwd: out, timeout: 30_000 });
    expect(version.status, output(version)).toBe(0);
    const pkg = JSON.parse(readFileSync(join(out, 'package.json'), 'utf8')) as { version: string };
    expect(version.stdout).toContain(pkg.version);
  });

  // Activates by itself once the `run` command is in the release.
  it('starts `run` as a non-root user against the simulator and becomes ready', async (ctx) => {
    if (!existsSync(join(out, 'dist', 'commands', 'run.js'))) {
      ctx.skip('the release has no run command yet');
      return;
    }
    const work = join(parent, 'run');
    mkdirSync(work, { mode: 0o755 });
    const data = join(work, 'data');
    writeFileSync(
      join(work, 'accounts.yaml'),
      '- {clientId: "1000000001", pin: "123456", totpSecret: "JBSWY3DPEHPK3PXP"}\n',
    );
    // The keeper's own folder, as StateDirectory= or the image's /data gives it.
    mkdirSync(data, { mode: 0o700 });
    if (asRoot) chownSync(data, nobody.uid, nobody.gid);

    const sim = spawnChild(
      asUser([
        join(out, 'dist', 'cli.js'),
        'simulate',
        '--listen',
        '127.0.0.1:0',
        '--accounts',
        join(work, 'accounts.yaml'),
        '--token-lifetime',
        '1h',
      ]),
      out,
    );
    const simUrl = await firstLine(sim);
    expect(simUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+/);

    const port = await freePort();
    const config = join(work, 'config.yaml');
    writeFileSync(
      config,
      [
        'storage:',
        `  path: ${join(data, 'keeper.db')}`,
        'dhan:',
        `  authBaseUrl: ${simUrl}`,
        `  apiBaseUrl: ${simUrl}`,
        'server:',
        `  listen: 127.0.0.1:${port}`,
        'accounts:',
        '  - clientId: "1000000001"',
        '    name: main',
        '    pin: "123456"',
        '    totpSecret: JBSWY3DPEHPK3PXP',
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
    const keeper = spawnChild(asUser([join(out, 'dist', 'cli.js'), 'run', '--config', config]), out);
    const logs: string[] = [];
    keeper.stderr?.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
    keeper.stdout?.on('data', (chunk: Buffer) => logs.push(chunk.toString()));

    const deadline = Date.now() + 45_000;
    let last = 'no answer';
    while (Date.now() < deadline) {
      if (keeper.exitCode !== null) throw new Error(`run exited ${keeper.exitCode}:\n${logs.join('')}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`);
        last = `${res.status} ${await res.text()}`;
        if (res.status === 200) break;
      } catch (err) {
        last = String(err);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(last, logs.join('')).toMatch(/^200/);
    // The database was created by the unprivileged user, in its own folder.
    if (asRoot) expect(statSync(join(data, 'keeper.db')).uid).toBe(nobody.uid);

    // The image's HEALTHCHECK, run the same way.
    const [hcCommand, hcArgs] = asUser([join(out, 'dist', 'cli.js'), 'healthcheck', '--config', config]);
    const health = spawnSync(hcCommand, hcArgs, { encoding: 'utf8', cwd: out, timeout: 30_000 });
    expect(health.status, output(health)).toBe(0);

    // What the alert rules and the dashboard query is really served.
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^dhan_token_valid\{client_id="1000000001",name="main"\} 1$/m);
    expect(metrics).toMatch(/^dhan_token_expiry_timestamp_seconds\{client_id="1000000001",name="main"\} \d+/m);

    keeper.kill('SIGTERM');
    const code = await exitCode(keeper, 15_000);
    expect(code, logs.join('')).toBe(0);
    sim.kill('SIGTERM');
  }, 90_000);

  function spawnChild([command, args]: [string, string[]], cwd: string): ChildProcess {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    return child;
  }
});

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    let buffered = '';
    let errors = '';
    child.stderr?.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const newline = buffered.indexOf('\n');
      if (newline !== -1) resolvePromise(buffered.slice(0, newline).trim());
    });
    child.once('exit', (code) => reject(new Error(`exited ${String(code)} before printing a line: ${errors}`)));
    setTimeout(() => reject(new Error(`no first line within 20 s: ${errors}`)), 20_000).unref();
  });
}

function exitCode(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`still running ${timeoutMs} ms after SIGTERM`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolvePromise(code);
    });
  });
}
