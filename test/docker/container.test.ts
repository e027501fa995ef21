import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { systemClock } from '../../src/clock.js';
import { startSimulator } from '../../src/sim/index.js';
import type { Simulator } from '../../src/sim/simulator-api.js';
import { REPO_ROOT, callsOf, sleep, tempDir, waitUntil } from '../helpers/cli.js';
import { freePort } from '../helpers/http.js';

/*
 * The image, built and run for real (issue 33): the README's Docker commands as written, then
 * the keeper in its container beside a bot container, against the simulator on the host. Only
 * the machine-specific values are swapped (names made unique, the base images, the port mapping:
 * see `localise`); a swap that no longer matches the README fails the test.
 *
 * It needs a Docker daemon and runs only when DTK_DOCKER_TEST=1: scripts/test-docker.sh starts a
 * daemon of its own (no bridge, so the containers use the host's network and reach the simulator
 * on 127.0.0.1), builds the base images and sets the variables. Real time throughout: dockerd,
 * the containers and the keeper's own timers.
 */

const ENABLED = process.env['DTK_DOCKER_TEST'] === '1';
/** Base images from scripts/build-base-image.sh; unset: the Dockerfile's registry defaults. */
const NODE_IMAGE = process.env['DTK_NODE_IMAGE'];
const BUILD_IMAGE = process.env['DTK_BUILD_IMAGE'];

const PIN = '493817';
const TOTP_SECRET = 'KRSXG5CTMVRXEZLUKN2XAZLDNFQWY4ZA';
const BOT_KEY = 'docker-bot-key-5e1f9a7c3b2d48e6a0c4f1b9';
const CLIENT = '1000000001'; // deploy/keeper/config.yaml's account
/** Long enough that a container can be stopped and replaced between two renewals on a busy machine. */
const LIFETIME_MS = 120_000;
const HEALTH_INTERVAL_S = 1;
const STOP_GRACE_S = 30;
const NODE_VERSION = readFileSync(join(REPO_ROOT, '.node-version'), 'utf8').trim();

const run = `dtk-test-${process.pid}`;
const names = {
  image: `${run}:latest`,
  keeper: `${run}-keeper`,
  bot: `${run}-bot`,
  data: `${run}-data`,
  tokens: `${run}-tokens`,
};

function output(r: SpawnSyncReturns<string>): string {
  return `exit ${String(r.status)}${r.error ? ` (${r.error.message})` : ''}\n${r.stdout}${r.stderr}`;
}

function docker(args: readonly string[], timeoutMs = 120_000): string {
  const r = spawnSync('docker', args, { encoding: 'utf8', timeout: timeoutMs });
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${output(r)}`);
  return r.stdout;
}

function sh(
  script: string,
  cwd: string,
  env: Record<string, string> = {},
  timeoutMs = 120_000,
): SpawnSyncReturns<string> {
  return spawnSync('bash', ['-euo', 'pipefail', '-c', script], {
    cwd,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, ...env },
  });
}

/** The shell block marked `<!-- docker: NAME -->` in the README or a page of docs/. */
function documentedBlock(name: string): string {
  const pages = [
    join(REPO_ROOT, 'README.md'),
    ...readdirSync(join(REPO_ROOT, 'docs')).map((f) => join(REPO_ROOT, 'docs', f)),
  ];
  for (const page of pages.filter((p) => p.endsWith('.md'))) {
    const m = new RegExp(`<!--\\s*docker:\\s*${name}\\s*-->\\s*\\n\`\`\`sh\\n([\\s\\S]*?)\`\`\``).exec(
      readFileSync(page, 'utf8'),
    );
    if (m) return m[1]!;
  }
  throw new Error(`no block marked <!-- docker: ${name} --> in README.md or docs/`);
}

type Swap = readonly [RegExp, string];

/** Names made unique to this run, wherever a block uses them. */
const NAME_SWAPS: readonly Swap[] = [
  [/\bdtk-data\b/g, names.data],
  [/\bdtk-tokens\b/g, names.tokens],
  [/(--name |name=|docker (?:exec|stop|start|rm|logs|inspect) )dhan-token-keeper\b(?![:-])/g, `$1${names.keeper}`],
  [/\bmy-bot\b/g, names.bot],
];

/**
 * The README's commands with this machine's values: first the `required` swaps, each of which
 * must apply (one that no longer matches means the README changed, and this test must follow
 * it), then the unique names.
 */
function localise(name: string, required: readonly Swap[]): string {
  let text = documentedBlock(name);
  for (const [pattern, replacement] of required) {
    if (!new RegExp(pattern.source, pattern.flags.replace('g', '')).test(text))
      throw new Error(`README block "${name}" no longer matches ${String(pattern)}: update test/docker`);
    text = text.replace(pattern, replacement);
  }
  for (const [pattern, replacement] of NAME_SWAPS) text = text.replace(pattern, replacement);
  return text;
}

function fingerprint(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 12);
}

interface Health {
  readonly Status: string;
  readonly Log?: readonly { readonly ExitCode: number; readonly Output: string }[];
}
function health(container: string): Health {
  return JSON.parse(docker(['inspect', '-f', '{{json .State.Health}}', container])) as Health;
}

/** Every line a container printed, with the moment dockerd received it. */
function logLines(container: string): { at: number; line: string }[] {
  return docker(['logs', '--timestamps', container])
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const space = l.indexOf(' ');
      return { at: Date.parse(l.slice(0, space)), line: l.slice(space + 1) };
    });
}

describe.skipIf(!ENABLED)(
  'the image, built and run as the README says',
  () => {
    let sim: Simulator;
    let dir: string;
    let deploy: string;
    let port: number;
    let image = '';
    /** What the keeper served before it was stopped. */
    let before: { accessToken: string; generations: number } | undefined;

    async function served(): Promise<{
      status: number;
      accessToken?: string;
      obtainedAt?: string;
      expiresAt?: string;
    }> {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/v1/tokens/${CLIENT}`, {
          headers: { authorization: `Bearer ${BOT_KEY}` },
        });
        if (res.status !== 200) {
          await res.body?.cancel();
          return { status: res.status };
        }
        return {
          status: 200,
          ...((await res.json()) as { accessToken: string; obtainedAt: string; expiresAt: string }),
        };
      } catch {
        return { status: 0 };
      }
    }

    /** This machine's base images (no registry) and the host's network (no bridge) for the build. */
    function buildSwaps(): Swap[] {
      const args = [
        '--network host',
        ...(NODE_IMAGE ? [`--build-arg NODE_IMAGE=${NODE_IMAGE}`] : []),
        ...(BUILD_IMAGE ? [`--build-arg BUILD_IMAGE=${BUILD_IMAGE}`] : []),
      ].join(' ');
      return [[/^docker build -t dhan-token-keeper:local \.$/m, `docker build ${args} -t ${names.image} .`]];
    }

    function keeperSwaps(): Swap[] {
      return [
        [/\bsudo /g, ''],
        // No bridge on CI's daemon: the host's network, where the simulator is. Health checks
        // every second instead of every 30 s; the check itself stays the image's.
        [/-p 127\.0\.0\.1:9470:9470/, `--network host --health-interval ${HEALTH_INTERVAL_S}s`],
        [/ dhan-token-keeper:local$/m, ` ${names.image}`],
      ];
    }

    function keeperLogs(): string {
      const r = spawnSync('docker', ['logs', names.keeper], { encoding: 'utf8' });
      return r.stdout + r.stderr;
    }

    beforeAll(async () => {
      sim = await startSimulator({
        accounts: [{ clientId: CLIENT, pin: PIN, totpSecret: TOTP_SECRET }],
        clock: systemClock,
        tokenLifetimeMs: LIFETIME_MS,
      });
      port = await freePort();
      // A copy of deploy/ as the README has the user fill it in: the shipped config, with this
      // machine's Dhan (the simulator) and listen address (the host's loopback: no bridge here).
      dir = tempDir('dtk-docker-');
      chmodSync(dir, 0o755);
      deploy = join(dir, 'deploy');
      for (const sub of ['keeper', 'secrets', 'bot']) mkdirSync(join(deploy, sub), { recursive: true, mode: 0o755 });
      const config = parseDocument(readFileSync(join(REPO_ROOT, 'deploy', 'keeper', 'config.yaml'), 'utf8'));
      config.set('dhan', { authBaseUrl: sim.baseUrl, apiBaseUrl: sim.baseUrl });
      config.setIn(['server', 'listen'], `127.0.0.1:${port}`);
      writeFileSync(join(deploy, 'keeper', 'config.yaml'), config.toString(), { mode: 0o644 });
      for (const [file, value] of [
        ['dhan_pin', PIN],
        ['dhan_totp_secret', TOTP_SECRET],
        ['bot_api_key', BOT_KEY],
      ] as const) {
        copyFileSync(
          join(REPO_ROOT, 'deploy', 'secrets', `${file}.example`),
          join(deploy, 'secrets', `${file}.example`),
        );
        writeFileSync(join(deploy, 'secrets', file), `${value}\n`, { mode: 0o600 });
      }
      copyFileSync(join(REPO_ROOT, 'deploy', 'bot', 'bot.py'), join(deploy, 'bot', 'bot.py'));
      chownSync(join(deploy, 'secrets'), 0, 0);
    });

    afterAll(async () => {
      for (const container of [names.keeper, names.bot]) spawnSync('docker', ['rm', '-f', container]);
      for (const volume of [names.data, names.tokens]) spawnSync('docker', ['volume', 'rm', '-f', volume]);
      if (image !== '') spawnSync('docker', ['rmi', '-f', image]);
      await sim?.close();
    }, 300_000);

    it(
      'builds with the legacy builder, ships the pinned Node, and leaves the build leftovers out',
      () => {
        const started = Date.now();
        // DOCKER_BUILDKIT=0: the legacy builder, the one Debian's docker.io has without buildx.
        const built = sh(localise('build', buildSwaps()), REPO_ROOT, { DOCKER_BUILDKIT: '0' }, 20 * 60_000);
        expect(built.status, output(built)).toBe(0);
        image = names.image;
        const size = Number(docker(['image', 'inspect', '-f', '{{.Size}}', image]).trim());
        process.stdout.write(
          `docker: legacy build in ${Math.round((Date.now() - started) / 1000)} s; image ${(size / 1e6).toFixed(0)} MB\n`,
        );

        const config = JSON.parse(docker(['image', 'inspect', '-f', '{{json .Config}}', image])) as {
          User: string;
          Healthcheck: { Test: string[] };
          Volumes: Record<string, unknown>;
        };
        expect(config.User).toBe('node');
        expect(config.Healthcheck.Test).toEqual([
          'CMD',
          'node',
          'dist/cli.js',
          'healthcheck',
          '--ready',
          '--config',
          '/config/config.yaml',
        ]);
        expect(Object.keys(config.Volumes)).toEqual(['/data']);

        const inside = docker([
          'run',
          '--rm',
          '--network',
          'none',
          '--entrypoint',
          'node',
          image,
          '-e',
          `const fs = require('node:fs');
       const addon = 'node_modules/better-sqlite3';
       console.log(JSON.stringify({ node: process.version, uid: process.getuid(), addon: fs.readdirSync(addon).sort(),
         build: fs.readdirSync(addon + '/build/Release'), app: fs.readdirSync('.').sort() }));`,
        ]);
        const seen = JSON.parse(inside) as {
          node: string;
          uid: number;
          addon: string[];
          build: string[];
          app: string[];
        };
        expect(seen.node).toBe(`v${NODE_VERSION}`);
        expect(seen.uid).toBe(1000);
        expect(seen.build).toEqual(['better_sqlite3.node']);
        for (const leftover of ['deps', 'src', 'binding.gyp']) expect(seen.addon, leftover).not.toContain(leftover);
        expect(seen.app).not.toContain('src');
      },
      21 * 60_000,
    );

    it('runs the keeper read-only as a non-root user with the volumes, config and secrets, and it generates', async () => {
      expect(image, 'the image was built').not.toBe('');
      const started = sh(localise('keeper', keeperSwaps()), dir);
      expect(started.status, output(started)).toBe(0);

      const token = await waitUntil(async () => (await served()).accessToken, {
        timeoutMs: 60_000,
        what: 'a token from the container',
      });
      expect(sim.isLive(token)).toBe(true);
      expect(callsOf(sim.stats(), CLIENT).generate).toBe(1);

      const state = JSON.parse(docker(['inspect', '-f', '{{json .}}', names.keeper])) as {
        HostConfig: { ReadonlyRootfs: boolean; Init: boolean; CapDrop: string[] };
        Config: { User: string; StopTimeout: number };
      };
      expect(state.HostConfig.ReadonlyRootfs).toBe(true);
      expect(state.HostConfig.Init).toBe(true);
      expect(state.Config.StopTimeout).toBe(STOP_GRACE_S);
      // The keeper's own process (beside docker-init) and what it wrote.
      const processes = docker(['top', names.keeper, '-o', 'pid,uid,args']);
      expect(processes).toMatch(/^\s*\d+\s+1000\s+node dist\/cli\.js run --config \/config\/config\.yaml$/m);
      const owners = docker([
        'exec',
        names.keeper,
        'stat',
        '-c',
        '%u:%g %a %n',
        '/data/keeper.db',
        '/data/tokens/main.env',
      ]);
      expect(owners).toMatch(/^1000:1000 \d+ \/data\/keeper\.db$/m);
      expect(owners).toMatch(/^1000:1000 640 \/data\/tokens\/main\.env$/m);
      // /tmp is everyone's to write in the image: only the read-only root file system refuses.
      const writeOutside = spawnSync('docker', ['exec', names.keeper, 'touch', '/tmp/x'], { encoding: 'utf8' });
      expect(writeOutside.stderr).toMatch(/Read-only file system/);
    }, 120_000);

    it("hands the token to a bot container through the shared volume, the README's way", async () => {
      const script = localise('bot', [
        // No registry here: the build stage's base image has python3 too.
        [/python:3\.12\.8-slim-bookworm/, BUILD_IMAGE ?? `node:${NODE_VERSION}-bookworm`],
      ]);
      const started = sh(script, dir);
      expect(started.status, output(started)).toBe(0);
      const token = (await served()).accessToken!;
      await waitUntil(() => logLines(names.bot).some((l) => l.line.includes(`fingerprint ${fingerprint(token)}`)), {
        timeoutMs: 30_000,
        what: "the bot's line with the token's fingerprint",
      });
    }, 60_000);

    it("reports healthy through the image's healthcheck, and answers the README's status commands", async () => {
      await waitUntil(() => health(names.keeper).Status === 'healthy', { timeoutMs: 60_000, what: 'healthy' });
      const status = sh(localise('status', []), dir);
      expect(status.status, output(status)).toBe(0);
      expect(status.stdout).toMatch(/\(healthy\)/);
      expect(status.stdout).toMatch(new RegExp(`${CLIENT}.*valid`));
    }, 90_000);

    it(
      'renews, and the bot reads the new token within a second of the swap',
      async () => {
        const first = (await served()).accessToken!;
        const renewed = await waitUntil(
          async () => {
            const now = await served();
            return now.accessToken !== undefined && now.accessToken !== first ? now : undefined;
          },
          { timeoutMs: LIFETIME_MS + 30_000, what: 'a renewed token' },
        );
        expect(callsOf(sim.stats(), CLIENT).renew).toBeGreaterThanOrEqual(1);
        expect(callsOf(sim.stats(), CLIENT).generate).toBe(1);
        // The swap as the bot can see it: the moment the keeper replaced the file on the shared volume.
        const swappedAt = Number(
          docker(['exec', names.keeper, 'date', '-r', '/data/tokens/main.env', '+%s%3N']).trim(),
        );
        const seen = await waitUntil(
          () => logLines(names.bot).find((l) => l.line.includes(`fingerprint ${fingerprint(renewed.accessToken!)}`)),
          { timeoutMs: 10_000, what: 'the bot seeing the renewed token' },
        );
        process.stdout.write(
          `docker: the bot read the renewed token ${seen.at - swappedAt} ms after the swap ` +
            `(${seen.at - Date.parse(renewed.obtainedAt!)} ms after the keeper had it from Dhan)\n`,
        );
        expect(seen.at - swappedAt).toBeLessThan(1_000);
      },
      LIFETIME_MS + 60_000,
    );

    it(
      'stops cleanly within the grace period; a new container on the same volumes serves the same token, no generation',
      async () => {
        const token = (await served()).accessToken!;
        const generations = callsOf(sim.stats(), CLIENT).generate;
        const renewals = callsOf(sim.stats(), CLIENT).renew;
        before = { accessToken: token, generations };
        const stopping = Date.now();
        docker(['stop', names.keeper], (STOP_GRACE_S + 30) * 1000);
        const stoppedInMs = Date.now() - stopping;
        const exit = JSON.parse(docker(['inspect', '-f', '{{json .State}}', names.keeper])) as {
          ExitCode: number;
          OOMKilled: boolean;
        };
        process.stdout.write(`docker: stopped in ${stoppedInMs} ms, exit code ${exit.ExitCode}\n`);
        // SIGTERM handled: exit 0 well within the grace period, never the SIGKILL at its end (137).
        expect(exit.ExitCode).toBe(0);
        expect(stoppedInMs).toBeLessThan((STOP_GRACE_S - 10) * 1000);
        expect(keeperLogs()).toMatch(/"msg":"dhan-token-keeper stopped"/);

        // The README's upgrade: a new image, the old container removed, the same docker run again.
        const upgrading = Date.now();
        const upgraded = sh(localise('upgrade', buildSwaps()), REPO_ROOT, { DOCKER_BUILDKIT: '0' }, 10 * 60_000);
        expect(upgraded.status, output(upgraded)).toBe(0);
        const replacing = Date.now();
        const again = sh(localise('keeper', keeperSwaps()), dir);
        expect(again.status, output(again)).toBe(0);
        process.stdout.write(
          `docker: the upgrade block took ${replacing - upgrading} ms, the new container ${Date.now() - replacing} ms\n`,
        );
        const afterwards = await waitUntil(async () => (await served()).accessToken, {
          timeoutMs: 60_000,
          what: 'a token from the new container',
        });
        expect(callsOf(sim.stats(), CLIENT).renew, 'a renewal fell between stop and start: lengthen LIFETIME_MS').toBe(
          renewals,
        );
        expect(afterwards).toBe(token);
        expect(callsOf(sim.stats(), CLIENT).generate).toBe(generations);
        expect(sim.isLive(token)).toBe(true);
      },
      15 * 60_000,
    );

    it(
      "turns unhealthy once Dhan has been gone for longer than the token's life",
      async () => {
        expect(before, 'the previous test ran').toBeDefined();
        await waitUntil(() => health(names.keeper).Status === 'healthy', { timeoutMs: 60_000, what: 'healthy again' });
        const { expiresAt } = await served();
        const expiry = Date.parse(expiresAt!);
        await sim.close();
        // Healthy while the token lives: a Dhan outage alone is not the keeper's failure.
        while (Date.now() < expiry - 3_000) {
          expect(health(names.keeper).Status).toBe('healthy');
          await sleep(2_000);
        }
        await waitUntil(() => health(names.keeper).Status === 'unhealthy', {
          timeoutMs: 30_000,
          what: 'unhealthy after the token expired',
        });
        const last = health(names.keeper).Log?.at(-1);
        expect(last?.ExitCode).toBe(1);
        expect(last?.Output).toMatch(/readyz answered 503/);
        // Nothing secret in what Docker kept: the logs of both containers, their settings, the checks.
        const kept = [keeperLogs(), docker(['logs', names.bot]), docker(['inspect', names.keeper, names.bot])].join(
          '\n',
        );
        for (const secret of [PIN, TOTP_SECRET, BOT_KEY, before!.accessToken]) expect(kept).not.toContain(secret);
      },
      LIFETIME_MS + 90_000,
    );
  },
  30 * 60_000,
);
