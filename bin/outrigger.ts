#!/usr/bin/env node
// The one `outrigger` binary: every command lives in src/cli/, one file each. It runs a type-stripped
// copy of the sources (src/runtime/js-build.ts), refreshed when a source changes, because Node's own
// stripping keeps its TypeScript parser and its memory in every process; OUTRIGGER_FROM_SOURCE=1 runs
// the `.ts` sources directly.
import { pathToFileURL } from 'node:url';
import { buildJsTree, jsTreeDir, packageRoot } from '../src/runtime/js-build.ts';


type Main = (argv: readonly string[]) => Promise<number>;

async function loadMain(): Promise<Main> {
  if (process.env['OUTRIGGER_FROM_SOURCE'] !== '1') {
    try {
      const dir = jsTreeDir();
      buildJsTree(packageRoot(), dir);
      return ((await import(pathToFileURL(`${dir}/src/cli/main.js`).href)) as { main: Main }).main;
    } catch (err) {
      // A read-only install or a broken copy: the sources always work.
      if (process.env['OUTRIGGER_DEBUG']) console.error(`outrigger: running from source: ${(err as Error).message}`);
    }
  }
  return (await import('../src/cli/main.ts')).main;
}

process.exitCode = await (await loadMain())(process.argv);
