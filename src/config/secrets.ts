import { at, type Ctx } from './context.js';
import { UNRESOLVED } from './env.js';
import { isAbsent, kindOf, string, type Obj } from './fields.js';
import { readSecretFile, resolvePath } from './files.js';

export type Secret =
  | { readonly state: 'absent' }
  /** Given but unusable; the problem is already reported. */
  | { readonly state: 'invalid' }
  | {
      readonly state: 'ok';
      readonly value: string;
      /** The key path it came from, for messages about it. */
      readonly path: string;
      /** Written as a YAML number: leading zeros are already lost. */
      readonly wasNumber: boolean;
    };

/**
 * A secret given either inline (`pin`, usually `${ENV}`) or in a file (`pinFile`), never
 * both. Messages never include the value.
 */
export function readSecret(ctx: Ctx, obj: Obj, path: string, key: string, fileKey: string): Secret {
  const inline = obj[key];
  const fromFile = obj[fileKey];
  const keyPath = at(path, key);
  const fileKeyPath = at(path, fileKey);
  if (!isAbsent(inline) && !isAbsent(fromFile)) {
    ctx.problems.error(keyPath, `both ${key} and ${fileKey} are set — keep only one`);
    return { state: 'invalid' };
  }
  if (!isAbsent(fromFile)) {
    const file = string(ctx, fileKeyPath, fromFile);
    if (file === undefined) return { state: 'invalid' };
    const value = readSecretFile(ctx, fileKeyPath, resolvePath(ctx, file));
    if (value === undefined) return { state: 'invalid' };
    if (value === '') {
      ctx.problems.error(fileKeyPath, `${resolvePath(ctx, file)}: is empty — write the secret into it`);
      return { state: 'invalid' };
    }
    return { state: 'ok', value, path: fileKeyPath, wasNumber: false };
  }
  if (isAbsent(inline)) return { state: 'absent' };
  if (inline === UNRESOLVED) return { state: 'invalid' };
  if (typeof inline === 'number' && Number.isSafeInteger(inline) && inline >= 0) {
    return { state: 'ok', value: String(inline), path: keyPath, wasNumber: true };
  }
  if (typeof inline !== 'string') {
    ctx.problems.error(keyPath, `must be a string, not ${kindOf(inline)}`);
    return { state: 'invalid' };
  }
  const value = inline.trim();
  if (value === '') {
    ctx.problems.error(keyPath, `is empty — set it, or use ${fileKey}`);
    return { state: 'invalid' };
  }
  return { state: 'ok', value, path: keyPath, wasNumber: false };
}
