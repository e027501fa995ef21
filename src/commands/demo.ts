import { Option, type Command } from 'commander';
import { durationOption } from './options.js';
import { waitForShutdownSignal } from './signals.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('watch the keeper work against a simulated Dhan with short-lived tokens (nothing real is contacted)')
    // Help shows defaults as a person writes them, not as milliseconds.
    .addOption(
      new Option('--token-lifetime <duration>', 'lifetime of the simulated tokens')
        .argParser(durationOption)
        .default(120_000, '2m'),
    )
    .option('--duration <duration>', 'stop by itself after this long (default: until Ctrl-C)', durationOption)
    .action(async (opts: { tokenLifetime: number; duration?: number }) => {
      // Loaded here, not with the CLI: the daemon never needs the demo or the simulator in its memory.
      const { startDemo } = await import('../demo.js');
      const demo = await startDemo({
        tokenLifetimeMs: opts.tokenLifetime,
        print: (line) => process.stdout.write(`${line}\n`),
      });
      const stopAfter =
        opts.duration === undefined
          ? undefined
          : new Promise<void>((resolve) => setTimeout(resolve, opts.duration).unref());
      await Promise.race([waitForShutdownSignal(), ...(stopAfter ? [stopAfter] : [])]);
      await demo.stop();
      process.stdout.write(`demo: stopped; the data folder ${demo.dataDir} is left for you to look at\n`);
    });
}
