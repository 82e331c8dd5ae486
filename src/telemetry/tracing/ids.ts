// Trace, span and request ids from an injected random source (Math.random in production, a seeded
// sequence in tests), as lower-case hex of the widths W3C and B3 use.

export type Random = () => number;

const rand32 = (random: Random): number => (random() * 0x1_0000_0000) >>> 0;

const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** 128-bit trace id as 32 hex digits, never all zeros. */
export function newTraceId(random: Random): string {
  const a = rand32(random);
  const b = rand32(random);
  const c = rand32(random);
  const d = rand32(random);
  // One string from char codes, as newRequestId: no per-byte pieces to concatenate and flatten.
  const id = String.fromCharCode(
    hx(a >>> 28), hx((a >>> 24) & 15), hx((a >>> 20) & 15), hx((a >>> 16) & 15), hx((a >>> 12) & 15), hx((a >>> 8) & 15), hx((a >>> 4) & 15), hx(a & 15),
    hx(b >>> 28), hx((b >>> 24) & 15), hx((b >>> 20) & 15), hx((b >>> 16) & 15), hx((b >>> 12) & 15), hx((b >>> 8) & 15), hx((b >>> 4) & 15), hx(b & 15),
    hx(c >>> 28), hx((c >>> 24) & 15), hx((c >>> 20) & 15), hx((c >>> 16) & 15), hx((c >>> 12) & 15), hx((c >>> 8) & 15), hx((c >>> 4) & 15), hx(c & 15),
    hx(d >>> 28), hx((d >>> 24) & 15), hx((d >>> 20) & 15), hx((d >>> 16) & 15), hx((d >>> 12) & 15), hx((d >>> 8) & 15), hx((d >>> 4) & 15), hx(d & 15),
  );
  return id === ZERO_TRACE ? '0'.repeat(31) + '1' : id;
}

/** 64-bit span id as 16 hex digits, never all zeros. */
export function newSpanId(random: Random): string {
  const a = rand32(random);
  const b = rand32(random);
  const id = String.fromCharCode(
    hx(a >>> 28), hx((a >>> 24) & 15), hx((a >>> 20) & 15), hx((a >>> 16) & 15), hx((a >>> 12) & 15), hx((a >>> 8) & 15), hx((a >>> 4) & 15), hx(a & 15),
    hx(b >>> 28), hx((b >>> 24) & 15), hx((b >>> 20) & 15), hx((b >>> 16) & 15), hx((b >>> 12) & 15), hx((b >>> 8) & 15), hx((b >>> 4) & 15), hx(b & 15),
  );
  return id === ZERO_SPAN ? '0'.repeat(15) + '1' : id;
}

/** Char code of one hex digit (0-15 → '0'-'9', 'a'-'f'). */
const hx = (n: number): number => (n < 10 ? 48 + n : 87 + n);

/** A version-4 UUID for x-request-id: 128 random bits with the version and variant bits set. */
export function newRequestId(random: Random): string {
  // The same digits as formatting four hex8 draws and overwriting the version and variant positions,
  // built as one string (a template of 16 pieces made ~0.5 KB of intermediate strings per id).
  const a = rand32(random);
  const b = rand32(random);
  const c = rand32(random);
  const d = rand32(random);
  return String.fromCharCode(
    hx(a >>> 28), hx((a >>> 24) & 15), hx((a >>> 20) & 15), hx((a >>> 16) & 15), hx((a >>> 12) & 15), hx((a >>> 8) & 15), hx((a >>> 4) & 15), hx(a & 15), 45,
    hx(b >>> 28), hx((b >>> 24) & 15), hx((b >>> 20) & 15), hx((b >>> 16) & 15), 45,
    52, hx((b >>> 8) & 15), hx((b >>> 4) & 15), hx(b & 15), 45,
    hx(((c >>> 28) & 3) | 8), hx((c >>> 24) & 15), hx((c >>> 20) & 15), hx((c >>> 16) & 15), 45,
    hx((c >>> 12) & 15), hx((c >>> 8) & 15), hx((c >>> 4) & 15), hx(c & 15), hx(d >>> 28), hx((d >>> 24) & 15), hx((d >>> 20) & 15), hx((d >>> 16) & 15), hx((d >>> 12) & 15), hx((d >>> 8) & 15), hx((d >>> 4) & 15), hx(d & 15),
  );
}
