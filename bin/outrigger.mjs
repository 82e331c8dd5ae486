#!/usr/bin/env node
// The one `outrigger` binary: every command lives in src/cli/, one file each. It runs a type-stripped
// copy of the sources (src/runtime/js-build.ts), refreshed when a source changes, because Node's own
// stripping keeps its TypeScript parser and its memory (about 15 MB) in every process; OUTRIGGER_FROM_SOURCE=1
// runs the `.ts` sources directly. This entry is plain JavaScript so that a process whose copy is
// current never loads that parser at all: the copy's own js-build.js checks it (bin/outrigger.ts, kept
// for `node bin/outrigger.ts`, only imports this file).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const cacheSegment = `${path.sep}node_modules${path.sep}.cache${path.sep}outrigger-js${path.sep}`;

/** The package root, whether this file runs from `bin/` or from the stripped copy's `bin/`. */
const here = path.dirname(fileURLToPath(import.meta.url));
const root = here.includes(cacheSegment) ? here.slice(0, here.indexOf(cacheSegment)) : path.resolve(here, '..');
const source = (file) => import(pathToFileURL(path.join(root, file)).href);

/** js-build from the stripped copy when there is one (no TypeScript parser), else from the sources. */
async function jsBuild() {
  const copy = path.join(root, 'node_modules', '.cache', 'outrigger-js', 'src', 'runtime', 'js-build.js');
  return existsSync(copy) ? import(pathToFileURL(copy).href) : source('src/runtime/js-build.ts');
}

async function loadMain() {
  if (process.env.OUTRIGGER_FROM_SOURCE !== '1') {
    try {
      const { buildJsTree, jsTreeDir, packageRoot } = await jsBuild();
      const dir = jsTreeDir();
      buildJsTree(packageRoot(), dir);
      return (await import(pathToFileURL(`${dir}/src/cli/main.js`).href)).main;
    } catch (err) {
      // A read-only install or a broken copy: the sources always work.
      if (process.env.OUTRIGGER_DEBUG) console.error(`outrigger: running from source: ${err.message}`);
    }
  }
  return (await source('src/cli/main.ts')).main;
}

process.exitCode = await (await loadMain())(process.argv);
