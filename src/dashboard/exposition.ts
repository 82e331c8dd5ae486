// A parser for Prometheus' text exposition format 0.0.4, as proxies serve it on /stats/prometheus.
// Streaming by line, and only for the families the caller keeps, so a large scrape costs little.

export interface Sample {
  /** Full sample name, e.g. `istio_request_duration_milliseconds_bucket`. */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export class ExpositionError extends Error {
  readonly code = 'DASHBOARD_BAD_EXPOSITION';
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.line = line;
  }
}

const nameChar = /[a-zA-Z0-9_:]/;

function parseValue(text: string, line: number): number {
  switch (text) {
    case '+Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
    case 'NaN':
      return Number.NaN;
  }
  const v = Number(text);
  if (text === '' || Number.isNaN(v)) throw new ExpositionError(line, `bad sample value "${text}"`);
  return v;
}

/** Reads `{a="x",b="y\"z"}` starting at `i` (the `{`); returns the labels and the index after `}`. */
function parseLabels(s: string, i: number, line: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  i++;
  for (;;) {
    while (s[i] === ' ' || s[i] === ',') i++;
    if (s[i] === '}') return [labels, i + 1];
    const eq = s.indexOf('=', i);
    if (eq < 0) throw new ExpositionError(line, 'label without "="');
    const key = s.slice(i, eq).trim();
    if (s[eq + 1] !== '"') throw new ExpositionError(line, `label ${key}: value must be quoted`);
    let j = eq + 2;
    let value = '';
    for (; j < s.length && s[j] !== '"'; j++) {
      const c = s[j];
      if (c === '\\') {
        const n = s[++j];
        value += n === 'n' ? '\n' : (n ?? '');
      } else value += c;
    }
    if (j >= s.length) throw new ExpositionError(line, `label ${key}: unterminated value`);
    labels[key] = value;
    i = j + 1;
  }
}

/**
 * Parses the samples whose name passes `keep` (all when absent). Comments and `# TYPE` lines are skipped:
 * the dashboard knows the families it reads. Timestamps after the value are ignored.
 */
export function parseExposition(text: string, keep?: (name: string) => boolean): Sample[] {
  const out: Sample[] = [];
  let lineNo = 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end).trim();
    start = end + 1;
    lineNo++;
    if (line === '' || line.startsWith('#')) continue;
    let i = 0;
    while (i < line.length && nameChar.test(line[i] as string)) i++;
    const name = line.slice(0, i);
    if (!name) throw new ExpositionError(lineNo, 'sample without a metric name');
    if (keep && !keep(name)) continue;
    let labels: Record<string, string> = {};
    if (line[i] === '{') [labels, i] = parseLabels(line, i, lineNo);
    const rest = line.slice(i).trim().split(/\s+/);
    out.push({ name, labels, value: parseValue(rest[0] ?? '', lineNo) });
  }
  return out;
}
