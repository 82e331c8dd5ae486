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

import { nodeTooOld } from './node-version.mjs';

const tooOld = nodeTooOld(process.version);
if (tooOld) {
  console.error(tooOld);
  process.exit(1);
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** This file inside a stripped copy has the copy's js-build.js beside it; in the repository, only sources. */
const inCopy = existsSync(path.join(here, '..', 'src', 'runtime', 'js-build.js'));
const local = (file) => import(pathToFileURL(path.join(here, '..', file)).href);

/** A copy runs its own js-build; the repository's binary the cached copy's when there is one, else the sources'. */
async function jsBuild() {
  if (inCopy) return local('src/runtime/js-build.js');
  // jsTreeDir()'s place, spelled out: reading it from js-build.ts would load the TypeScript parser this file avoids.
  const cached = path.join(here, '..', 'node_modules', '.cache', 'outrigger-js', 'src', 'runtime', 'js-build.js');
  return existsSync(cached) ? import(pathToFileURL(cached).href) : local('src/runtime/js-build.ts');
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
  return (await local(inCopy ? 'src/cli/main.js' : 'src/cli/main.ts')).main;
}

// A reader that stops early (`outrigger proxy-config ... | head`) closes the pipe: what it wanted is out,
// so that ends the command quietly rather than with a stack. A command that cleans up on SIGTERM (a
// foreground `up` stops the mesh it started) is stopped that way instead, so nothing it started is
// left running; what it writes after that goes nowhere.
let pipeClosed = false;
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (pipeClosed) return;
    if (err.code !== 'EPIPE') throw err;
    pipeClosed = true;
    if (process.listenerCount('SIGTERM') > 0) process.emit('SIGTERM', 'SIGTERM');
    else process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  });
}

process.exitCode = await (await loadMain())(process.argv);
