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
