// Reads files, directories (recursively: *.yaml, *.yml) and stdin (`-`), then loads each as YAML.
// Files are read as bytes so that oversized, binary and non-UTF-8 input gets a diagnostic, not a throw.
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { diagnostic } from './diagnostic-build.ts';
import { type LoadResult, loadText, mergeResults } from './load-text.ts';
import { MAX_INPUT_BYTES } from './parse-yaml.ts';
import type { SourceSpan } from './source.ts';

export interface LoadPathsOptions {
  /** Reads stdin for `-` (injected in tests). */
  readStdin?: () => Buffer;
  /** Receives each file's decoded text (e.g. to show source lines under diagnostics). */
  onText?: (file: string, text: string) => void;
}

/** A config file found in a directory (a file named on the command line is read whatever its name). */
export const yamlFile = /\.ya?ml$/i;
/** How deep a config directory is walked. */
export const MAX_DEPTH = 32;

/** Loads every YAML file named or found under the given paths, in a stable (sorted) order. */
export function loadPaths(paths: readonly string[], options: LoadPathsOptions = {}): LoadResult {
  const results: LoadResult[] = [];
  const seen = new Set<string>();
  for (const p of paths) {
    if (p === '-') results.push(loadBytes(options.readStdin ? options.readStdin() : readFileSync(0), '<stdin>', options.onText));
    else collect(p, 0, seen, results, true, options.onText);
  }
  return mergeResults(results);
}

function unreadable(path: string, err: unknown): LoadResult {
  const why = err instanceof Error && 'code' in err ? String((err as { code: unknown }).code) : String(err);
  return { resources: [], diagnostics: [diagnostic('OR1007', `cannot read ${path}: ${why}`, { file: path })] };
}

type OnText = LoadPathsOptions['onText'];

function collect(path: string, depth: number, seen: Set<string>, out: LoadResult[], named: boolean, onText: OnText): void {
  let real: string;
  let isDir: boolean;
  let size: number;
  try {
    real = realpathSync(path);
    const st = statSync(real);
    isDir = st.isDirectory();
    size = st.size;
  } catch (err) {
    out.push(unreadable(path, err));
    return;
  }
  if (seen.has(real)) return; // a symlink loop or a path given twice
  seen.add(real);
  if (isDir) {
    if (depth >= MAX_DEPTH) return;
    let entries: string[];
    try {
      entries = readdirSync(real).sort();
    } catch (err) {
      out.push(unreadable(path, err));
      return;
    }
    for (const name of entries) {
      if (name.startsWith('.')) continue;
      collect(join(path, name), depth + 1, seen, out, false, onText);
    }
    return;
  }
  if (!named && !yamlFile.test(path)) return;
  if (size > MAX_INPUT_BYTES) {
    out.push({ resources: [], diagnostics: [diagnostic('OR1004', `file is ${size} bytes; the limit is ${MAX_INPUT_BYTES}`, { file: path })] });
    return;
  }
  try {
    out.push(loadBytes(readFileSync(real), path, onText));
  } catch (err) {
    out.push(unreadable(path, err));
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Loads raw bytes: size limit, UTF-8 check, then YAML. */
export function loadBytes(bytes: Uint8Array, file: string, onText?: OnText): LoadResult {
  if (bytes.length > MAX_INPUT_BYTES) {
    return { resources: [], diagnostics: [diagnostic('OR1004', `input is ${bytes.length} bytes; the limit is ${MAX_INPUT_BYTES}`, { file })] };
  }
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    return { resources: [], diagnostics: [diagnostic('OR1005', `invalid UTF-8 at byte ${at}: the file is not UTF-8 text`, { file, span: byteSpan(bytes, at, file) })] };
  }
  onText?.(file, text);
  return loadText(text, file);
}

/** Offset of the first byte that breaks UTF-8 (bytes.length when there is none). */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    const n = b < 0x80 ? 0 : b >= 0xc2 && b < 0xe0 ? 1 : b >= 0xe0 && b < 0xf0 ? 2 : b >= 0xf0 && b < 0xf5 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
    }
    // Overlong 3/4-byte forms, surrogates and code points above U+10FFFF.
    const c1 = bytes[i + 1] ?? 0;
    if ((b === 0xe0 && c1 < 0xa0) || (b === 0xed && c1 >= 0xa0) || (b === 0xf0 && c1 < 0x90) || (b === 0xf4 && c1 >= 0x90)) return i;
    i += n + 1;
  }
  return bytes.length;
}

function byteSpan(bytes: Uint8Array, at: number, file: string): SourceSpan {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < at; i++) {
    if (bytes[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  const col = Buffer.from(bytes.subarray(lineStart, at)).toString('utf8').length + 1;
  return { file, start: { line, col }, end: { line, col: col + 1 }, offset: at, endOffset: at + 1 };
}
