/**
 * Snappy compression (the raw format Parquet's SNAPPY codec uses) into one preallocated buffer: the reference
 * algorithm (64 KiB blocks, 4-byte hash of the input, greedy matches) without per-byte writer calls. Output is
 * read back by any Snappy decoder (hyparquet's and DuckDB's in the tests).
 */

const BLOCK = 1 << 16;
const HASH_BITS = 14;
const table = new Uint16Array(1 << HASH_BITS);

/** The most bytes `compress` can produce for `n` input bytes. */
function maxCompressedLength(n: number): number {
  return 32 + n + Math.floor(n / 6);
}

function load32(a: Uint8Array, i: number): number {
  return (
    ((a[i] as number) | ((a[i + 1] as number) << 8) | ((a[i + 2] as number) << 16) | ((a[i + 3] as number) << 24)) >>> 0
  );
}

function emitLiteral(input: Uint8Array, from: number, length: number, out: Uint8Array, at: number): number {
  const n = length - 1;
  if (n < 60) out[at++] = n << 2;
  else if (n < 1 << 8) {
    out[at++] = 60 << 2;
    out[at++] = n;
  } else if (n < 1 << 16) {
    out[at++] = 61 << 2;
    out[at++] = n & 0xff;
    out[at++] = n >>> 8;
  } else {
    out[at++] = 62 << 2;
    out[at++] = n & 0xff;
    out[at++] = (n >>> 8) & 0xff;
    out[at++] = n >>> 16;
  }
  out.set(input.subarray(from, from + length), at);
  return at + length;
}

function emitCopy(offset: number, length: number, out: Uint8Array, at: number): number {
  // copies of up to 64 bytes, 2-byte offsets (offsets are below 64 KiB within a block)
  while (length >= 68) {
    out[at++] = (63 << 2) | 2;
    out[at++] = offset & 0xff;
    out[at++] = offset >>> 8;
    length -= 64;
  }
  if (length > 64) {
    out[at++] = (59 << 2) | 2;
    out[at++] = offset & 0xff;
    out[at++] = offset >>> 8;
    length -= 60;
  }
  if (length < 12 && offset < 2048) {
    out[at++] = ((offset >>> 8) << 5) | ((length - 4) << 2) | 1;
    out[at++] = offset & 0xff;
  } else {
    out[at++] = ((length - 1) << 2) | 2;
    out[at++] = offset & 0xff;
    out[at++] = offset >>> 8;
  }
  return at;
}

function compressBlock(input: Uint8Array, start: number, end: number, out: Uint8Array, at: number): number {
  const length = end - start;
  let emit = start;
  if (length >= 15) {
    table.fill(0);
    const limit = end - 15;
    let ip = start + 1;
    let nextHash = Math.imul(load32(input, ip), 0x1e35a7bd) >>> (32 - HASH_BITS);
    for (;;) {
      let skip = 32;
      let next = ip;
      let candidate = 0;
      do {
        ip = next;
        const hash = nextHash;
        next = ip + (skip++ >>> 5);
        if (next > limit) return emitLiteral(input, emit, end - emit, out, at);
        nextHash = Math.imul(load32(input, next), 0x1e35a7bd) >>> (32 - HASH_BITS);
        candidate = start + (table[hash] as number);
        table[hash] = ip - start;
      } while (load32(input, ip) !== load32(input, candidate));
      at = emitLiteral(input, emit, ip - emit, out, at);
      for (;;) {
        const base = ip;
        let matched = 4;
        while (base + matched < end && input[base + matched] === input[candidate + matched]) matched++;
        ip += matched;
        at = emitCopy(base - candidate, matched, out, at);
        emit = ip;
        if (ip >= limit) return emit < end ? emitLiteral(input, emit, end - emit, out, at) : at;
        const prev = Math.imul(load32(input, ip - 1), 0x1e35a7bd) >>> (32 - HASH_BITS);
        table[prev] = ip - 1 - start;
        const hash = Math.imul(load32(input, ip), 0x1e35a7bd) >>> (32 - HASH_BITS);
        candidate = start + (table[hash] as number);
        table[hash] = ip - start;
        if (load32(input, ip) !== load32(input, candidate)) break;
      }
      nextHash = Math.imul(load32(input, ip + 1), 0x1e35a7bd) >>> (32 - HASH_BITS);
      ip++;
    }
  }
  return emit < end ? emitLiteral(input, emit, end - emit, out, at) : at;
}

/** Snappy-compresses `input`. */
export function snappyCompress(input: Uint8Array): Uint8Array {
  const out = new Uint8Array(maxCompressedLength(input.length));
  let at = 0;
  let n = input.length;
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out[at++] = byte;
  } while (n > 0);
  for (let start = 0; start < input.length; start += BLOCK)
    at = compressBlock(input, start, Math.min(input.length, start + BLOCK), out, at);
  return out.subarray(0, at);
}
