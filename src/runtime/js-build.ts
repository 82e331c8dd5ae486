// A type-stripped JavaScript copy of Outrigger's own sources for the processes `outrigger up` starts
// (the proxy host, the built-in demo apps). Node strips types itself when it runs `.ts`, but that loads
// its TypeScript parser into every process (about 20 MB each); stripping once, ahead, spares it. The
// copy lives inside the package (node_modules/.cache), mirrors the tree (assets and protos included, so
// paths relative to `import.meta` still hold), and a file is rewritten whenever its copy does not carry
// the source's exact modification time (newer or older: a copy written from other sources is caught too).
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import path from 'node:path';
import { writeFileAtomic } from './write-atomic.ts';

/** Relative specifiers ending in `.ts` become `.js`: `from './x.ts'`, `import('./x.ts')`. */
const tsSpecifier = /(['"])(\.{1,2}\/[^'"\n]*?)\.ts\1/g;

export function stripFile(source: string): string {
  return stripTypeScriptTypes(source, { mode: 'strip' }).replace(tsSpecifier, '$1$2.js$1');
}


/** A copy is current when it carries its source's modification time exactly (set after each write). */
function stale(src: string, dest: string): boolean {
  // Within a millisecond: setting a time through a JS number loses the nanoseconds the disk keeps.
  return !existsSync(dest) || Math.abs(statSync(src).mtimeMs - statSync(dest).mtimeMs) >= 1;
}

function stamp(src: string, dest: string): void {
  const { atimeMs, mtimeMs } = statSync(src);
  utimesSync(dest, atimeMs / 1000, mtimeMs / 1000);
}

function mirror(srcDir: string, destDir: string): number {
  let written = 0;
  mkdirSync(destDir, { recursive: true });
  for (const entry of readdirSync(srcDir, { withFileTypes: true })) {
    const src = path.join(srcDir, entry.name);
    if (entry.isDirectory()) {
      written += mirror(src, path.join(destDir, entry.name));
    } else if (entry.name.endsWith('.test.ts')) {
      // Tests never run from the copy.
    } else if (entry.name.endsWith('.ts')) {
      const dest = path.join(destDir, `${entry.name.slice(0, -3)}.js`);
      if (stale(src, dest)) {
        writeFileAtomic(dest, stripFile(readFileSync(src, 'utf8')));
        stamp(src, dest);
        written++;
      }
    } else if (stale(src, path.join(destDir, entry.name))) {
      writeFileAtomic(path.join(destDir, entry.name), readFileSync(src));
      stamp(src, path.join(destDir, entry.name));
      written++;
    }
  }
  return written;
}

/**
 * Builds (or refreshes) `outDir` from the repository's `bin/` and `src/`; returns the path of the
 * copy's `bin/outrigger.mjs` (plain JavaScript: it runs the copy without Node's TypeScript parser). `outDir` must sit inside the repository so packages still resolve from
 * its `node_modules`.
 */
export function buildJsTree(repoRoot: string, outDir: string): { bin: string; written: number } {
  // Node flags stripTypeScriptTypes as experimental on every call; the person running `up` need not hear it.
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (!String(warning).includes('stripTypeScriptTypes')) (emitWarning as (...a: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  let written = 0;
  try {
    written += mirror(path.join(repoRoot, 'src'), path.join(outDir, 'src'));
    written += mirror(path.join(repoRoot, 'bin'), path.join(outDir, 'bin'));
  } finally {
    process.emitWarning = emitWarning;
  }
  const pkg = path.join(outDir, 'package.json');
  // Without this the copy's `.js` files would load as CommonJS.
  if (!existsSync(pkg)) writeFileSync(pkg, '{ "type": "module", "private": true }\n');
  return { bin: path.join(outDir, 'bin', 'outrigger.mjs'), written };
}

const cacheSegment = `${path.sep}node_modules${path.sep}.cache${path.sep}outrigger-js${path.sep}`;

/** The repository (package) root, whether this module runs from the sources or from the stripped copy. */
export function packageRoot(): string {
  const here = path.dirname(new URL(import.meta.url).pathname);
  const i = here.indexOf(cacheSegment);
  return i >= 0 ? here.slice(0, i) : path.resolve(here, '../..');
}

/** Where the stripped copy lives: inside the package, so its imports resolve from `node_modules`. */
export function jsTreeDir(root = packageRoot()): string {
  return path.join(root, 'node_modules', '.cache', 'outrigger-js');
}
