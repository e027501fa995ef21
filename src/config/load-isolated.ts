import { Worker } from 'node:worker_threads';
import { ConfigError, KeeperError, type KeeperErrorCode } from '../errors.js';
import type { LoadedConfig, LoadOptions } from './load.js';

export interface IsolatedLoadRequest {
  readonly path: string;
  readonly env: NodeJS.ProcessEnv;
  readonly options: LoadOptions;
}

export type IsolatedLoadReply =
  | { readonly ok: true; readonly loaded: LoadedConfig }
  | {
      readonly ok: false;
      readonly error:
        | { readonly kind: 'config'; readonly problems: string[] }
        | {
            readonly kind: 'keeper';
            readonly code: KeeperErrorCode;
            readonly message: string;
            readonly hint: string | undefined;
          }
        | { readonly kind: 'other'; readonly message: string };
    };

/**
 * loadConfig in a worker thread that ends once it has handed back the result, for the daemon.
 * Validating a config needs zod, two YAML parsers and the schema built from them: about 13 MB
 * that a long-running process would keep for nothing, since ES modules are never unloaded. The
 * result is plain data (strings, numbers, arrays), so it crosses threads whole; an error comes
 * back as the same error class with the same text, so exit codes and messages do not change.
 */
export async function loadConfigIsolated(
  path: string,
  env: NodeJS.ProcessEnv,
  options: LoadOptions = {},
): Promise<LoadedConfig> {
  const request: IsolatedLoadRequest = { path, env: { ...env }, options };
  const worker = new Worker(new URL('./load-worker.js', import.meta.url), {
    workerData: request,
    stdout: false,
    stderr: false,
  });
  const reply = await new Promise<IsolatedLoadReply>((resolve, reject) => {
    worker.once('message', (message: IsolatedLoadReply) => resolve(message));
    worker.once('error', reject);
    worker.once('exit', (code) =>
      reject(new Error(`the config loader thread exited (code ${code}) without an answer`)),
    );
  });
  await worker.terminate();
  if (reply.ok) return reply.loaded;
  const { error } = reply;
  if (error.kind === 'config') throw new ConfigError(error.problems);
  if (error.kind === 'keeper')
    throw new KeeperError(error.code, error.message, error.hint === undefined ? undefined : { hint: error.hint });
  throw new Error(error.message);
}
