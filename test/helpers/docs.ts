import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './repo-root.js';

/** One Markdown page of the repository's documentation, by its path from the root. */
export interface DocPage {
  readonly path: string;
  readonly text: string;
}

export function readDoc(path: string): string {
  return readFileSync(join(REPO_ROOT, path), 'utf8');
}

/** The README, the other Markdown files at the root (CONTRIBUTING, CHANGELOG) and every page in docs/. */
export function documentationPages(): DocPage[] {
  const root = readdirSync(REPO_ROOT).filter((name) => name.endsWith('.md'));
  const docs = readdirSync(join(REPO_ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  return [...root, ...docs].sort().map((path) => ({ path, text: readDoc(path) }));
}

/** The text outside fenced code blocks, where Markdown links and headings are read. */
export function withoutFencedCode(markdown: string): string {
  return markdown.replace(/^ *```[^\n]*\n[\s\S]*?^ *```[^\n]*$/gm, '');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, each space a hyphen. */
export function headingSlug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a page offers: its headings' slugs (repeats numbered as GitHub does) and `<a id>`/`<a name>`. */
export function pageAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const prose = withoutFencedCode(markdown);
  for (const m of prose.matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = headingSlug(m[1]!);
    const count = seen.get(slug) ?? 0;
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
    seen.set(slug, count + 1);
  }
  for (const m of prose.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
  return anchors;
}

/** The targets of a page's Markdown links and images, outside code. */
export function linkTargets(markdown: string): string[] {
  const prose = withoutFencedCode(markdown).replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]!);
}

/** The section of a page that starts at the heading `heading` and runs to the next one of its level or higher. */
export function section(markdown: string, heading: string): string {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => line.replace(/^#+ /, '') === heading && /^#+ /.test(line));
  if (start < 0) throw new Error(`no heading "${heading}"`);
  const level = /^#+/.exec(lines[start]!)![0].length;
  const end = lines.findIndex((line, i) => i > start && new RegExp(`^#{1,${level}} `).test(line));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}
