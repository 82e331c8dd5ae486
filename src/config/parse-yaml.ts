// YAML text → plain documents with spans. Reads YAML the way kubectl does (go-yaml's 1.1 scalars:
// `yes/no/on/off` are booleans, `0755` is octal) and never throws: problems become diagnostics.
import { type Document, LineCounter, parseAllDocuments, type Tags, type YAMLError } from 'yaml';
import type { Diagnostic } from './diagnostic.ts';
import { diagnostic } from './diagnostic-build.ts';
import type { SourceSpan } from './source.ts';
import { embeddedSpan, type FieldPath, keySpan, nearestSpan, spanOf, valueSpan } from './span.ts';

/** Largest input accepted per file. */
export const MAX_INPUT_BYTES = 16 * 1024 * 1024;
/** Largest number of nodes that alias expansion may produce per document (billion laughs guard). */
const MAX_ALIAS_COUNT = 1000;
/** Syntax errors reported per file: after the first few, the rest are usually echoes of the same mistake. */
const MAX_SYNTAX_ERRORS = 20;

export interface ParsedDocument {
  index: number;
  value: unknown;
  /** The span of the whole document. */
  span: SourceSpan;
  /** Span of the value at a field path (exact; undefined when absent). */
  valueSpan(path: FieldPath): SourceSpan | undefined;
  /** Span of the key at a field path (exact). */
  keySpan(path: FieldPath): SourceSpan | undefined;
  /** Span of the longest existing prefix of a path: where a missing field belongs. */
  nearestSpan(path: FieldPath, preferKey?: boolean): SourceSpan | undefined;
  /** Span of the characters `start`..`end` of the string value at a path (an annotation's embedded YAML). */
  embeddedSpan(path: FieldPath, start: number, end: number): SourceSpan | undefined;
}

export interface ParseResult {
  documents: ParsedDocument[];
  diagnostics: Diagnostic[];
}

const yamlCodes: Partial<Record<YAMLError['code'], string>> = {
  DUPLICATE_KEY: 'OR1002',
  TAB_AS_INDENT: 'OR1003',
  RESOURCE_EXHAUSTION: 'OR1006',
};

/** go-yaml 1.1 has no sexagesimal numbers; it does turn timestamps into strings, which a plain string already is. */
function kubectlTags(tags: Tags): Tags {
  return tags.filter((t) => typeof t === 'string' || (t.format !== 'TIME' && t.tag !== 'tag:yaml.org,2002:timestamp'));
}

export function parseYaml(text: string, file: string): ParseResult {
  const lc = new LineCounter();
  const diagnostics: Diagnostic[] = [];
  const documents: ParsedDocument[] = [];
  if (text.length > MAX_INPUT_BYTES) {
    diagnostics.push(diagnostic('OR1004', `input is ${text.length} characters; the limit is ${MAX_INPUT_BYTES}`, { file }));
    return { documents, diagnostics };
  }
  const nul = text.indexOf('\u0000');
  if (nul >= 0) {
    lc.addNewLine(0);
    for (let i = text.indexOf('\n'); i >= 0 && i < nul; i = text.indexOf('\n', i + 1)) lc.addNewLine(i + 1);
    const span = spanOf(file, lc, nul, nul + 1);
    diagnostics.push(diagnostic('OR1005', 'the input holds a NUL byte: this is a binary file, not YAML', { file, span }));
    return { documents, diagnostics };
  }
  let docs: Document.Parsed[];
  try {
    docs = parseAllDocuments(text, {
      lineCounter: lc,
      version: '1.1',
      customTags: kubectlTags,
      prettyErrors: false,
      uniqueKeys: true,
    }) as Document.Parsed[];
  } catch (err) {
    diagnostics.push(exhausted(err, file));
    return { documents, diagnostics };
  }
  // parseAllDocuments returns an EmptyStream (an array) for empty input, or an array of documents.
  docs.forEach((doc, index) => {
    let failed = false;
    for (const e of doc.errors) {
      failed = true;
      if (diagnostics.length >= MAX_SYNTAX_ERRORS) break;
      const code = yamlCodes[e.code] ?? 'OR1001';
      const message = code === 'OR1006' ? `the document is too deeply nested to process (${firstLine(e.message)})` : firstLine(e.message);
      diagnostics.push(diagnostic(code, message, { file, span: spanOf(file, lc, e.pos[0], e.pos[1]) }));
    }
    if (failed) return;
    const range = doc.range;
    const span = spanOf(file, lc, doc.contents?.range[0] ?? range[0], range[1]);
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      diagnostics.push(exhausted(err, file, span));
      return;
    }
    if (value === null || value === undefined) return; // an empty document (`---` alone) is allowed
    documents.push({
      index,
      value,
      span,
      valueSpan: (path) => valueSpan(doc, lc, file, path),
      keySpan: (path) => keySpan(doc, lc, file, path),
      nearestSpan: (path, preferKey = false) => nearestSpan(doc, lc, file, path, preferKey),
      embeddedSpan: (path, start, end) => embeddedSpan(doc, lc, file, text, path, start, end),
    });
  });
  return { documents, diagnostics };
}

function firstLine(message: string): string {
  const line = message.split('\n', 1)[0] ?? message;
  return line.replace(/ at line \d+, column \d+:?$/, '');
}

function exhausted(err: unknown, file: string, span?: SourceSpan): Diagnostic {
  const why =
    err instanceof RangeError
      ? 'nesting is too deep to process'
      : err instanceof Error && /alias/i.test(err.message)
        ? 'aliases expand to too many nodes (a "billion laughs" document)'
        : `the document could not be processed (${err instanceof Error ? err.message : String(err)})`;
  return diagnostic('OR1006', why, span ? { file, span } : { file });
}
