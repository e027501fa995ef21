import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { startSimulator } from '../../src/sim/index.js';
import type { Simulator } from '../../src/sim/simulator-api.js';
import {
  Children,
  REPO_ROOT,
  configYaml,
  fileSinkYaml,
  readJsonSink,
  startKeeper,
  tempDir,
  waitUntil,
  writeSecretFile,
  type RunningKeeper,
} from '../helpers/cli.js';
import { documentationPages } from '../helpers/docs.js';

/*
 * Every block of the README or a docs/ page marked `<!-- recipe: NAME -->` runs here as written, against a running
 * keeper (issue 14, item 12: a recipe that never got a token went unnoticed). The runner is
 * generic: it finds marked blocks wherever they are, so sections can move or be rewritten.
 * Only the machine-specific values are swapped (the keeper's URL, the key file, the sink path);
 * a recipe then gets a short epilogue that prints the token it ended up with. A marked block
 * without an epilogue here fails the test, so a new recipe cannot go unrun.
 */

const PIN = '493817';
const TOTP_SECRET = 'KRSXG5CTMVRXEZLUKN2XAZLDNFQWY4ZA';
const CLIENT = '1000000001'; // the id the README's recipes use
const BOT_KEY = randomBytes(24).toString('hex');

interface Recipe {
  readonly name: string;
  readonly language: string;
  readonly code: string;
}

export function markedRecipes(markdown: string): Recipe[] {
  const found: Recipe[] = [];
  for (const m of markdown.matchAll(/<!--\s*recipe:\s*([a-z0-9-]+)\s*-->\s*\n```([a-z]+)\n([\s\S]*?)```/g)) {
    found.push({ name: m[1]!, language: m[2]!, code: m[3]! });
  }
  return found;
}

/** The `dhanhq` SDK is not installed in CI: a stand-in with the two names the recipes use. */
const DHANHQ_STAND_IN = `class DhanContext:
    def __init__(self, client_id, access_token):
        self.client_id = client_id
        self.access_token = access_token

class dhanhq:
    def __init__(self, context):
        self.context = context

    def get_fund_limits(self):
        return {"status": "success"}
`;

const EPILOGUES: Record<string, { readonly prologue?: string; readonly epilogue: string }> = {
  'python-long-poll': {
    epilogue: '\nfollower.stop()\nprint("TOKEN", dhan.get().context.access_token)\n',
  },
  'python-env-file': { epilogue: '\nprint("TOKEN", current_token())\n' },
  'typescript-client': {
    prologue: 'const dhan = { setAccessToken: (_token: string): void => undefined };\n',
    epilogue: "\nconsole.log('TOKEN', first.accessToken);\nprocess.exit(0);\n",
  },
};

const children = new Children();
let sim: Simulator;
let keeper: RunningKeeper;
let dir: string;
let keyFile: string;
let envSink: string;

function localise(code: string): string {
  return code
    .replaceAll('http://127.0.0.1:9470', keeper.url)
    .replaceAll('/etc/dhan-token-keeper/bot.key', keyFile)
    .replaceAll('/var/lib/dhan-token-keeper/tokens/main.env', envSink);
}

function run(recipe: Recipe): { status: number | null; stdout: string; stderr: string } {
  const harness = EPILOGUES[recipe.name];
  if (!harness)
    throw new Error(
      `README recipe "${recipe.name}" has no epilogue in test/ops/readme-recipes.test.ts: add one so it runs in CI`,
    );
  const code = `${harness.prologue ?? ''}${localise(recipe.code)}${harness.epilogue}`;
  if (recipe.language === 'python') {
    const folder = mkdtempSync(join(dir, 'py-'));
    writeFileSync(join(folder, 'dhanhq.py'), DHANHQ_STAND_IN);
    writeFileSync(join(folder, 'recipe.py'), code);
    const r = spawnSync('python3', [join(folder, 'recipe.py')], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, PYTHONPATH: [folder, join(REPO_ROOT, 'clients', 'python')].join(':') },
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }
  if (recipe.language === 'ts') {
    // Inside the package, so that `dhan-token-keeper/client` resolves through package.json's exports as it would for a user.
    const folder = join(REPO_ROOT, `.recipe-${process.pid}`);
    mkdirSync(folder, { recursive: true });
    try {
      const js = ts.transpileModule(code, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      }).outputText;
      writeFileSync(join(folder, 'recipe.mjs'), js);
      const r = spawnSync(process.execPath, [join(folder, 'recipe.mjs')], {
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, KEEPER_KEY: BOT_KEY },
      });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  }
  throw new Error(`README recipe "${recipe.name}": no runner for \`${recipe.language}\` blocks`);
}

const recipes = documentationPages().flatMap((page) => markedRecipes(page.text));
const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });

beforeAll(async () => {
  sim = await startSimulator({
    accounts: [{ clientId: CLIENT, pin: PIN, totpSecret: TOTP_SECRET }],
    clock: systemClock,
  });
  dir = tempDir();
  keyFile = writeSecretFile(join(dir, 'bot.key'), `${BOT_KEY}\n`);
  envSink = join(dir, 'tokens', 'main.env');
  const configPath = writeSecretFile(
    join(dir, 'config.yaml'),
    configYaml({
      simUrl: sim.baseUrl,
      serverYaml: `  listen: 127.0.0.1:0\n  apiKeys:\n    - name: bot\n      keyFile: ${keyFile}\n      clients: ["${CLIENT}"]`,
      accounts: [
        {
          clientId: CLIENT,
          name: 'main',
          pin: PIN,
          totpSecret: TOTP_SECRET,
          sinksYaml: fileSinkYaml('./tokens/main.json') + fileSinkYaml('./tokens/main.env', 'env'),
        },
      ],
    }),
  );
  keeper = await startKeeper(children, configPath);
  await waitUntil(() => readJsonSink(join(dir, 'tokens', 'main.json')), { timeoutMs: 30_000, what: 'the first token' });
}, 60_000);

afterAll(async () => {
  await children.killAll();
  await sim?.close();
});

describe('README recipes', () => {
  it('are found by their marker', () => {
    expect(recipes.map((r) => r.name)).toEqual(
      expect.arrayContaining(['python-long-poll', 'python-env-file', 'typescript-client']),
    );
  });

  it.each(recipes.map((r) => [r.name, r] as const))(
    '%s runs as written and gets the live token',
    (name, recipe) => {
      if (recipe.language === 'python' && python.status !== 0) {
        throw new Error(
          `python3 is needed for README recipe ${name} (.ci/run installs it when missing): ${python.stderr || python.error?.message}`,
        );
      }
      const result = run(recipe);
      expect(result.status, `${name}\n${result.stdout}\n${result.stderr}`).toBe(0);
      const live = readJsonSink(join(dir, 'tokens', 'main.json'))?.accessToken;
      expect(result.stdout.trim().split('\n').at(-1)).toBe(`TOKEN ${live}`);
    },
    90_000,
  );
});
