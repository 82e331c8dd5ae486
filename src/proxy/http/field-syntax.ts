// HTTP syntax shared by the request parser and the HTTP/1.1 codecs: tokens (RFC 9110 §5.6.2) and the
// Connection options that decide whether a connection persists (RFC 9112 §9.3).

/** A token: a method or a field name. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * What no field value the proxy writes may carry: NUL, CR, LF, or a character that is not one byte
 * (written as latin1, it would lose its high byte: U+010A would become a line feed).
 */
export const BAD_OUTGOING_VALUE = /[\0\r\n\u0100-\uffff]/;

/**
 * A field value written in config (UTF-8 text) as the proxy carries values: one character per byte, as
 * Node reads and writes them on both HTTP/1.1 and HTTP/2. Envoy sends such a value's UTF-8 bytes; a
 * character above U+00FF written as it stands would lose its high byte on the wire (U+010A would become
 * a line feed).
 */
export function configFieldValue(text: string): string {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return Buffer.from(text, 'utf8').toString('latin1');
  return text;
}

/** Field names seen before, by their spelling on the wire, lower-cased: see fieldName. */
const fieldNames = new Map<string, string>();
/** Names are remembered up to this many: a peer sending endless new names cannot grow the map. */
const MAX_FIELD_NAMES = 512;

/** A string that shares no storage with the one it copies (a token is ASCII, so latin1 is exact). */
function flatCopy(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}

/**
 * A received field name, lower-cased; undefined if it is not a token. A name seen before costs one map
 * lookup instead of a pattern test and a new lower-cased string, and every request then uses the same
 * string as its header-map key, which V8 has already internalized (no string-table lookup per store).
 */
export function fieldName(raw: string): string | undefined {
  const known = fieldNames.get(raw);
  if (known !== undefined) return known;
  if (!TOKEN.test(raw)) return undefined;
  const lower = raw.toLowerCase();
  if (fieldNames.size >= MAX_FIELD_NAMES) return lower;
  // Kept as copies of their own: `raw` is a slice of the whole head (and `lower` may be `raw`), and a
  // slice kept in the map would keep that head, up to 60 KB, alive for the life of the process.
  const name = flatCopy(lower);
  fieldNames.set(flatCopy(raw), name);
  return name;
}

/** A Content-Length value: decimal digits only, at most 15 (a safe integer). */
export const DIGITS = /^\d{1,15}$/;

const CLOSE = /(^|,)\s*close\s*(,|$)/i;
const KEEP_ALIVE = /(^|,)\s*keep-alive\s*(,|$)/i;
const UPGRADE = /(^|,)\s*upgrade\s*(,|$)/i;

/** Whether a message of this version with this Connection value leaves the connection open. */
export function persists(http11: boolean, connection: string | undefined): boolean {
  if (connection === undefined) return http11;
  return http11 ? !CLOSE.test(connection) : KEEP_ALIVE.test(connection);
}

/** Whether a Connection value lists `close`. */
export function asksClose(connection: string): boolean {
  return CLOSE.test(connection);
}

/** Whether a Connection value lists `upgrade`. */
export function asksUpgrade(connection: string): boolean {
  return UPGRADE.test(connection);
}
