import { z } from 'zod';
import { keyPath } from './problems.js';
import { closest } from './suggest.js';

/*
 * zod finds the problems, these helpers word them: each message says what is wrong, then what
 * to do, and sits under its key path (`accounts[1].pin: must be 6 digits`).
 */

type RawIssue = z.core.$ZodRawIssue;

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'empty';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'boolean') return `${value}`;
  return `a ${typeof value}`;
}

/** A non-secret value as the user wrote it, short enough for one line. */
export function show(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
}

/** A string as written, anything else by its kind. */
export function describe(value: unknown): string {
  return typeof value === 'string' ? show(value) : kindOf(value);
}

export function notOneOf(value: unknown, options: readonly string[]): string {
  const guess = typeof value === 'string' ? closest(value, options) : undefined;
  const hint = guess === undefined ? `use one of ${options.join(', ')}` : `did you mean ${guess}?`;
  return `${describe(value)} is not one of ${options.join(', ')} — ${hint}`;
}

/** Reports `message` about the value being parsed, which then counts as invalid. */
export function fail(ctx: z.core.$RefinementCtx, message: string): never {
  ctx.addIssue({ code: 'custom', message, input: ctx.value });
  return z.NEVER;
}

/** A key that must be given; the message says what to write there. */
export function required<T extends z.ZodType>(schema: T, hint: string) {
  return schema.optional().nonoptional(`missing — ${hint}`);
}

/**
 * For the `when` of a check across keys. zod skips such a check once any key has failed, which
 * would hide its problems until the others are fixed; run when the keys it reads `passed`, it
 * shows them all at once. A key that failed holds what the user wrote, not a parsed value.
 * True when nothing at `path`, inside it or around it (a mapping that is not one) failed.
 */
export function passed(ctx: { readonly issues: readonly RawIssue[] }, ...path: readonly PropertyKey[]): boolean {
  return !ctx.issues.some((issue) => {
    // Unknown keys leave the known ones intact.
    if (issue.code === 'unrecognized_keys') return false;
    const where = issue.path ?? [];
    return where.slice(0, path.length).every((key, i) => key === path[i]);
  });
}

/** For duplicate checks: who used `key` first, after recording `here` as its first user if nobody did. */
export function firstUser<K, V>(seen: Map<K, V>, key: K | undefined, here: V): V | undefined {
  if (key === undefined) return undefined;
  const first = seen.get(key);
  if (first === undefined) seen.set(key, here);
  return first;
}

/** The message for zod's own issues; schemas with a better word for their value give their own `error`. */
export function messageFor(issue: RawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.expected === 'boolean') return `must be true or false, not ${describe(issue.input)}`;
      if (issue.expected === 'string') return `must be a string, not ${kindOf(issue.input)}`;
      if (issue.expected === 'array') return `must be a list, not ${kindOf(issue.input)}`;
      if (issue.inst instanceof z.ZodObject)
        return `must be a mapping of ${Object.keys(issue.inst.shape).join(', ')}, not ${kindOf(issue.input)}`;
      return undefined;
    case 'invalid_value':
      return notOneOf(issue.input, issue.values.map(String));
    case 'unrecognized_keys': {
      // One line per key, which problemsOf puts under the key's own path.
      const known = issue.inst instanceof z.ZodObject ? Object.keys(issue.inst.shape) : [];
      return issue.keys
        .map((key) => {
          const guess = closest(key, known);
          return guess === undefined
            ? `unknown key — expected one of ${known.join(', ')}`
            : `unknown key — did you mean ${guess}?`;
        })
        .join('\n');
    }
    default:
      return undefined;
  }
}

/**
 * One line per problem, `key.path: message`, in the order the schema reads the file. Problems
 * at an `unresolved` path (a `${VAR}` that failed) are already reported.
 */
export function problemsOf(issues: readonly z.core.$ZodIssue[], unresolved: ReadonlySet<string>): string[] {
  const out: { path: readonly PropertyKey[]; line: string }[] = [];
  const line = (path: readonly PropertyKey[], message: string) => ({
    path,
    line: path.length === 0 ? message : `${keyPath(path)}: ${message}`,
  });
  for (const issue of issues) {
    if (unresolved.has(keyPath(issue.path))) continue;
    if (issue.code !== 'unrecognized_keys') {
      out.push(line(issue.path, issue.message));
      continue;
    }
    // zod lists a mapping's unknown keys after the problems inside it; a reader meets them first.
    const lines = issue.message.split('\n').map((message, i) => line([...issue.path, issue.keys[i] ?? ''], message));
    const inside = out.findIndex((p) => issue.path.every((key, i) => p.path[i] === key));
    out.splice(inside === -1 ? out.length : inside, 0, ...lines);
  }
  return out.map((p) => p.line);
}
