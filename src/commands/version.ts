import type { Command } from 'commander';
import { VERSION } from '../version.js';

export function registerVersion(program: Command): void {
  program
    .command('version')
    .description('print the version')
    .action(() => {
      process.stdout.write(`dhan-token-keeper ${VERSION} (node ${process.version})\n`);
    });
}
