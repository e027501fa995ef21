import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { fastParseYaml } from '../../src/config/fast-yaml.js';

const slow = (text: string): unknown => parseDocument(text, { uniqueKeys: false, merge: true }).toJS();

/** The fast path must read every config exactly as the `yaml` path would, or not at all. */
describe('fastParseYaml', () => {
  const same = [
    '',
    '# only a comment\n',
    'a: 1\nb: -2\nc: +3\nd: 0o17\ne: 0x1F\nf: 1_000\ng: 0b101\nh: 012345\n',
    'a: 1.5\nb: .5\nc: 1e3\nd: -.inf\ne: .NaN\nf: 1.\ng: 1_0.5\n',
    'a: true\nb: False\nc: TRUE\nd: yes\ne: no\nf: on\ng: tRUE\n',
    'a: ~\nb: null\nc: NULL\nd:\ne: Null\nf: nULL\n',
    'a: 2024-01-02\nb: 2024-01-02T03:04:05Z\nc: 12:30\nd: 09:15\n',
    'pin: "012345"\ntotp: \'JBSW\'\nkey: !!str 123\n',
    'accounts:\n  - { clientId: "1100000001", name: a1, pin: "493817", sinks: [] }\n  - clientId: "2"\n    sinks:\n      - { type: file, path: /tmp/x }\n',
    'text: |\n  line one\n  line two\nfolded: >\n  a\n  b\n',
    'base: { a: 1 }\nderived:\n  <<: { a: 2, b: 3 }\n  b: 4\n',
    'clients: ["*"]\nhost: 127.0.0.1:9470\nurl: http://x/?a=b&c=d\n',
    'k: "esc \\t \\u00e9"\n',
  ];
  it.each(same)('reads %j as yaml does', (text) => {
    const fast = fastParseYaml(text);
    expect(fast.ok).toBe(true);
    if (fast.ok) expect(fast.value).toStrictEqual(slow(text));
  });

  const refused = [
    'a: 1\na: 2\n',
    'defaults: &d { a: 1 }\nx: *d\n',
    'a: [1, 2\n',
    'a: 1\n---\nb: 2\n',
    'a: !custom 1\n',
    'a:\n\t- b\n',
  ];
  it.each(refused)('leaves %j to the yaml path', (text) => {
    expect(fastParseYaml(text).ok).toBe(false);
  });
});
