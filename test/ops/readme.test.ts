import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/repo-root.js';

const root = REPO_ROOT;
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const cli = join(root, 'dist', 'cli.js');

/** Every `dhan-token-keeper <command> …` the README shows a user, in code blocks and tables. */
function documentedInvocations(): Array<{ command: string; flags: string[] }> {
  const found = new Map<string, Set<string>>();
  // Only what a user would type: fenced blocks and inline code, not prose.
  const code = [...readme.matchAll(/```[a-z]*\n([\s\S]*?)```/g), ...readme.matchAll(/`([^`\n]+)`/g)]
    .map((m) => m[1]!)
    .join('\n');
  for (const match of code.matchAll(/dhan-token-keeper ([a-z][a-z-]+)([^\n`|]*)/g)) {
    const command = match[1]!;
    if (command === 'run' && match[0].includes('.service')) continue;
    const flags = found.get(command) ?? new Set<string>();
    for (const flag of (match[2] ?? '').matchAll(/--[a-z][a-z-]*/g)) flags.add(flag[0]);
    found.set(command, flags);
  }
  // Names that follow "dhan-token-keeper" but are not commands (paths, the unit, the image).
  for (const notCommand of ['user', 'service']) found.delete(notCommand);
  return [...found].map(([command, flags]) => ({ command, flags: [...flags] }));
}

function help(command: string): { status: number | null; text: string } {
  const r = spawnSync(process.execPath, [cli, command, '--help'], { encoding: 'utf8' });
  return { status: r.status, text: r.stdout + r.stderr };
}

describe('README', () => {
  const invocations = documentedInvocations();

  it('documents each command of the CLI', () => {
    const commands = invocations.map((i) => i.command);
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
    ]) {
      expect(commands).toContain(c);
    }
  });

  it.each(invocations.map((i) => [i.command, i.flags] as const))(
    '`%s` exists with the flags the README uses',
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
    const anchors = [...alerts.matchAll(/runbook_url: "[^"#]*#([a-z-]+)"/g)].map((m) => m[1]!);
    expect(anchors.length).toBeGreaterThanOrEqual(6);
    for (const anchor of anchors) expect(readme).toContain(`### ${anchor}`);
  });

  it('lists every dependency of package.json in its Dependencies section', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const section = readme.slice(readme.indexOf('## Dependencies'));
    for (const name of Object.keys(pkg.dependencies)) expect(section).toContain(`\`${name}\``);
  });
});
