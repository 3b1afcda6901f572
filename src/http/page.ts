/**
 * The status page: one HTML document with its CSS and script inlined (no external asset, no
 * CDN). The sources live in ./page/ (index.html, page.css and the scripts of PAGE_SCRIPTS, joined
 * in that order into one function scope); the build copies them next to the compiled module. The Content-Security-Policy allows exactly these inline blocks (by hash)
 * and requests to the same origin, nothing else.
 */

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface Page {
  readonly html: string;
  readonly csp: string;
}

const sha256 = (text: string): string =>
  `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** The page's scripts, in load order (tsconfig.page.json type-checks them together). */
export const PAGE_SCRIPTS = ['util.js', 'plot.js', 'sessions.js', 'routes.js', 'main.js'];

let cached: Page | undefined;

/** Reads and assembles the page once per process. */
export function loadPage(): Page {
  if (cached !== undefined) return cached;
  const read = (name: string): string =>
    readFileSync(new URL(`./page/${name}`, import.meta.url), 'utf8');
  const css = `\n${read('page.css')}`;
  const js = `\n'use strict';\n(() => {\n${PAGE_SCRIPTS.map(read).join('\n')}})();\n`;
  const html = read('index.html')
    .replace('<style></style>', () => `<style>${css}</style>`)
    .replace('<script></script>', () => `<script>${js}</script>`);
  const csp = [
    "default-src 'none'",
    `script-src ${sha256(js)}`,
    `style-src ${sha256(css)}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  cached = { html, csp };
  return cached;
}
