import { at, type Problems } from './problems.js';

/**
 * Stands in for a string whose `${VAR}` could not be resolved: it fails every schema, and
 * the problem it causes is dropped, since its key path is already reported.
 */
export const UNRESOLVED: unique symbol = Symbol('unresolved');

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export type Interpolation = { readonly value: string } | { readonly problems: readonly string[] };

/** Replaces every `${NAME}` from `env`; `$${` is a literal `${`. */
export function interpolate(input: string, env: NodeJS.ProcessEnv): Interpolation {
  let out = '';
  const problems: string[] = [];
  let pos = 0;
  while (pos < input.length) {
    const dollar = input.indexOf('$', pos);
    if (dollar === -1) {
      out += input.slice(pos);
      break;
    }
    out += input.slice(pos, dollar);
    if (input.startsWith('$${', dollar)) {
      out += '${';
      pos = dollar + 3;
      continue;
    }
    if (!input.startsWith('${', dollar)) {
      out += '$';
      pos = dollar + 1;
      continue;
    }
    const close = input.indexOf('}', dollar + 2);
    if (close === -1) {
      problems.push('"${" has no closing "}" — write ${NAME}, or $${ for a literal "${"');
      break;
    }
    const name = input.slice(dollar + 2, close);
    // The text between the braces is not echoed: a pasted secret may sit there.
    if (!NAME.test(name)) {
      problems.push('"${…}" holds an invalid variable name — use letters, digits and _, not starting with a digit');
    } else {
      const value = env[name];
      if (value === undefined)
        problems.push(`environment variable ${name} is not set — set it in the keeper's environment`);
      else out += value;
    }
    pos = close + 1;
  }
  return problems.length > 0 ? { problems } : { value: out };
}

/**
 * A copy of the parsed YAML tree as the schema reads it: every string interpolated, and YAML's
 * `key:` with nothing after it (null) made undefined, so that it means "not set" like an absent
 * key. A failed string becomes UNRESOLVED, and its key path goes into `unresolved`.
 */
export function prepareTree(
  node: unknown,
  env: NodeJS.ProcessEnv,
  path: string,
  problems: Problems,
  unresolved: Set<string>,
): unknown {
  if (node === null) return undefined;
  if (typeof node === 'string') {
    const result = interpolate(node, env);
    if ('value' in result) return result.value;
    for (const problem of result.problems) problems.error(path, problem);
    unresolved.add(path);
    return UNRESOLVED;
  }
  if (Array.isArray(node)) {
    return node.map((item: unknown, i) => prepareTree(item, env, at(path, i), problems, unresolved));
  }
  if (typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node))
      out[key] = prepareTree(value, env, at(path, key), problems, unresolved);
    return out;
  }
  return node;
}
