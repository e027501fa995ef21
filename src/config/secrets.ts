import { z } from 'zod';
import { at, type Ctx, type Warn } from './problems.js';
import { readSecretFile, resolvePath, looseModeWarning } from './files.js';
import { fail, isObject, kindOf } from './issues.js';
import { text } from './values.js';

/*
 * Every secret has a twin that reads it from a file: `pin`/`pinFile`, `key`/`keyFile`… Give one
 * of the two. Messages never include the value.
 */

export interface Secret {
  readonly value: string;
  /** For a file that group or others can open: worth a warning, not a refusal. */
  readonly looseMode: string | undefined;
}

/** The secret's text, normalised, or what is wrong with it. */
export type SecretRule = (value: string, wasNumber: boolean) => string | { readonly problem: string };

const asIs: SecretRule = (value) => value;

/** Stands for a secret given both inline and in a file; see `twins`. */
const BOTH: unique symbol = Symbol('both');

/**
 * Given both twins, the file is left unread and the inline key reports the clash, once, in its
 * own place among the problems (not about a file that may never have been meant).
 */
export function twins<T extends z.ZodType>(pairs: readonly (readonly [key: string, fileKey: string])[], schema: T) {
  return z.preprocess((input) => {
    if (!isObject(input)) return input;
    const out = { ...input };
    for (const [key, fileKey] of pairs) {
      if (out[key] === undefined || out[fileKey] === undefined) continue;
      out[key] = BOTH;
      out[fileKey] = undefined;
    }
    return out;
  }, schema);
}

/** A secret written into the config, usually as `${ENV}`. */
export function inlineSecret(key: string, fileKey: string, rule: SecretRule = asIs) {
  return z
    .union([z.string(), z.number()], {
      error: (issue) =>
        issue.input === BOTH
          ? `both ${key} and ${fileKey} are set — keep only one`
          : `must be a string, not ${kindOf(issue.input)}`,
    })
    .transform((raw, ctx): Secret => {
      // Written as a YAML number, its leading zeros are already lost.
      const wasNumber = typeof raw === 'number';
      if (wasNumber && !(Number.isSafeInteger(raw) && raw >= 0)) return fail(ctx, 'must be a string, not a number');
      const value = String(raw).trim();
      if (value === '') return fail(ctx, `is empty — set it, or use ${fileKey}`);
      const checked = rule(value, wasNumber);
      return typeof checked === 'string' ? { value: checked, looseMode: undefined } : fail(ctx, checked.problem);
    });
}

/** A secret in a file, trimmed; relative to the config's folder. */
export function secretFile(ctx: Ctx, rule: SecretRule = asIs) {
  return text.transform((path, issues): Secret => {
    const file = resolvePath(ctx, path);
    const read = readSecretFile(file);
    if ('problem' in read) return fail(issues, read.problem);
    if (read.text === '') return fail(issues, `${file}: is empty — write the secret into it`);
    const checked = rule(read.text, false);
    if (typeof checked !== 'string') return fail(issues, checked.problem);
    const firstTime = !ctx.permissionChecked.has(file);
    ctx.permissionChecked.add(file);
    return { value: checked, looseMode: firstTime ? looseModeWarning(file, read.stats) : undefined };
  });
}

/** The twin that was given (the schema saw to it that not both), and a warning about a loose file. */
export function given(
  path: string,
  key: string,
  fileKey: string,
  inline: Secret | undefined,
  fromFile: Secret | undefined,
  warn: Warn,
) {
  if (fromFile === undefined) return inline && { value: inline.value, path: at(path, key) };
  if (fromFile.looseMode !== undefined) warn(at(path, fileKey), fromFile.looseMode);
  return { value: fromFile.value, path: at(path, fileKey) };
}
