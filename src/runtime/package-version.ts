// Outrigger's own version, from the package's package.json: what `outrigger version` prints for the
// client and what the control plane and each proxy report for themselves. Read from the package root,
// since the stripped copy's package.json (node_modules/.cache/outrigger-js) carries no version.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from './js-build.ts';

let version: string | undefined;

export function packageVersion(): string {
  if (version === undefined) {
    const pkg = JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown };
    version = typeof pkg.version === 'string' ? pkg.version : 'unknown';
  }
  return version;
}
