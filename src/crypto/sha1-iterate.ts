// SHA-1 applied to its own 20-byte output, over and over, in plain JavaScript: the inner loop of the PKCS#12 key
// derivation (RFC 7292 appendix B.2; Azure's PFX: 2,048 iterations per key, six to eight keys per Certificates
// document). Each call of node:crypto costs a few microseconds of crossing into C++ for a 20-byte input; one
// padded block here costs a fraction of that (the derivation of a goal state's certificates: ~70 → ~10 ms).
// Only the fixed one-block case is implemented; it is checked against node:crypto in the unit tests.

const W = new Int32Array(80);

/** SHA-1(SHA-1(…SHA-1(input)…)), `times` applications to the 20-byte `input`; a new 20-byte buffer. */
export function sha1Iterate(input: Uint8Array, times: number): Buffer {
  if (input.length !== 20) throw new RangeError('sha1Iterate takes a 20-byte SHA-1 digest');
  let a0 = (input[0]! << 24) | (input[1]! << 16) | (input[2]! << 8) | input[3]!;
  let b0 = (input[4]! << 24) | (input[5]! << 16) | (input[6]! << 8) | input[7]!;
  let c0 = (input[8]! << 24) | (input[9]! << 16) | (input[10]! << 8) | input[11]!;
  let d0 = (input[12]! << 24) | (input[13]! << 16) | (input[14]! << 8) | input[15]!;
  let e0 = (input[16]! << 24) | (input[17]! << 16) | (input[18]! << 8) | input[19]!;
  for (let t = 0; t < times; t++) {
    // one block: the 20 bytes, the 0x80 terminator, zeros, and the length in bits (160)
    W[0] = a0;
    W[1] = b0;
    W[2] = c0;
    W[3] = d0;
    W[4] = e0;
    W[5] = 0x80000000 | 0;
    for (let i = 6; i < 15; i++) W[i] = 0;
    W[15] = 160;
    for (let i = 16; i < 80; i++) {
      const x = W[i - 3]! ^ W[i - 8]! ^ W[i - 14]! ^ W[i - 16]!;
      W[i] = (x << 1) | (x >>> 31);
    }
    let a = 0x67452301 | 0;
    let b = 0xefcdab89 | 0;
    let c = 0x98badcfe | 0;
    let d = 0x10325476 | 0;
    let e = 0xc3d2e1f0 | 0;
    // the four rounds as four loops: no branch per step
    for (let i = 0; i < 20; i++) {
      const t = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + W[i]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = t;
    }
    for (let i = 20; i < 40; i++) {
      const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + W[i]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = t;
    }
    for (let i = 40; i < 60; i++) {
      const t = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + 0x8f1bbcdc + W[i]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = t;
    }
    for (let i = 60; i < 80; i++) {
      const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0xca62c1d6 + W[i]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = t;
    }
    a0 = (0x67452301 + a) | 0;
    b0 = (0xefcdab89 + b) | 0;
    c0 = (0x98badcfe + c) | 0;
    d0 = (0x10325476 + d) | 0;
    e0 = (0xc3d2e1f0 + e) | 0;
  }
  const out = Buffer.alloc(20);
  out.writeInt32BE(a0, 0);
  out.writeInt32BE(b0, 4);
  out.writeInt32BE(c0, 8);
  out.writeInt32BE(d0, 12);
  out.writeInt32BE(e0, 16);
  return out;
}
