// Where a piece of configuration came from: a file and a span in it, kept from parse to diagnostic.

/** A 1-based line and column. */
export interface Position {
  line: number;
  col: number;
}

/** A span of source text in a file; `offset`/`end` are character offsets. */
export interface SourceSpan {
  file: string;
  start: Position;
  end: Position;
  offset: number;
  endOffset: number;
}

/** Maps a field path inside one YAML document (`['spec','http',0,'route']`) to its span. */
export type SpanLookup = (path: readonly (string | number)[]) => SourceSpan | undefined;
