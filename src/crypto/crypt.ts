// crypt(3) password hashes in-process: SHA-512 ($6$) and SHA-256 ($5$) per Ulrich Drepper's
// "Unix crypt using SHA-256 and SHA-512" (with rounds=), and the MD5 scheme ($1$) of FreeBSD/glibc.
// The provisioning code hashes the admin password with these before handing it to usermod/chpasswd.
import { createHash, randomInt } from 'node:crypto';
import { AgentError } from '../util/errors.ts';

export type CryptId = '1' | '5' | '6';

const ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const ROUNDS_DEFAULT = 5000;
const ROUNDS_MIN = 1000;
const ROUNDS_MAX = 999_999_999;
const MAX_SALT: Record<CryptId, number> = { '1': 8, '5': 16, '6': 16 };

/** crypt's base64: `n` characters from 24 bits, least significant six bits first. */
function b64From24(b2: number, b1: number, b0: number, n: number): string {
  let w = (b2 << 16) | (b1 << 8) | b0;
  let s = '';
  for (let i = 0; i < n; i++) {
    s += ALPHABET[w & 0x3f];
    w >>>= 6;
  }
  return s;
}

/** Encodes a digest in the byte order each scheme uses: triples of indices, the last group shorter. */
function encode(d: Buffer, order: readonly (readonly [number, number, number])[], tail: readonly [number, number, number, number]): string {
  let s = '';
  for (const [a, b, c] of order) s += b64From24(d[a]!, d[b]!, d[c]!, 4);
  const [a, b, c, n] = tail;
  return s + b64From24(a < 0 ? 0 : d[a]!, b < 0 ? 0 : d[b]!, d[c]!, n);
}

// Drepper's byte orders for the final encoding.
const SHA512_ORDER = [
  [0, 21, 42],
  [22, 43, 1],
  [44, 2, 23],
  [3, 24, 45],
  [25, 46, 4],
  [47, 5, 26],
  [6, 27, 48],
  [28, 49, 7],
  [50, 8, 29],
  [9, 30, 51],
  [31, 52, 10],
  [53, 11, 32],
  [12, 33, 54],
  [34, 55, 13],
  [56, 14, 35],
  [15, 36, 57],
  [37, 58, 16],
  [59, 17, 38],
  [18, 39, 60],
  [40, 61, 19],
  [62, 20, 41],
] as const;
const SHA256_ORDER = [
  [0, 10, 20],
  [21, 1, 11],
  [12, 22, 2],
  [3, 13, 23],
  [24, 4, 14],
  [15, 25, 5],
  [6, 16, 26],
  [27, 7, 17],
  [18, 28, 8],
  [9, 19, 29],
] as const;

/** Bytes of `src` repeated to `len` bytes. */
function repeat(src: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i++) out[i] = src[i % src.length]!;
  return out;
}

function shaCrypt(hash: 'sha256' | 'sha512', pw: Buffer, salt: Buffer, rounds: number): Buffer {
  const H = (...parts: Buffer[]) => {
    const h = createHash(hash);
    for (const p of parts) h.update(p);
    return h.digest();
  };
  const B = H(pw, salt, pw);
  const hl = B.length;
  const aParts: Buffer[] = [pw, salt];
  for (let n = pw.length; n > 0; n -= hl) aParts.push(B.subarray(0, Math.min(n, hl)));
  for (let n = pw.length; n > 0; n >>= 1) aParts.push(n & 1 ? B : pw);
  const A = H(...aParts);
  const DP = H(...Array<Buffer>(pw.length).fill(pw));
  const P = pw.length ? repeat(DP, pw.length) : Buffer.alloc(0);
  const DS = H(...Array<Buffer>(16 + A[0]!).fill(salt));
  const S = repeat(DS, salt.length);
  let C = A;
  for (let i = 0; i < rounds; i++) {
    const h = createHash(hash);
    h.update(i & 1 ? P : C);
    if (i % 3) h.update(S);
    if (i % 7) h.update(P);
    h.update(i & 1 ? C : P);
    C = h.digest();
  }
  return C;
}

function md5Crypt(pw: Buffer, salt: Buffer): string {
  const md5 = (...parts: Buffer[]) => {
    const h = createHash('md5');
    for (const p of parts) h.update(p);
    return h.digest();
  };
  const alt = md5(pw, salt, pw);
  const parts: Buffer[] = [pw, Buffer.from('$1$'), salt];
  for (let n = pw.length; n > 0; n -= 16) parts.push(alt.subarray(0, Math.min(n, 16)));
  for (let n = pw.length; n > 0; n >>= 1) parts.push(n & 1 ? Buffer.from([0]) : pw.subarray(0, 1));
  let f = md5(...parts);
  for (let i = 0; i < 1000; i++) {
    const p: Buffer[] = [i & 1 ? pw : f];
    if (i % 3) p.push(salt);
    if (i % 7) p.push(pw);
    p.push(i & 1 ? f : pw);
    f = md5(...p);
  }
  const order = [
    [0, 6, 12],
    [1, 7, 13],
    [2, 8, 14],
    [3, 9, 15],
    [4, 10, 5],
  ] as const;
  return encode(f, order, [-1, -1, 11, 2]);
}

/**
 * Hashes `password` with a crypt(3) setting (`$6$salt`, `$5$rounds=N$salt`, `$1$salt`, or a whole
 * hash, whose salt is reused): the verification primitive.
 */
export function cryptWithSalt(password: string, setting: string): string {
  const m = /^\$([156])\$(rounds=(\d+)\$)?([^$]*)/.exec(setting);
  if (!m) throw new AgentError('crypto', 'the crypt setting does not start with $1$, $5$ or $6$');
  const id = m[1] as CryptId;
  const pw = Buffer.from(password, 'utf8');
  const salt = Buffer.from(m[4]!.slice(0, MAX_SALT[id]), 'utf8');
  if (id === '1') {
    if (m[2]) throw new AgentError('crypto', 'the MD5 crypt scheme does not take a rounds= parameter');
    return `$1$${salt.toString()}$${md5Crypt(pw, salt)}`;
  }
  let rounds = ROUNDS_DEFAULT;
  if (m[3] !== undefined) rounds = Math.min(ROUNDS_MAX, Math.max(ROUNDS_MIN, Number(m[3])));
  const prefix = `$${id}$${m[2] ? `rounds=${rounds}$` : ''}${salt.toString()}$`;
  if (id === '6') return prefix + encode(shaCrypt('sha512', pw, salt, rounds), SHA512_ORDER, [-1, -1, 63, 2]);
  return prefix + encode(shaCrypt('sha256', pw, salt, rounds), SHA256_ORDER, [-1, 31, 30, 3]);
}

/** A new crypt(3) hash with a random salt of `saltLength` characters from [a-zA-Z0-9./]. */
export function cryptPassword(password: string, cryptId: CryptId, saltLength: number): string {
  const max = MAX_SALT[cryptId];
  if (!max) throw new AgentError('crypto', `the crypt id ${String(cryptId)} is not 1, 5 or 6`);
  if (!Number.isInteger(saltLength) || saltLength < 1 || saltLength > max) {
    throw new AgentError('crypto', `a crypt salt for id ${cryptId} must be 1 to ${max} characters long, not ${saltLength}`);
  }
  let salt = '';
  for (let i = 0; i < saltLength; i++) salt += ALPHABET[randomInt(ALPHABET.length)];
  return cryptWithSalt(password, `$${cryptId}$${salt}`);
}
