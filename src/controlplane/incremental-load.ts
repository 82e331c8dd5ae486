// Loads a watched YAML file again after an edit without re-parsing the documents that did not change:
// each `---`-separated document is parsed on its own, cached by its text, and its spans moved to where
// it sits in the file now. Anything unusual (directives, `...`, inline content after `---`, a syntax
// error, a NUL) falls back to parsing the whole file, so the result is always what loadText gives.
import type { Diagnostic } from '../config/diagnostic.ts';
import { type LoadResult, loadText, mergeResults } from '../config/load.ts';
import type { AnyResource } from '../config/resource.ts';
import type { SourceSpan } from '../config/source.ts';

interface Chunk {
  text: string;
  /** Lines and characters before the chunk in the file. */
  lines: number;
  offset: number;
}

export class IncrementalLoader {
  /** Per file: the documents of its last version, parsed alone (spans relative to the document). */
  #parsed = new Map<string, Map<string, LoadResult>>();

  load(text: string, file: string): LoadResult {
    const chunks = splitDocuments(text);
    if (!chunks) {
      this.#parsed.delete(file);
      return loadText(text, file);
    }
    const before = this.#parsed.get(file) ?? new Map<string, LoadResult>();
    const now = new Map<string, LoadResult>();
    const results: LoadResult[] = [];
    for (const [index, c] of chunks.entries()) {
      let alone = now.get(c.text) ?? before.get(c.text);
      if (!alone) {
        alone = loadText(c.text, file);
        if (alone.diagnostics.some((d) => d.severity === 'error')) {
          this.#parsed.delete(file);
          return loadText(text, file);
        }
      }
      now.set(c.text, alone);
      results.push(placed(alone, c, index));
    }
    this.#parsed.set(file, now);
    return mergeResults(results);
  }

  forget(file: string): void {
    this.#parsed.delete(file);
  }
}

const marker = /^---[ \t]*$/;

/** The documents of a text at their lines and offsets, or undefined where splitting by lines is not safe. */
export function splitDocuments(text: string): Chunk[] | undefined {
  if (text.includes('\0') || text.includes('\r')) return undefined;
  const chunks: Chunk[] = [];
  let start = 0;
  let startLine = 0;
  let line = 0;
  let pos = 0;
  while (pos <= text.length) {
    const nl = text.indexOf('\n', pos);
    const end = nl < 0 ? text.length : nl;
    const l = text.slice(pos, end);
    if (l.startsWith('%') || l.startsWith('...')) return undefined;
    if (l.startsWith('---') && pos > 0) {
      if (!marker.test(l)) return undefined;
      chunks.push({ text: text.slice(start, pos), lines: startLine, offset: start });
      start = pos;
      startLine = line;
    } else if (l.startsWith('---') && !marker.test(l)) return undefined;
    if (nl < 0) break;
    pos = nl + 1;
    line++;
  }
  chunks.push({ text: text.slice(start), lines: startLine, offset: start });
  // A first chunk of comments or blank lines only is not a document of its own before a `---`.
  const first = chunks[0];
  if (first && chunks.length > 1 && !first.text.split('\n').some((x) => x.trim() !== '' && !x.trimStart().startsWith('#'))) {
    if (first.text.trim() !== '') return undefined;
    chunks.shift();
  }
  return chunks;
}

function shift(span: SourceSpan, c: Chunk): SourceSpan {
  return {
    ...span,
    start: { line: span.start.line + c.lines, col: span.start.col },
    end: { line: span.end.line + c.lines, col: span.end.col },
    offset: span.offset + c.offset,
    endOffset: span.endOffset + c.offset,
  };
}

/** A document's result moved to its place in the file. */
function placed(r: LoadResult, c: Chunk, index: number): LoadResult {
  const resources = r.resources.map((res): AnyResource => {
    const o = res.origin;
    if (!o) return res;
    return { ...res, origin: { span: shift(o.span, c), documentIndex: index, lookup: (p) => { const s = o.lookup(p); return s && shift(s, c); } } } as AnyResource;
  });
  const diagnostics = r.diagnostics.map((d): Diagnostic => (d.span ? { ...d, span: shift(d.span, c) } : d));
  return { resources, diagnostics };
}
