// HTTP syntax shared by the request parser and the HTTP/1.1 codecs: tokens (RFC 9110 §5.6.2) and the
// Connection options that decide whether a connection persists (RFC 9112 §9.3).

/** A token: a method or a field name. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

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
