// Trace, span and request ids from an injected random source (Math.random in production, a seeded
// sequence in tests), as lower-case hex of the widths W3C and B3 use.

export type Random = () => number;

const HEX_BYTE: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const HEX_NIBBLE: readonly string[] = Array.from({ length: 16 }, (_, i) => i.toString(16));

const rand32 = (random: Random): number => (random() * 0x1_0000_0000) >>> 0;

/** 32 random bits as 8 hex digits, by byte lookup (no number-to-string conversion per id). */
const hex8 = (random: Random): string => {
  const n = rand32(random);
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

const hexByte = (b: number): string => HEX_BYTE[b & 0xff] as string;
/** The low 12 bits as 3 hex digits. */
const hex3 = (n: number): string => (hexByte(n >>> 8) as string).slice(1) + hexByte(n);

/** A version-4 UUID for x-request-id: 128 random bits with the version and variant bits set. */
export function newRequestId(random: Random): string {
  // The same digits as formatting four hex8 draws and overwriting the version and variant positions.
  const a = rand32(random);
  const b = rand32(random);
  const c = rand32(random);
  const d = rand32(random);
  const variant = HEX_NIBBLE[((c >>> 28) & 0x3) | 0x8] as string;
  return `${hexByte(a >>> 24)}${hexByte(a >>> 16)}${hexByte(a >>> 8)}${hexByte(a)}-${hexByte(b >>> 24)}${hexByte(b >>> 16)}-4${hex3(b)}-${variant}${hex3(c >>> 16)}-${hexByte(c >>> 8)}${hexByte(c)}${hexByte(d >>> 24)}${hexByte(d >>> 16)}${hexByte(d >>> 8)}${hexByte(d)}`;
}
