import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * The page's own files, and nothing from elsewhere: the VPS may have no internet, and a page
 * that can only run our script cannot be made to run anyone else's.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export interface UiAsset {
  readonly body: Buffer;
  readonly contentType: string;
  readonly etag: string;
}

const FILES: ReadonlyArray<readonly [path: string, file: string, contentType: string]> = [
  ['/', 'index.html', 'text/html; charset=utf-8'],
  ['/ui/app.css', 'app.css', 'text/css; charset=utf-8'],
  ['/ui/app.js', 'app.js', 'text/javascript; charset=utf-8'],
  ['/favicon.ico', 'icon.svg', 'image/svg+xml'],
];

/**
 * Read once at start from beside this module (src/server/ui in a checkout, dist/server/ui in
 * a build, which `npm run build` copies). Missing files make the page 404 with a reason in
 * the log instead of stopping the keeper: tokens matter more than the page.
 */
export function loadUiAssets(): { assets: ReadonlyMap<string, UiAsset>; problem: string | undefined } {
  const dir = new URL('./ui/', import.meta.url);
  const assets = new Map<string, UiAsset>();
  try {
    for (const [path, file, contentType] of FILES) {
      const body = readFileSync(new URL(file, dir));
      assets.set(path, {
        body,
        contentType,
        etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`,
      });
    }
  } catch (err) {
    return {
      assets: new Map(),
      problem: `status page files are missing beside the server (${(err as Error).message}) — rebuild with npm run build`,
    };
  }
  return { assets, problem: undefined };
}
