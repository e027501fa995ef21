import type { Command } from 'commander';
import { redactUrl } from '../store/postgres/connection.js';
import { UsageError } from '../errors.js';

interface MigrateOptions {
  from: string;
  to: string;
  schema?: string;
  overwrite?: boolean;
}

function postgresUrl(value: string): string {
  if (!/^postgres(ql)?:\/\//.test(value)) {
    throw new UsageError(`--to: expected a postgres://user@host:5432/database URL, got ${redactUrl(value)}`, {
      hint: 'give the password through PGPASSWORD rather than in the URL, where ps would show it',
    });
  }
  return value;
}

export function registerMigrateStorage(program: Command): void {
  program
    .command('migrate-storage')
    .description(
      'copy a SQLite database (tokens, history, learned facts, attention, requests) into PostgreSQL and verify the copy; stop the keeper first',
    )
    .requiredOption('--from <path>', 'the SQLite database (storage.path)')
    .requiredOption('--to <url>', 'postgres://user@host:5432/database (password from PGPASSWORD)')
    .option('--schema <name>', "the schema to copy into (created if missing); default: the server's search_path")
    .option('--overwrite', 'replace what the target already holds (otherwise a non-empty target is refused)')
    .action(async (opts: MigrateOptions) => {
      const url = postgresUrl(opts.to);
      // node-postgres loads for this command only, not for every command the CLI runs.
      const { migrateStorage } = await import('../store/postgres/migrate-storage.js');
      const reports = await migrateStorage({
        from: opts.from,
        to: { connectionString: url },
        schema: opts.schema,
        overwrite: opts.overwrite === true,
      });
      for (const r of reports) process.stdout.write(`${r.table}: ${r.source} row(s) copied, ${r.target} verified\n`);
      process.stdout.write(
        `copied ${opts.from} to ${redactUrl(url)}${opts.schema === undefined ? '' : ` (schema ${opts.schema})`}: every row's checksum matches\n`,
      );
    });
}
