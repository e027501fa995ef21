import type { Command } from 'commander';
import { KeeperError } from '../errors.js';
import { startDaemon } from '../keeper/daemon.js';
import { createLogger } from '../log.js';
import { pinTickObjectShape } from '../tick-shape.js';
import { setDaemonV8Flags } from '../v8-flags.js';
import { loadCommandConfig, withConfigOption, type ConfigOption } from './command-config.js';
import { waitForShutdownSignal } from './signals.js';

/** systemd's default TimeoutStopSec is 90 s; we promise far less so that restarts stay quick. */
const STOP_DEADLINE_MS = 10_000;

export function registerRun(program: Command): void {
  withConfigOption(
    program.command('run').description("run the keeper: keep every account's token alive, serve it, expose metrics"),
  ).action(async (opts: ConfigOption) => {
    setDaemonV8Flags();
    pinTickObjectShape();
    const config = await loadCommandConfig(opts, { isolated: true });
    const log = createLogger({ level: config.log.level });
    const daemon = await startDaemon(config, { log });
    const reason = await Promise.race([
      waitForShutdownSignal().then((signal) => ({ signal })),
      daemon.leaseLost.then(() => ({ signal: undefined })),
    ]);
    log.info({ signal: reason.signal ?? 'lease lost' }, 'stopping');
    const deadline = setTimeout(() => {
      log.fatal(`stopping took longer than ${STOP_DEADLINE_MS / 1000} s; exiting anyway`);
      process.exit(1);
    }, STOP_DEADLINE_MS);
    deadline.unref();
    await daemon.stop();
    clearTimeout(deadline);
    if (reason.signal === undefined)
      throw new KeeperError('lease-lost', 'another keeper took over the database; this one stopped');
  });
}
