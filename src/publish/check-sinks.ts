import type { AccountConfig, ExecSinkConfig, SinkConfig } from '../config/config.js';
import { errorMessage, KeeperError } from '../errors.js';
import { checkWritable } from './file-sink.js';
import { findExecutable } from './find-executable.js';
import { sinkNames } from './sink-result.js';

export type SinkAccount = Pick<AccountConfig, 'clientId' | 'sinks'>;

async function checkExec(sink: ExecSinkConfig): Promise<string | undefined> {
  const program = sink.command[0];
  if (program === undefined || program === '') return 'the command is empty — give at least the program to run';
  if (await findExecutable(program)) return undefined;
  return program.includes('/')
    ? `${program} is not an executable file — check the path and its x bit`
    : `${program} was not found on PATH — install it or give its absolute path`;
}

async function checkOne(sink: SinkConfig): Promise<string | undefined> {
  try {
    switch (sink.type) {
      case 'file':
        await checkWritable(sink);
        return undefined;
      case 'exec':
        return await checkExec(sink);
      case 'webhook':
        // Not contacted: the receiver may well start after the keeper.
        return undefined;
    }
  } catch (err) {
    const hint = err instanceof KeeperError && err.hint !== undefined ? ` — ${err.hint}` : '';
    return `${errorMessage(err)}${hint}`;
  }
}

/**
 * Start-up checks, so that a sink that cannot work is reported when the keeper starts rather
 * than a day later when the first renewal happens. Returns one line per problem.
 */
export async function checkSinks(accounts: readonly SinkAccount[]): Promise<string[]> {
  const checks = accounts.flatMap((account) => {
    const names = sinkNames(account.sinks);
    return account.sinks.map(async (sink, i) => {
      const problem = await checkOne(sink);
      return problem === undefined
        ? undefined
        : `account ${account.clientId}, sink ${names[i] ?? sink.type}: ${problem}`;
    });
  });
  return (await Promise.all(checks)).filter((p): p is string => p !== undefined);
}
