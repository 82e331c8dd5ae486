// Envoy's DateFormatter (`%START_TIME(format)%`), compiled once: strftime specifiers as absl::FormatTime
// renders them in UTC, plus Envoy's `%s` (epoch seconds) and `%f` / `%1f`…`%9f` (the second's fraction,
// 9 digits or the first N, truncated), and absl's `%Ez`, `%E#S`, `%E*S`, `%E#f`, `%E*f`. What depends on
// the second alone is rendered once per second, as Envoy caches it; a specifier it lacks NACKs.
import { AccessLogFormatError } from './format-error.ts';

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

const pad = (n: number, w = 2, c = '0'): string => String(n).padStart(w, c);

/** Renders one whole-second specifier of the second starting at `d`. */
type SecondField = (d: Date, epochSeconds: number) => string;

const hour12 = (d: Date): number => d.getUTCHours() % 12 || 12;
const yday = (d: Date): number => Math.floor((Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
/** strftime's %U (`first` 0: weeks start on Sunday) and %W (`first` 1: on Monday): week 00 precedes the year's first such day. */
const weekOfYear = (d: Date, first: number): number => Math.floor((yday(d) - 1 + 7 - ((d.getUTCDay() - first + 7) % 7)) / 7);
/** The Thursday of `d`'s ISO 8601 week (Monday first): its year is the ISO year, its day of year gives the week. */
const isoThursday = (d: Date): Date => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 3 - ((d.getUTCDay() + 6) % 7)));

const FIELDS: Readonly<Record<string, SecondField>> = {
  a: (d) => (DAYS[d.getUTCDay()] as string).slice(0, 3),
  A: (d) => DAYS[d.getUTCDay()] as string,
  b: (d) => (MONTHS[d.getUTCMonth()] as string).slice(0, 3),
  h: (d) => (MONTHS[d.getUTCMonth()] as string).slice(0, 3),
  B: (d) => MONTHS[d.getUTCMonth()] as string,
  c: (d) => `${FIELDS['a']?.(d, 0)} ${FIELDS['b']?.(d, 0)} ${pad(d.getUTCDate(), 2, ' ')} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${d.getUTCFullYear()}`,
  C: (d) => pad(Math.floor(d.getUTCFullYear() / 100)),
  d: (d) => pad(d.getUTCDate()),
  D: (d) => `${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}/${pad(d.getUTCFullYear() % 100)}`,
  e: (d) => pad(d.getUTCDate(), 2, ' '),
  F: (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`,
  G: (d) => String(isoThursday(d).getUTCFullYear()),
  g: (d) => pad(isoThursday(d).getUTCFullYear() % 100),
  H: (d) => pad(d.getUTCHours()),
  I: (d) => pad(hour12(d)),
  j: (d) => pad(yday(d), 3),
  k: (d) => pad(d.getUTCHours(), 2, ' '),
  l: (d) => pad(hour12(d), 2, ' '),
  m: (d) => pad(d.getUTCMonth() + 1),
  M: (d) => pad(d.getUTCMinutes()),
  n: () => '\n',
  p: (d) => (d.getUTCHours() < 12 ? 'AM' : 'PM'),
  r: (d) => `${pad(hour12(d))}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${d.getUTCHours() < 12 ? 'AM' : 'PM'}`,
  R: (d) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`,
  s: (_d, s) => String(s),
  S: (d) => pad(d.getUTCSeconds()),
  t: () => '\t',
  T: (d) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`,
  u: (d) => String(d.getUTCDay() || 7),
  U: (d) => pad(weekOfYear(d, 0)),
  V: (d) => pad(Math.floor((yday(isoThursday(d)) - 1) / 7) + 1),
  w: (d) => String(d.getUTCDay()),
  W: (d) => pad(weekOfYear(d, 1)),
  // The C locale's date and time, as absl::FormatTime renders them.
  x: (d) => `${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}/${pad(d.getUTCFullYear() % 100)}`,
  X: (d) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`,
  y: (d) => pad(d.getUTCFullYear() % 100),
  Y: (d) => String(d.getUTCFullYear()),
  z: () => '+0000',
  Z: () => 'UTC',
  '%': () => '%',
};

/** A fraction of the second: `digits` of it (truncated), `*` all but trailing zeros; `seconds` puts `SS.` before it. */
interface Fraction {
  readonly digits: number | '*';
  readonly seconds: boolean;
}

type Piece = string | SecondField | Fraction;

/** Compiles a START_TIME format; throws AccessLogFormatError for a specifier Envoy's formatter would not render. */
export function compileDateFormat(format: string): (epochMs: number) => string {
  const pieces: Piece[] = [];
  let text = '';
  const flush = (): void => {
    if (text) pieces.push(text);
    text = '';
  };
  for (let i = 0; i < format.length; i++) {
    const ch = format[i] as string;
    if (ch !== '%') {
      text += ch;
      continue;
    }
    const next = format[i + 1] ?? '';
    const width = format[i + 2];
    if (next >= '1' && next <= '9' && width === 'f') {
      flush();
      pieces.push({ digits: Number(next), seconds: false });
      i += 2;
    } else if (next === 'f') {
      flush();
      pieces.push({ digits: 9, seconds: false });
      i += 1;
    } else if (next === 'E') {
      const [arg = '', spec = ''] = [format[i + 2], format[i + 3]];
      if (arg === 'z') {
        text += '+00:00';
        i += 2;
      } else if ((arg === '*' || (arg >= '0' && arg <= '9')) && (spec === 'S' || spec === 'f')) {
        flush();
        pieces.push({ digits: arg === '*' ? '*' : Number(arg), seconds: spec === 'S' });
        i += 3;
      } else throw new AccessLogFormatError(`%START_TIME(${format})%: unsupported specifier %E${arg}${spec}`);
    } else {
      const field = FIELDS[next];
      if (!field) throw new AccessLogFormatError(`%START_TIME(${format})%: unsupported specifier %${next}`);
      flush();
      pieces.push(field);
      i += 1;
    }
  }
  flush();
  return secondCached(pieces);
}

function trimZeros(digits: string): string {
  let end = digits.length;
  while (end > 0 && digits.charCodeAt(end - 1) === 48 /* '0' */) end--;
  return digits.slice(0, end);
}

/** The formatter: whole-second runs rendered once per second, fractions per call. */
function secondCached(pieces: readonly Piece[]): (epochMs: number) => string {
  // Runs of text and second fields between fractions: rendered[k] precedes fractions[k].
  const runs: (string | SecondField)[][] = [[]];
  const fractions: Fraction[] = [];
  for (const p of pieces) {
    if (typeof p === 'object') {
      fractions.push(p);
      runs.push([]);
    } else (runs[runs.length - 1] as (string | SecondField)[]).push(p);
  }
  let second = Number.NaN;
  let rendered: string[] = [];
  return (epochMs) => {
    const s = Math.floor(epochMs / 1000);
    if (s !== second) {
      const d = new Date(s * 1000);
      rendered = runs.map((run) => run.map((p) => (typeof p === 'string' ? p : p(d, s))).join(''));
      second = s;
    }
    if (fractions.length === 0) return rendered[0] as string;
    const nanos = pad(Math.floor((epochMs - s * 1000) * 1e6), 9);
    let out = rendered[0] as string;
    for (let k = 0; k < fractions.length; k++) {
      const f = fractions[k] as Fraction;
      const frac = f.digits === '*' ? trimZeros(nanos) : nanos.slice(0, f.digits);
      out += f.seconds ? `${pad(((s % 60) + 60) % 60)}${frac ? `.${frac}` : ''}` : frac;
      out += rendered[k + 1] as string;
    }
    return out;
  };
}
