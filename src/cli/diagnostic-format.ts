// Renders diagnostics for people (`file:line:col: error CODE Kind ns/name: field: message`, the source
// line and a caret under the span) and for programs (`-o json`, the same fields).
import { readFileSync } from 'node:fs';
import { type Diagnostic, headline } from '../config/diagnostic.ts';

/** Gives the text of a file, for showing source lines; undefined when unknown. */
export type SourceText = (file: string) => string | undefined;

export interface DiagnosticRecord {
  file?: string;
  line?: number;
  col?: number;
  endLine?: number;
  endCol?: number;
  severity: Diagnostic['severity'];
  code: string;
  resource?: string;
  field?: string;
  message: string;
  fix?: string;
}

/** Orders by file, then position, then code, so output is stable across runs. */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort((a, b) => {
    const fa = a.span?.file ?? '';
    const fb = b.span?.file ?? '';
    if (fa !== fb) return fa < fb ? -1 : 1;
    return (a.span?.offset ?? -1) - (b.span?.offset ?? -1) || a.code.localeCompare(b.code);
  });
}

export function toRecord(d: Diagnostic): DiagnosticRecord {
  const r: DiagnosticRecord = { severity: d.severity, code: d.code, message: d.message };
  if (d.span) {
    r.file = d.span.file;
    r.line = d.span.start.line;
    r.col = d.span.start.col;
    r.endLine = d.span.end.line;
    r.endCol = d.span.end.col;
  }
  if (d.resource) r.resource = d.resource;
  if (d.field) r.field = d.field;
  if (d.fix) r.fix = d.fix;
  return r;
}

export function renderJson(diagnostics: readonly Diagnostic[]): string {
  return JSON.stringify(sortDiagnostics(diagnostics).map(toRecord), null, 2);
}


const MAX_SHOWN_LINE = 200;

/** The source line of a span and a caret line under it (`^^^`), or [] when the text is unknown. */
export function caretLines(d: Diagnostic, source: SourceText): string[] {
  const span = d.span;
  if (!span) return [];
  const text = source(span.file);
  if (text === undefined) return [];
  const line = lineAt(text, span.start.line);
  if (line === undefined) return [];
  const shown = line.length > MAX_SHOWN_LINE ? `${line.slice(0, MAX_SHOWN_LINE)}…` : line;
  const start = Math.min(span.start.col - 1, shown.length);
  const end = span.end.line === span.start.line ? Math.max(span.end.col - 1, start + 1) : Math.max(line.trimEnd().length, start + 1);
  const width = Math.max(1, Math.min(end, shown.length + 1) - start);
  const gutter = String(span.start.line);
  const pad = ' '.repeat(gutter.length);
  // Tabs keep their width in the caret line so the caret stays under the span.
  const lead = shown.slice(0, start).replace(/[^\t]/g, ' ');
  return [`  ${gutter} | ${shown.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '?')}`, `  ${pad} | ${lead}${'^'.repeat(width)}`];
}

function lineAt(text: string, line: number): string | undefined {
  let start = 0;
  for (let i = 1; i < line; i++) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) return undefined;
    start = nl + 1;
  }
  const nl = text.indexOf('\n', start);
  return text.slice(start, nl < 0 ? text.length : nl).replace(/\r$/, '');
}

export function renderText(diagnostics: readonly Diagnostic[], source: SourceText): string {
  const out: string[] = [];
  for (const d of sortDiagnostics(diagnostics)) {
    out.push(headline(d), ...caretLines(d, source));
    if (d.fix) out.push(`  fix: ${d.fix}`);
  }
  return out.join('\n');
}

export function summary(diagnostics: readonly Diagnostic[], resources: number): string {
  const count = (s: Diagnostic['severity']) => diagnostics.filter((d) => d.severity === s).length;
  const n = (k: number, word: string) => `${k} ${word}${k === 1 ? '' : 's'}`;
  return `${n(count('error'), 'error')}, ${n(count('warning'), 'warning')}, ${n(count('info'), 'info')} (${n(resources, 'valid resource')})`;
}

/** A SourceText that reads files from disk (once each); for callers that did not keep the text. */
export function readSources(): SourceText {
  const cache = new Map<string, string | undefined>();
  return (file) => {
    if (!cache.has(file)) {
      let text: string | undefined;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        text = undefined;
      }
      cache.set(file, text);
    }
    return cache.get(file);
  };
}

/** Text rendering with source lines read from disk when no text is given. */
export function formatDiagnostics(diagnostics: readonly Diagnostic[], source: SourceText = readSources()): string {
  return renderText(diagnostics, source);
}
