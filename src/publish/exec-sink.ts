import type { ExecSinkConfig } from '../config/config.js';
import type { PublishedToken } from '../tokens.js';
import { withRetries } from './retry.js';
import { runHook, type HookRun } from './run-hook.js';
import type { SinkContext } from './sink-context.js';
import type { SinkOutcome } from './sink-result.js';

/**
 * The hook's whole environment. The keeper's own environment may hold the PIN, the TOTP secret
 * or API keys (`${ENV}` references in the config), so nothing else is inherited; the token
 * itself travels on stdin only, since argv and environ are readable by other users via /proc.
 */
function hookEnv(token: PublishedToken): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    DHAN_CLIENT_ID: token.clientId,
    DHAN_TOKEN_EXPIRES_AT: token.expiresAt,
  };
  const path = process.env['PATH'];
  if (path !== undefined) env['PATH'] = path;
  return env;
}

function describeFailure(run: HookRun, config: ExecSinkConfig): string {
  if (run.spawnError !== undefined)
    return `could not start ${config.command[0] ?? '(empty command)'}: ${run.spawnError}`;
  if (run.aborted) return 'stopped: publishing was aborted';
  if (run.timedOut) return `did not finish within ${config.timeoutMs} ms; stopped with ${run.signal ?? 'SIGTERM'}`;
  if (run.signal !== null) return `killed by ${run.signal}`;
  return `exited with code ${run.exitCode ?? 'unknown'}`;
}

/** Runs the hook, retrying a failed one. */
export async function runExecSink(
  config: ExecSinkConfig,
  token: PublishedToken,
  ctx: SinkContext,
): Promise<SinkOutcome> {
  const input = `${JSON.stringify(token)}\n`;
  const env = hookEnv(token);
  const { last, attempts } = await withRetries(ctx.retryDelaysMs, ctx.clock, ctx.signal, async (attempt) => {
    const run = await runHook(config.command, input, env, {
      timeoutMs: config.timeoutMs,
      killGraceMs: ctx.killGraceMs,
      clock: ctx.clock,
      signal: ctx.signal,
      redact: ctx.redact,
      secretLength: token.accessToken.length,
    });
    const ok = run.exitCode === 0 && !run.timedOut && !run.aborted;
    const fields = {
      attempt,
      exitCode: run.exitCode,
      signal: run.signal,
      durationMs: run.durationMs,
      ...(run.stdout === '' ? {} : { stdout: run.stdout }),
      ...(run.stderr === '' ? {} : { stderr: run.stderr }),
    };
    if (ok) ctx.log.debug(fields, 'hook finished');
    else ctx.log.warn({ ...fields, error: describeFailure(run, config) }, 'hook failed');
    return { run, ok, retryable: !run.aborted };
  });
  const exitCode = last.run.exitCode === null ? {} : { exitCode: last.run.exitCode };
  return last.ok
    ? { ok: true, attempts, ...exitCode }
    : { ok: false, attempts, error: describeFailure(last.run, config), ...exitCode };
}
