// Builds a Diagnostic from a catalogue code, so severity and fix always match the catalogue.
import { codeInfo } from './codes.ts';
import type { Diagnostic } from './diagnostic.ts';
import type { SourceSpan } from './source.ts';

export interface DiagnosticPlace {
  file?: string;
  span?: SourceSpan | undefined;
  resource?: string | undefined;
  field?: string | undefined;
  /** Replaces the catalogue's generic fix (e.g. a "did you mean" hint). */
  fix?: string | undefined;
}

export function diagnostic(code: string, message: string, place: DiagnosticPlace = {}): Diagnostic {
  const info = codeInfo(code);
  const d: Diagnostic = { code, severity: info.severity, message };
  if (place.resource) d.resource = place.resource;
  if (place.field) d.field = place.field;
  const span = place.span ?? (place.file ? fileSpan(place.file) : undefined);
  if (span) d.span = span;
  d.fix = place.fix ?? info.fix;
  return d;
}

/** A span at the start of a file, for problems that belong to the whole file. */
export function fileSpan(file: string): SourceSpan {
  return { file, start: { line: 1, col: 1 }, end: { line: 1, col: 1 }, offset: 0, endOffset: 0 };
}

/** `spec.http[0].route` from `['spec','http',0,'route']`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}
