// Trace, span and request ids from an injected random source (Math.random in production, a seeded
// sequence in tests), as lower-case hex of the widths W3C and B3 use.

export type Random = () => number;

const HEX_BYTE: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** 32 random bits as 8 hex digits, by byte lookup (no number-to-string conversion per id). */
const hex8 = (random: Random): string => {
  const n = (random() * 0x1_0000_0000) >>> 0;
  return (HEX_BYTE[n >>> 24] as string) + (HEX_BYTE[(n >>> 16) & 0xff] as string) + (HEX_BYTE[(n >>> 8) & 0xff] as string) + (HEX_BYTE[n & 0xff] as string);
};

const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** 128-bit trace id as 32 hex digits, never all zeros. */
export function newTraceId(random: Random): string {
  const id = hex8(random) + hex8(random) + hex8(random) + hex8(random);
  return id === ZERO_TRACE ? '0'.repeat(31) + '1' : id;
}

/** 64-bit span id as 16 hex digits, never all zeros. */
export function newSpanId(random: Random): string {
  const id = hex8(random) + hex8(random);
  return id === ZERO_SPAN ? '0'.repeat(15) + '1' : id;
}

/** A version-4 UUID for x-request-id. */
export function newRequestId(random: Random): string {
  const h = hex8(random) + hex8(random) + hex8(random) + hex8(random);
  const variant = ((Number.parseInt(h[16] ?? '0', 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
