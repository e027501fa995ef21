import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { documentationPages, pageAnchors, readDoc, section } from '../helpers/docs.js';
import { REPO_ROOT } from '../helpers/repo-root.js';

const root = REPO_ROOT;
const readme = readDoc('README.md');
const cliReference = readDoc('docs/cli.md');
const runbook = readDoc('docs/runbook.md');
const allDocs = documentationPages()
  .map((page) => page.text)
  .join('\n');
const cli = join(root, 'dist', 'cli.js');
const RUNBOOK_PAGE = 'https://github.com/dhan-token-keeper/dhan-token-keeper/blob/main/docs/runbook.md#';

/** Every `dhan-token-keeper <command> …` a page shows a user, in code blocks and tables. */
function documentedInvocations(markdown: string): Array<{ command: string; flags: string[] }> {
  const found = new Map<string, Set<string>>();
  // Only what a user would type: fenced blocks and inline code, not prose.
  const code = [...markdown.matchAll(/```[a-z]*\n([\s\S]*?)```/g), ...markdown.matchAll(/`([^`\n]+)`/g)]
    .map((m) => m[1]!)
    .join('\n');
  for (const match of code.matchAll(/dhan-token-keeper ([a-z][a-z-]+)([^\n`|]*)/g)) {
    const command = match[1]!;
    if (command === 'run' && match[0].includes('.service')) continue;
    const flags = found.get(command) ?? new Set<string>();
    for (const flag of (match[2] ?? '').matchAll(/--[a-z][a-z-]*/g)) flags.add(flag[0]);
    found.set(command, flags);
  }
  // Names that follow "dhan-token-keeper" but are not commands (paths, the unit, the image, and
  // the container's own name in `docker exec dhan-token-keeper dhan-token-keeper status`).
  for (const notCommand of ['user', 'service', 'dhan-token-keeper']) found.delete(notCommand);
  return [...found].map(([command, flags]) => ({ command, flags: [...flags] }));
}

function help(command: string): { status: number | null; text: string } {
  const r = spawnSync(process.execPath, [cli, command, '--help'], { encoding: 'utf8' });
  return { status: r.status, text: r.stdout + r.stderr };
}

describe('README and docs/', () => {
  const invocations = documentedInvocations(allDocs);

  it('documents each command of the CLI in its reference, docs/cli.md', () => {
    const commands = documentedInvocations(cliReference).map((i) => i.command);
    for (const c of [
      'run',
      'status',
      'token',
      'history',
      'import',
      'renew',
      'generate',
      'reset',
      'check-config',
      'demo',
      'simulate',
      'healthcheck',
      'version',
      'login',
      'notify-test',
      'migrate-storage',
      'rotate-key',
    ]) {
      expect(commands).toContain(c);
    }
  });

  it.each(invocations.map((i) => [i.command, i.flags] as const))(
    '`%s` exists with the flags the docs use',
    (command, flags) => {
      const { status, text } = help(command);
      expect(status, text).toBe(0);
      // commander prints the program's help for an unknown word followed by --help: insist on the subcommand's own.
      expect(text).toContain(`Usage: dhan-token-keeper ${command}`);
      for (const flag of flags) expect(text, `${command} ${flag}`).toContain(flag);
    },
  );

  it('names every alert of deploy/prometheus/alerts.yml with a runbook section its runbook_url points at', () => {
    const alerts = readFileSync(join(root, 'deploy/prometheus/alerts.yml'), 'utf8');
    const urls = [...alerts.matchAll(/runbook_url: "([^"]*)"/g)].map((m) => m[1]!);
    expect(urls.length).toBeGreaterThanOrEqual(6);
    for (const url of urls) {
      expect(url.startsWith(RUNBOOK_PAGE), url).toBe(true);
      expect(runbook).toMatch(new RegExp(`^## ${url.slice(RUNBOOK_PAGE.length)}$`, 'm'));
    }
  });

  it("keeps the README's old runbook anchors, which alert rules of older releases point at", () => {
    const alerts = readFileSync(join(root, 'deploy/prometheus/alerts.yml'), 'utf8');
    const anchors = [...alerts.matchAll(/runbook_url: "[^"#]*#([a-z-]+)"/g)].map((m) => m[1]!);
    const kept = pageAnchors(readme);
    for (const anchor of [...anchors, 'runbook']) expect(kept, anchor).toContain(anchor);
  });

  it('lists every dependency of package.json in the Dependencies section of docs/development.md', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const dependencies = section(readDoc('docs/development.md'), 'Dependencies');
    for (const name of Object.keys(pkg.dependencies)) expect(dependencies).toContain(`\`${name}\``);
  });
});
