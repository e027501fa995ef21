import { existsSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { documentationPages, linkTargets, pageAnchors, readDoc } from '../helpers/docs.js';
import { REPO_ROOT } from '../helpers/repo-root.js';

/*
 * Every relative link and anchor in the README, CONTRIBUTING, CHANGELOG and docs/ leads
 * somewhere, and so does every link into this repository on GitHub that the shipped files hand
 * out (alerts' runbook_url, the dashboard's runbook link): pages move, and a dead runbook link
 * is found at the worst moment.
 */

const REPO_URL = 'https://github.com/dhan-token-keeper/dhan-token-keeper';
const BLOB = `${REPO_URL}/blob/main/`;
const anchorsOf = new Map<string, Set<string>>();

function anchors(path: string): Set<string> {
  let found = anchorsOf.get(path);
  if (!found) {
    found = pageAnchors(readDoc(path));
    anchorsOf.set(path, found);
  }
  return found;
}

/** Why `target`, written on page `from` (a path from the root), leads nowhere; undefined when it leads somewhere. */
function brokenLink(from: string, target: string): string | undefined {
  const [pathPart = '', anchor] = target.split('#', 2);
  const path = pathPart === '' ? from : normalize(join(dirname(from), decodeURIComponent(pathPart)));
  if (path.startsWith('..')) return `${target} leaves the repository`;
  if (!existsSync(join(REPO_ROOT, path))) return `${target}: no file ${path}`;
  if (anchor === undefined) return undefined;
  if (!path.endsWith('.md')) return `${target}: an anchor into ${path}, which is not a Markdown page`;
  if (!anchors(path).has(anchor)) return `${target}: ${path} has no heading or <a id> "${anchor}"`;
  return undefined;
}

/** A link into this repository on GitHub, read as a path from the root; undefined for any other URL. */
function inRepository(url: string): string | undefined {
  if (url.startsWith(BLOB)) return url.slice(BLOB.length);
  if (url === REPO_URL || url.startsWith(`${REPO_URL}#`)) return `README.md${url.slice(REPO_URL.length)}`;
  return undefined;
}

function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target);
}

describe('documentation links', () => {
  const pages = documentationPages();

  it('reads the README, CONTRIBUTING, CHANGELOG and every docs/ page', () => {
    const paths = pages.map((p) => p.path);
    for (const expected of ['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md', 'docs/runbook.md', 'docs/performance.md']) {
      expect(paths).toContain(expected);
    }
  });

  it.each(pages.map((p) => [p.path, p] as const))('%s: every relative link and anchor leads somewhere', (_, page) => {
    const broken: string[] = [];
    for (const target of linkTargets(page.text)) {
      const local = isExternal(target) ? inRepository(target) : target;
      if (local === undefined) continue;
      const why = brokenLink(isExternal(target) ? 'README.md' : page.path, local);
      if (why) broken.push(why);
    }
    expect(broken).toEqual([]);
  });

  it.each([
    'deploy/prometheus/alerts.yml',
    'deploy/prometheus/alerts.test.yml',
    'deploy/grafana/dashboards/dhan-token-keeper.json',
  ])('%s: every link into the repository leads to a page and anchor that exist', (file) => {
    const urls = [...readDoc(file).matchAll(/https:\/\/github\.com\/[^\s"']+/g)].map((m) => m[0]);
    expect(urls.length).toBeGreaterThan(0);
    const broken = urls.flatMap((url) => {
      const local = inRepository(url);
      if (local === undefined) return [`${url} is not a link into ${REPO_URL}`];
      const why = brokenLink('README.md', local);
      return why ? [why] : [];
    });
    expect(broken).toEqual([]);
  });

  it('finds a broken link, a missing anchor and a heading anchor GitHub would make', () => {
    expect(brokenLink('docs/cli.md', 'nowhere.md')).toMatch(/no file docs\/nowhere\.md/);
    expect(brokenLink('docs/cli.md', 'runbook.md#runbook-nosuchalert')).toMatch(/no heading/);
    expect(brokenLink('README.md', '#python-bot-with-the-dhanhq-sdk')).toBeUndefined();
    expect(brokenLink('README.md', '#systemd-bot-environmentfile-plus-an-exec-hook')).toBeUndefined();
    expect(brokenLink('docs/runbook.md', '../README.md#runbook-dhanclockskew')).toBeUndefined();
  });
});
