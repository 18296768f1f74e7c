// Password-based decryption for PKCS#12: the RFC 7292 schemes (appendix B key derivation with IDs
// 1 = key, 2 = IV, 3 = MAC key, and the pbeWithSHA1And* ciphers of appendix C) and PBES2 (RFC 8018:
// PBKDF2 + AES/3DES-CBC), which OpenSSL 3 writes by default.
import { createHash, hash as oneShotHash, pbkdf2Sync } from 'node:crypto';
import { AgentError } from '../util/errors.ts';
import { optimizingTiersOn } from '../util/jit-tiers.ts';
import { algorithm, expect, octets, seq, smallInt, TAG, type Asn1 } from './der.ts';
import { cipherForOid, decryptCbc, decryptWith, keyLength, type CipherName } from './ciphers.ts';
import { OID } from './oids.ts';
import { sha1Iterate } from './sha1-iterate.ts';

/**
 * How the password is turned into bytes. `bmp` is RFC 7292's BMPString with a two-byte terminator
 * ("" → 00 00); `none` is a NULL password (no bytes), which some producers (and OpenSSL, as a
 * fallback) use for an empty password.
 */
export type PasswordForm = 'bmp' | 'none';

const BLOCK_SIZES: Record<string, number> = { sha1: 64, sha224: 64, sha256: 64, sha384: 128, sha512: 128 };

export function passwordBytes(password: string, form: PasswordForm): Buffer {
  if (form === 'none') return Buffer.alloc(0);
  const b = Buffer.alloc(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) b.writeUInt16BE(password.charCodeAt(i), i * 2);
  return b;
}

/** RFC 7292 appendix B.2: derives `n` bytes of key material of kind `id` (1 key, 2 IV, 3 MAC). */
export function pkcs12Kdf(hash: string, password: Buffer, salt: Buffer, id: 1 | 2 | 3, iterations: number, n: number): Buffer {
  const v = BLOCK_SIZES[hash];
  if (!v) throw new AgentError('crypto', `the PKCS#12 key derivation does not support the hash ${hash}`);
  const fill = (src: Buffer): Buffer => {
    const len = src.length ? v * Math.ceil(src.length / v) : 0;
    const out = Buffer.alloc(len);
    for (let i = 0; i < len; i++) out[i] = src[i % src.length]!;
    return out;
  };
  const D = Buffer.alloc(v, id);
  const I = Buffer.concat([fill(salt), fill(password)]);
  const parts: Buffer[] = [];
  let got = 0;
  while (got < n) {
    let A: Buffer = createHash(hash).update(D).update(I).digest();
    // Azure's PFX (SHA-1): JavaScript beats 2,047 calls into C++, but only while V8 may optimize it (Sparkplug runs
    // it ~4x slower than node:crypto; src/util/jit-tiers.ts)
    if (hash === 'sha1' && optimizingTiersOn()) A = sha1Iterate(A, iterations - 1);
    // the one-shot hash: no Hash object per iteration (2,048 of them per key: ~2.5x faster, issue 14)
    else for (let r = 1; r < iterations; r++) A = oneShotHash(hash, A, 'buffer');
    parts.push(A);
    got += A.length;
    if (got >= n) break;
    const B = fill(A).subarray(0, v);
    // I_j = (I_j + B + 1) mod 2^(8v), for each v-byte block of I.
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k]! + B[k]! + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(parts).subarray(0, n);
}

const PKCS12_PBE: Record<string, { cipher: CipherName; keyLen: number; rc2Bits?: number }> = {
  [OID.pbeSha1Des3Key3]: { cipher: 'des-ede3-cbc', keyLen: 24 },
  [OID.pbeSha1Des3Key2]: { cipher: 'des-ede-cbc', keyLen: 16 },
  [OID.pbeSha1Rc2_128]: { cipher: 'rc2-cbc', keyLen: 16, rc2Bits: 128 },
  [OID.pbeSha1Rc2_40]: { cipher: 'rc2-cbc', keyLen: 5, rc2Bits: 40 },
};

const PRFS: Record<string, string> = {
  [OID.hmacWithSha1]: 'sha1',
  [OID.hmacWithSha224]: 'sha224',
  [OID.hmacWithSha256]: 'sha256',
  [OID.hmacWithSha384]: 'sha384',
  [OID.hmacWithSha512]: 'sha512',
};

/** Iterations beyond this are refused: a hostile file must not keep the agent busy for hours. */
const MAX_ITERATIONS = 10_000_000;

function iterationCount(node: Asn1 | undefined): number {
  const n = smallInt(node, 'the iteration count');
  if (n < 1 || n > MAX_ITERATIONS) throw new AgentError('crypto', `the iteration count ${n} is out of range`);
  return n;
}

function pbes2(params: Asn1 | undefined, password: string, data: Buffer): Buffer {
  const [kdfNode, schemeNode] = seq(params, 'the PBES2 parameters');
  const kdf = algorithm(kdfNode, 'the PBES2 key derivation function');
  if (kdf.oid !== OID.pbkdf2) throw new AgentError('crypto', `the PBES2 key derivation function ${kdf.oid} is not supported`);
  const [salt, iter, ...rest] = seq(kdf.params, 'the PBKDF2 parameters');
  let keyLen: number | undefined;
  let prf = 'sha1';
  for (const r of rest) {
    if (r.tag === TAG.INTEGER) keyLen = smallInt(r, 'the PBKDF2 key length');
    else if (r.tag === TAG.SEQUENCE) {
      const id = algorithm(r, 'the PBKDF2 pseudo-random function').oid;
      const name = PRFS[id];
      if (!name) throw new AgentError('crypto', `the PBKDF2 pseudo-random function ${id} is not supported`);
      prf = name;
    }
  }
  const scheme = algorithm(schemeNode, 'the PBES2 encryption scheme');
  const len = keyLen ?? keyLength(cipherForOid(scheme.oid));
  if (!len) throw new AgentError('crypto', 'the PBES2 parameters do not give a key length for RC2');
  const salty = octets(expect(salt, TAG.OCTET_STRING, 'the PBKDF2 salt'));
  // PBES2 takes the password as its UTF-8 bytes, not as a BMPString (RFC 8018, RFC 7292 appendix B.1 note).
  const key = pbkdf2Sync(Buffer.from(password, 'utf8'), salty, iterationCount(iter), len, prf);
  return decryptCbc(scheme.oid, scheme.params, key, data);
}

/** Decrypts `data` encrypted with the algorithm identified by `alg` under `password`. */
export function decryptPbe(alg: Asn1 | undefined, password: string, form: PasswordForm, data: Buffer): Buffer {
  const { oid, params } = algorithm(alg, 'the encryption algorithm');
  if (oid === OID.pbes2) return pbes2(params, password, data);
  const scheme = PKCS12_PBE[oid];
  if (!scheme) {
    const rc4 = oid === OID.pbeSha1Rc4_128 || oid === OID.pbeSha1Rc4_40;
    throw new AgentError('crypto', `the PKCS#12 encryption algorithm ${oid}${rc4 ? ' (RC4)' : ''} is not supported`);
  }
  const [salt, iter] = seq(params, 'the PKCS#12 PBE parameters');
  const s = octets(expect(salt, TAG.OCTET_STRING, 'the PBE salt'));
  const n = iterationCount(iter);
  const pw = passwordBytes(password, form);
  let key = pkcs12Kdf('sha1', pw, s, 1, n, scheme.keyLen);
  const iv = pkcs12Kdf('sha1', pw, s, 2, n, 8);
  let cipher = scheme.cipher;
  if (cipher === 'des-ede-cbc') {
    // Two-key 3DES is three-key 3DES with K3 = K1.
    key = Buffer.concat([key, key.subarray(0, 8)]);
    cipher = 'des-ede3-cbc';
  }
  return decryptWith(cipher, key, iv, data, scheme.rc2Bits);
}
