// The UI's files (HTML, ES modules, CSS) read once from `ui/` and served from memory with their
// content types; nothing is fetched from outside the dashboard.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface Asset {
  type: string;
  body: Buffer;
}

const types: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

export const uiDir = path.join(import.meta.dirname, 'ui');

/** URL path (`/`, `/app.js`, ...) → asset. */
export function loadAssets(dir = uiDir): Map<string, Asset> {
  const out = new Map<string, Asset>();
  for (const file of readdirSync(dir)) {
    const type = types[path.extname(file)];
    if (!type) continue;
    const asset = { type, body: readFileSync(path.join(dir, file)) };
    out.set(`/${file}`, asset);
    if (file === 'index.html') out.set('/', asset);
  }
  return out;
}
