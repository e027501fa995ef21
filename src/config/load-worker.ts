import { parentPort, workerData } from 'node:worker_threads';
import { ConfigError, KeeperError, errorMessage } from '../errors.js';
import { loadConfig } from './load.js';
import type { IsolatedLoadReply, IsolatedLoadRequest } from './load-isolated.js';

/** The thread side of loadConfigIsolated: one load, one reply, then the thread ends. */
const request = workerData as IsolatedLoadRequest;
let reply: IsolatedLoadReply;
try {
  reply = { ok: true, loaded: loadConfig(request.path, request.env, request.options) };
} catch (err) {
  if (err instanceof ConfigError) reply = { ok: false, error: { kind: 'config', problems: [...err.problems] } };
  else if (err instanceof KeeperError)
    reply = { ok: false, error: { kind: 'keeper', code: err.code, message: err.message, hint: err.hint } };
  else reply = { ok: false, error: { kind: 'other', message: errorMessage(err) } };
}
parentPort?.postMessage(reply);
