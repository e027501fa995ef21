import { attentionText } from '../attention.js';
import { tokenFingerprint } from '../token-fingerprint.js';
import type { AccountWorker } from './account-worker.js';
import type { ImportedToken } from './imported-token.js';
import type { RefreshMethod } from './planner.js';

/**
 * What a person asks of one account (`renew`, `generate`, `reset`, `import`), apart from the
 * worker that keeps the account alive by itself: each command checks what a person may do now,
 * then uses the worker's single flight so that it never races an automatic refresh.
 */

/** What a command reports back to the person. */
export interface CommandOutcome {
  readonly ok: boolean;
  readonly message: string;
}

export type AccountCommand =
  { readonly action: 'renew' | 'generate' | 'reset' } | { readonly action: 'import'; readonly token: ImportedToken };

export function runCommand(
  worker: AccountWorker,
  command: AccountCommand,
  signal?: AbortSignal,
): Promise<CommandOutcome> {
  switch (command.action) {
    case 'renew':
    case 'generate':
      return forceRefresh(worker, command.action, signal);
    case 'reset':
      return resetAccount(worker);
    case 'import':
      return adoptToken(worker, command.token, signal);
  }
}

/** `renew CLIENT_ID` / `generate CLIENT_ID`: act now, within Dhan's rules and our safety rules. */
export async function forceRefresh(
  worker: AccountWorker,
  method: RefreshMethod,
  signal?: AbortSignal,
): Promise<CommandOutcome> {
  let outcome: CommandOutcome = { ok: false, message: 'nothing was done' };
  await worker.exclusive(async () => {
    const { clock, generation } = worker.deps;
    const attention = worker.state?.attention ?? null;
    // Refused credentials stop generation only; an account-wide stop stops both.
    if (attention && (method === 'generate' || attention.scope === 'account')) {
      outcome = {
        ok: false,
        message: `needs attention: ${attentionText(attention)}; run \`dhan-token-keeper reset ${worker.clientId}\` first`,
      };
      return;
    }
    const token = worker.current;
    if (method === 'renew' && (!token || token.expiresAt <= clock.now())) {
      outcome = { ok: false, message: 'there is no live token to renew' };
      return;
    }
    if (method === 'generate') {
      if (!worker.canGenerate) {
        outcome = { ok: false, message: 'this account has no PIN and TOTP secret (mode renew-only)' };
        return;
      }
      const wait = worker.generationWaitMs();
      if (wait > 0) {
        outcome = {
          ok: false,
          message: `Dhan allows one generation per ${Math.round(generation.intervalMs / 1000)} s, counted from the last attempt: try again in ${Math.ceil(wait / 1000)} s`,
        };
        return;
      }
    }
    const before = token?.id;
    await worker.perform(method, signal);
    // A renewal that found the token dead (or not renewable) leaves the fallback to the plan:
    // the person asked for a live token, so the request's outcome includes that fallback.
    let fellBack = false;
    const renewed = worker.current;
    if (method === 'renew' && !(renewed && renewed.id !== before) && worker.plan().action === 'generate') {
      fellBack = true;
      await worker.perform('generate', signal);
    }
    const after = worker.current;
    const done = fellBack ? 'renewal refused; generated instead' : method === 'renew' ? 'renewed' : 'generated';
    outcome =
      after && after.id !== before
        ? {
            ok: true,
            message: `${done}: new token ${tokenFingerprint(after.accessToken)} valid until ${new Date(after.expiresAt).toISOString()}`,
          }
        : { ok: false, message: `${method} failed: ${worker.state?.lastResult ?? 'see history'}` };
  });
  return outcome;
}

/**
 * `reset CLIENT_ID`: a person says the cause of a stop is fixed. Everything learned from failures
 * goes with it (the streak of similar answers, the kinds Dhan refused to renew, the credential
 * budget), so that the policy starts over: a stop that needs repeated answers cannot come back at
 * once. Dhan's generation window (lastGenerateAt) is Dhan's, not ours to forget.
 */
export async function resetAccount(worker: AccountWorker): Promise<CommandOutcome> {
  const { clock } = worker.deps;
  // Another keeper may have led until now: the person's reset is about what the database says.
  await worker.load();
  const record = worker.state;
  const was = record?.attention ? attentionText(record.attention) : undefined;
  worker.forgetFailures();
  await worker.inTransaction(async (tx) => {
    await worker.update({ attention: null, consecutiveFailures: 0, renewRefusedKinds: [], generationAttempts: [] }, tx);
    await tx.addEvent({
      clientId: worker.clientId,
      at: clock.now(),
      kind: 'reset',
      result: 'info',
      message: was ? `attention cleared (was: ${was})` : 'state reset',
    });
  });
  worker.log.info('account reset by a person; automatic refresh resumes');
  return { ok: true, message: was ? `reset: automatic refresh resumes (was: ${was})` : 'reset: nothing was blocked' };
}

/**
 * Makes an imported token current, as a renewal would: durable, then published. A fresh token
 * from a person lifts an account-wide stop (in every mode that can renew, the token is a way
 * forward); a stop for refused credentials stays, since the credentials are still wrong.
 */
export async function adoptToken(
  worker: AccountWorker,
  token: ImportedToken,
  signal?: AbortSignal,
): Promise<CommandOutcome> {
  let outcome: CommandOutcome = { ok: false, message: 'nothing was done' };
  await worker.exclusive(async () => {
    const { clock, account } = worker.deps;
    const now = clock.now();
    const before = worker.current;
    const attention = worker.state?.attention ?? null;
    const lifts = attention?.scope === 'account' && account.mode !== 'generate-only';
    const saved = await worker.inTransaction(async (tx) => {
      const t = await tx.saveToken({ clientId: worker.clientId, ...token, obtainedAt: now }, worker.fence());
      await tx.addEvent({
        clientId: worker.clientId,
        at: now,
        kind: 'import',
        result: 'success',
        message: `imported a ${token.source} token ${tokenFingerprint(token.accessToken)}${lifts ? '; attention lifted' : ''}`,
        expiryBefore: before?.expiresAt ?? null,
        expiryAfter: token.expiresAt,
      });
      await worker.update(
        {
          consecutiveFailures: 0,
          lastResult: 'imported',
          lastSuccessAt: now,
          // A new token closes the credential budget's record, as a generated one does.
          generationAttempts: [],
          ...(lifts ? { attention: null } : {}),
        },
        tx,
      );
      return t;
    });
    worker.forgetFailures();
    // A consent account that was waiting for a login has its token now.
    await worker.deps.consentLogin?.requests.clear(worker.clientId, `logged in: a new ${token.source} token arrived`);
    worker.deps.hooks.refreshed(worker.clientId, 'import', 'success');
    worker.afterSwap(saved, 'imported', signal);
    outcome = {
      ok: true,
      message: `imported: token ${tokenFingerprint(saved.accessToken)} valid until ${new Date(saved.expiresAt).toISOString()}`,
    };
  });
  return outcome;
}
