import { FAILSAFE_SCHEMA, load, Type } from 'js-yaml';

/*
 * The `yaml` package builds a document with positions for every node: exactly what a config
 * with a mistake needs (key and line in the message), and about a second and a hundred MB of
 * garbage for a 10,000-account config that has none. js-yaml builds plain values directly.
 * It only ever answers for a config it reads without complaint; anything it refuses, and
 * anything it might read differently, goes to the `yaml` path, which owns every error message.
 *
 * Plain scalars resolve by the YAML 1.2 core schema exactly as `yaml` resolves them (its
 * regexes, in its order): js-yaml's own schemas add YAML 1.1 forms (`1_000`, `0b101`) that
 * `yaml` reads as strings.
 */
const NULL = /^(?:~|[Nn]ull|NULL)?$/;
const TRUE = /^(?:[Tt]rue|TRUE)$/;
const FALSE = /^(?:[Ff]alse|FALSE)$/;
const OCT = /^0o[0-7]+$/;
const DEC = /^[-+]?[0-9]+$/;
const HEX = /^0x[0-9a-fA-F]+$/;
const SPECIAL_FLOAT = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
const EXP_FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/;
const FIXED_FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/;

const isString = (data: unknown): data is string => typeof data === 'string';

const CORE_SCALARS = [
  new Type('tag:yaml.org,2002:null', {
    kind: 'scalar',
    resolve: (d: unknown) => d === null || (isString(d) && NULL.test(d)),
    construct: () => null,
  }),
  new Type('tag:yaml.org,2002:bool', {
    kind: 'scalar',
    resolve: (d: unknown) => isString(d) && (TRUE.test(d) || FALSE.test(d)),
    construct: (d: string) => TRUE.test(d),
  }),
  new Type('tag:yaml.org,2002:int', {
    kind: 'scalar',
    resolve: (d: unknown) => isString(d) && (OCT.test(d) || DEC.test(d) || HEX.test(d)),
    construct: (d: string) =>
      OCT.test(d) ? parseInt(d.slice(2), 8) : HEX.test(d) ? parseInt(d.slice(2), 16) : parseInt(d, 10),
  }),
  new Type('tag:yaml.org,2002:float', {
    kind: 'scalar',
    resolve: (d: unknown) => isString(d) && (SPECIAL_FLOAT.test(d) || EXP_FLOAT.test(d) || FIXED_FLOAT.test(d)),
    construct: (d: string) =>
      SPECIAL_FLOAT.test(d)
        ? d.slice(-3).toLowerCase() === 'nan'
          ? Number.NaN
          : d.startsWith('-')
            ? -Infinity
            : Infinity
        : parseFloat(d),
  }),
  // `<<: {...}` merges like `yaml`'s `merge: true`; js-yaml knows the key by this tag.
  new Type('tag:yaml.org,2002:merge', { kind: 'scalar', resolve: (d: unknown) => d === '<<' || d === null }),
];
const SCHEMA = FAILSAFE_SCHEMA.extend({ implicit: CORE_SCALARS });

/*
 * An anchor or an alias anywhere, or what might be one: `yaml` bounds how far aliases expand
 * (a "billion laughs" config), js-yaml does not, so such a file takes the `yaml` path. This
 * also catches `*` and `&` after a space in strings and comments: they only cost the slow path.
 */
const MAYBE_ANCHOR_OR_ALIAS = /(?:^|[\s[{,:-])[&*][^\s,[\]{}]/;

export type FastYaml = { readonly ok: true; readonly value: unknown } | { readonly ok: false };

/** The file's value, or `ok: false` when only the `yaml` path may answer for it. */
export function fastParseYaml(text: string): FastYaml {
  if (MAYBE_ANCHOR_OR_ALIAS.test(text)) return { ok: false };
  try {
    // Duplicate keys, several documents, unknown tags and syntax errors all throw here.
    const value = load(text, { schema: SCHEMA, json: false });
    return { ok: true, value: value === undefined ? null : value };
  } catch {
    return { ok: false };
  }
}
