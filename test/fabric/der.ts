// The emulator's own small DER reader and writer (definite lengths only), for the PKCS#12 merge and the CMS
// envelopes it makes. The emulator stands in for the platform, so it does not borrow the agent's src/crypto/der.ts:
// a bug there must not be able to agree with itself.

export interface Tlv {
  tag: number;
  /** whole element */
  raw: Buffer;
  /** contents */
  value: Buffer;
}

/** The element at `offset`; `what` names the data in the error ("truncated DER element in PKCS#12 data"). */
export function readTlv(buf: Buffer, offset: number, what = 'DER data'): Tlv {
  if (offset + 2 > buf.length) throw new Error(`truncated DER element in ${what}`);
  const tag = buf[offset]!;
  let len = buf[offset + 1]!;
  let header = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error(`unsupported DER length in ${what}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[offset + 2 + i]!;
    header += n;
  }
  if (offset + header + len > buf.length) throw new Error(`truncated DER element in ${what}`);
  return { tag, raw: buf.subarray(offset, offset + header + len), value: buf.subarray(offset + header, offset + header + len) };
}

export function children(value: Buffer, what = 'DER data'): Tlv[] {
  const out: Tlv[] = [];
  for (let off = 0; off < value.length; ) {
    const t = readTlv(value, off, what);
    out.push(t);
    off += t.raw.length;
  }
  return out;
}

/** One DER element: tag, definite length, contents. */
export function der(tag: number, ...value: Buffer[]): Buffer {
  const body = Buffer.concat(value);
  const len = body.length;
  let header: Buffer;
  if (len < 0x80) header = Buffer.from([tag, len]);
  else {
    const bytes: number[] = [];
    for (let n = len; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
    header = Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([header, body]);
}

/** An OBJECT IDENTIFIER element from its dotted form. */
export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [];
  const push = (v: number) => {
    const groups = [v & 0x7f];
    for (v = Math.floor(v / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
    out.push(...groups);
  };
  push(parts[0]! * 40 + parts[1]!);
  for (const p of parts.slice(2)) push(p);
  return der(0x06, Buffer.from(out));
}
