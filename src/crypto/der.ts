// A minimal ASN.1 reader and DER writer: enough for X.509, CMS EnvelopedData and PKCS#12.
// The reader accepts BER indefinite lengths and constructed OCTET STRINGs, which CMS and PKCS#12
// producers emit (`openssl cms -stream`, Windows PFX files); the writer emits DER only.
import { AgentError } from '../util/errors.ts';

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  BMP_STRING: 0x1e,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

export interface Asn1 {
  /** The identifier octet (class, constructed bit and tag number < 31). */
  readonly tag: number;
  readonly constructed: boolean;
  /** Content octets (for indefinite lengths: without the end-of-contents marker). */
  readonly content: Buffer;
  /** The whole element, header included. */
  readonly raw: Buffer;
}

function fail(what: string): never {
  throw new AgentError('crypto', `malformed ASN.1 data: ${what}`);
}

/** Reads one element at `offset`; returns it and the offset just past it. */
export function readElement(buf: Buffer, offset = 0, depth = 0): { node: Asn1; end: number } {
  if (depth > 64) fail('nesting is too deep');
  if (offset + 2 > buf.length) fail('an element is truncated');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) fail('multi-byte tag numbers are not supported');
  const constructed = (tag & 0x20) !== 0;
  let pos = offset + 1;
  const first = buf[pos++]!;
  if (first === 0x80) {
    // Indefinite length (BER): children up to an end-of-contents marker 00 00.
    if (!constructed) fail('an indefinite length on a primitive element');
    const start = pos;
    for (;;) {
      if (pos + 2 > buf.length) fail('an indefinite-length element has no end-of-contents marker');
      if (buf[pos] === 0 && buf[pos + 1] === 0) break;
      pos = readElement(buf, pos, depth + 1).end;
    }
    return { node: { tag, constructed, content: buf.subarray(start, pos), raw: buf.subarray(offset, pos + 2) }, end: pos + 2 };
  }
  let len = first;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n > 4) fail('a length field is too long');
    if (pos + n > buf.length) fail('a length field is truncated');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos++]!;
  }
  if (pos + len > buf.length) fail('an element is longer than its enclosing data');
  return { node: { tag, constructed, content: buf.subarray(pos, pos + len), raw: buf.subarray(offset, pos + len) }, end: pos + len };
}

/** Parses a buffer holding exactly one element (trailing bytes are an error). */
export function parse(buf: Buffer): Asn1 {
  const { node, end } = readElement(buf, 0);
  if (end !== buf.length) fail(`${buf.length - end} bytes follow the top-level element`);
  return node;
}

export function children(node: Asn1): Asn1[] {
  if (!node.constructed) fail(`element with tag 0x${node.tag.toString(16)} is not constructed`);
  const out: Asn1[] = [];
  for (let off = 0; off < node.content.length; ) {
    const { node: child, end } = readElement(node.content, off, 1);
    out.push(child);
    off = end;
  }
  return out;
}

export function expect(node: Asn1 | undefined, tag: number, what: string): Asn1 {
  if (!node) fail(`${what} is missing`);
  if (node.tag !== tag) fail(`${what} has tag 0x${node.tag.toString(16)} instead of 0x${tag.toString(16)}`);
  return node;
}

/** The children of a SEQUENCE (or SET), checking the tag. */
export function seq(node: Asn1 | undefined, what: string, tag: number = TAG.SEQUENCE): Asn1[] {
  return children(expect(node, tag, what));
}

/** The octets of an OCTET STRING (or an implicitly tagged one); constructed (BER) forms are concatenated. */
export function octets(node: Asn1): Buffer {
  if (!node.constructed) return node.content;
  return Buffer.concat(children(node).map(octets));
}

export function oid(node: Asn1 | undefined, what = 'an object identifier'): string {
  const n = expect(node, TAG.OID, what);
  const parts: number[] = [];
  let v = 0;
  for (const b of n.content) {
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      if (parts.length === 0) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else parts.push(v);
      v = 0;
    }
  }
  if (n.content.length === 0 || n.content[n.content.length - 1]! & 0x80) fail(`${what} is truncated`);
  return parts.join('.');
}

/** A small non-negative INTEGER as a number (iteration counts, versions). */
export function smallInt(node: Asn1 | undefined, what: string): number {
  const n = expect(node, TAG.INTEGER, what);
  if (n.content.length === 0 || n.content.length > 6 || n.content[0]! & 0x80) fail(`${what} is not a small non-negative integer`);
  return n.content.readUIntBE(0, n.content.length);
}

/** The bytes of a BIT STRING without its unused-bits octet. */
export function bitString(node: Asn1 | undefined, what: string): Buffer {
  const n = expect(node, TAG.BIT_STRING, what);
  if (n.content.length === 0) fail(`${what} is empty`);
  return n.content.subarray(1);
}

/** Context-specific tag number of a node, or -1 when it is not context-specific. */
export function contextTag(node: Asn1): number {
  return (node.tag & 0xc0) === 0x80 ? node.tag & 0x1f : -1;
}

/** The inner element of an EXPLICIT [n] tag. */
export function explicitInner(node: Asn1 | undefined, n: number, what: string): Asn1 {
  if (!node || contextTag(node) !== n || !node.constructed) fail(`${what} ([${n}]) is missing`);
  const kids = children(node);
  if (kids.length !== 1) fail(`${what} ([${n}]) does not hold exactly one element`);
  return kids[0]!;
}

/** An AlgorithmIdentifier: the OID and the parameters element, if any. */
export function algorithm(node: Asn1 | undefined, what: string): { oid: string; params: Asn1 | undefined } {
  const [id, params] = seq(node, what);
  return { oid: oid(id, what), params: params && params.tag !== TAG.NULL ? params : undefined };
}

// ---- writer ----

export function tlv(tag: number, content: Uint8Array): Buffer {
  const len = content.length;
  let header: number[];
  if (len < 0x80) header = [tag, len];
  else {
    const bytes: number[] = [];
    for (let n = len; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
    header = [tag, 0x80 | bytes.length, ...bytes];
  }
  return Buffer.concat([Buffer.from(header), content]);
}

export const encode = {
  sequence: (...items: Buffer[]): Buffer => tlv(TAG.SEQUENCE, Buffer.concat(items)),
  set: (...items: Buffer[]): Buffer => tlv(TAG.SET, Buffer.concat(items)),
  null: (): Buffer => Buffer.from([TAG.NULL, 0]),
  boolean: (v: boolean): Buffer => Buffer.from([TAG.BOOLEAN, 1, v ? 0xff : 0]),
  octetString: (b: Uint8Array): Buffer => tlv(TAG.OCTET_STRING, b),
  bitString: (b: Uint8Array): Buffer => tlv(TAG.BIT_STRING, Buffer.concat([Buffer.from([0]), b])),
  utf8String: (s: string): Buffer => tlv(TAG.UTF8_STRING, Buffer.from(s, 'utf8')),
  explicit: (n: number, inner: Buffer): Buffer => tlv(0xa0 | n, inner),
  /** A non-negative INTEGER from unsigned big-endian bytes or a number. */
  integer(v: Uint8Array | number): Buffer {
    let b: Buffer;
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v) || v < 0) throw new AgentError('crypto', `cannot encode ${v} as an ASN.1 INTEGER`);
      const bytes: number[] = [];
      for (let n = v; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
      b = Buffer.from(bytes.length ? bytes : [0]);
    } else b = Buffer.from(v);
    let i = 0;
    while (i < b.length - 1 && b[i] === 0 && !(b[i + 1]! & 0x80)) i++;
    b = b.subarray(i);
    if (b.length === 0) b = Buffer.from([0]);
    if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
    return tlv(TAG.INTEGER, b);
  },
  oid(dotted: string): Buffer {
    const parts = dotted.split('.').map(Number);
    if (parts.length < 2 || parts.some((p) => !Number.isSafeInteger(p) || p < 0)) {
      throw new AgentError('crypto', `"${dotted}" is not a valid object identifier`);
    }
    const out: number[] = [];
    const push = (v: number) => {
      const groups = [v & 0x7f];
      for (v = Math.floor(v / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
      out.push(...groups);
    };
    push(parts[0]! * 40 + parts[1]!);
    for (const p of parts.slice(2)) push(p);
    return tlv(TAG.OID, Buffer.from(out));
  },
  /** UTCTime up to 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5). */
  time(d: Date): Buffer {
    const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
    const digits = iso.slice(0, 19).replace(/[-T:]/g, '') + 'Z';
    return d.getUTCFullYear() < 2050
      ? tlv(TAG.UTC_TIME, Buffer.from(digits.slice(2), 'ascii'))
      : tlv(TAG.GENERALIZED_TIME, Buffer.from(digits, 'ascii'));
  },
};

/** PEM armour with 64-character lines and a trailing newline. */
export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** The DER inside the first PEM block with the given label. */
export function fromPem(pem: string, label: string): Buffer {
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(pem);
  if (!m) throw new AgentError('crypto', `the PEM text holds no ${label} block`);
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
}
