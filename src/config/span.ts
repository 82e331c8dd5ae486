// Source spans from a yaml Document: character offsets to 1-based line:col, and field paths to nodes.
import { type Document, isAlias, isMap, isScalar, isSeq, type LineCounter, type Node } from 'yaml';
import type { SourceSpan } from './source.ts';

export type FieldPath = readonly (string | number)[];

export function spanOf(file: string, lc: LineCounter, start: number, end: number): SourceSpan {
  const s = lc.linePos(start);
  const e = lc.linePos(Math.max(start, end));
  return { file, start: { line: s.line, col: s.col }, end: { line: e.line, col: e.col }, offset: start, endOffset: end };
}

interface Found {
  key?: Node;
  value?: Node;
}

/** Follows a field path through maps and sequences (resolving aliases); undefined when it leaves the tree. */
export function findNode(doc: Document, path: FieldPath): Found | undefined {
  let node: unknown = doc.contents;
  let key: Node | undefined;
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return undefined;
      key = pair.key as Node;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      key = undefined;
    } else {
      return undefined;
    }
  }
  const found: Found = {};
  if (key) found.key = key;
  if (node && typeof node === 'object' && 'range' in node) found.value = node as Node;
  return found;
}

function rangeSpan(file: string, lc: LineCounter, node: Node | undefined): SourceSpan | undefined {
  const r = node?.range;
  if (!r) return undefined;
  return spanOf(file, lc, r[0], r[1]);
}

/** Span of the value at `path` (or its key when the value is empty). */
export function valueSpan(doc: Document, lc: LineCounter, file: string, path: FieldPath): SourceSpan | undefined {
  const f = findNode(doc, path);
  if (!f) return undefined;
  return rangeSpan(file, lc, f.value) ?? rangeSpan(file, lc, f.key);
}

/** Span of the key naming `path` (or its value for sequence items). */
export function keySpan(doc: Document, lc: LineCounter, file: string, path: FieldPath): SourceSpan | undefined {
  const f = findNode(doc, path);
  if (!f) return undefined;
  return rangeSpan(file, lc, f.key) ?? rangeSpan(file, lc, f.value);
}

/** The span of the longest existing prefix of `path`: where a missing field should have been. */
export function nearestSpan(
  doc: Document,
  lc: LineCounter,
  file: string,
  path: FieldPath,
  preferKey: boolean,
): SourceSpan | undefined {
  for (let n = path.length; n >= 0; n--) {
    const p = path.slice(0, n);
    const span = preferKey || n < path.length ? keySpan(doc, lc, file, p) : valueSpan(doc, lc, file, p);
    if (span) return span;
  }
  return undefined;
}

/**
 * Span of the characters `start`..`end` of the string value at `path`, for text written inside a value
 * (an annotation holding YAML): exact for a literal block (`|`) and for a one-line plain or quoted
 * scalar without escapes; undefined where folding or escapes make the value differ from its source.
 */
export function embeddedSpan(doc: Document, lc: LineCounter, file: string, text: string, path: FieldPath, start: number, end: number): SourceSpan | undefined {
  const node = findNode(doc, path)?.value;
  if (!isScalar(node) || typeof node.value !== 'string' || !node.range) return undefined;
  const from = node.range[0];
  const at = sourceOffsets(node.type, text.slice(from, node.range[1]), node.value);
  const s = at?.(start);
  const e = at?.(end);
  if (s === undefined || e === undefined) return undefined;
  return spanOf(file, lc, from + s, from + e);
}

/** Maps an offset in a scalar's value to one in its source text, where each character of the value stands as it is. */
function sourceOffsets(type: string | undefined, source: string, value: string): ((i: number) => number | undefined) | undefined {
  if (type === 'PLAIN') return source === value ? (i) => i : undefined;
  if (type === 'QUOTE_SINGLE' || type === 'QUOTE_DOUBLE') return source.slice(1, -1) === value ? (i) => i + 1 : undefined;
  if (type !== 'BLOCK_LITERAL') return undefined;
  // The header (`|`, `|-`, `|2`) is the first line; each value line is a source line less the indentation.
  const lines = source.split('\n');
  const body = lines.slice(1);
  const first = body.find((l) => l.trim() !== '');
  if (first === undefined) return undefined;
  const indent = first.length - first.trimStart().length;
  const bodyStarts: number[] = [];
  let off = (lines[0] ?? '').length + 1;
  for (const l of body) {
    bodyStarts.push(off);
    off += l.length + 1;
  }
  const valueLines = value.split('\n');
  const valueStarts: number[] = [];
  let v = 0;
  for (const [k, l] of valueLines.entries()) {
    const src = body[k];
    if (l !== '' && (src === undefined || src.slice(indent) !== l)) return undefined;
    valueStarts.push(v);
    v += l.length + 1;
  }
  return (i) => {
    let k = valueStarts.length - 1;
    while (k > 0 && (valueStarts[k] as number) > i) k--;
    const base = bodyStarts[k];
    return base === undefined ? undefined : base + indent + (i - (valueStarts[k] as number));
  };
}
