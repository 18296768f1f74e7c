// Block-cipher decryption for CMS content and PKCS#12/PKCS#5 PBE: node:crypto for AES and 3DES,
// our own RC2 (rc2.ts) where the runtime has none. All modes are CBC with PKCS#7 padding.
import { createDecipheriv } from 'node:crypto';
import { AgentError } from '../util/errors.ts';
import { expect, octets, seq, smallInt, TAG, type Asn1 } from './der.ts';
import { OID } from './oids.ts';
import { rc2DecryptCbc } from './rc2.ts';

export type CipherName = 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc' | 'des-ede3-cbc' | 'des-ede-cbc' | 'rc2-cbc';

const KEY_LENGTHS: Record<CipherName, number> = {
  'aes-128-cbc': 16,
  'aes-192-cbc': 24,
  'aes-256-cbc': 32,
  'des-ede3-cbc': 24,
  'des-ede-cbc': 16,
  'rc2-cbc': 0, // any
};

const BY_OID: Record<string, CipherName> = {
  [OID.aes128Cbc]: 'aes-128-cbc',
  [OID.aes192Cbc]: 'aes-192-cbc',
  [OID.aes256Cbc]: 'aes-256-cbc',
  [OID.desEde3Cbc]: 'des-ede3-cbc',
  [OID.rc2Cbc]: 'rc2-cbc',
};

export function cipherForOid(oid: string): CipherName {
  const name = BY_OID[oid];
  if (!name) throw new AgentError('crypto', `the content encryption algorithm ${oid} is not supported`);
  return name;
}

export function keyLength(name: CipherName): number {
  return KEY_LENGTHS[name];
}

function unpad(buf: Buffer, block: number): Buffer {
  const n = buf.length ? buf[buf.length - 1]! : 0;
  let bad = n === 0 || n > block || n > buf.length ? 1 : 0;
  for (let i = buf.length - Math.min(n, buf.length); i < buf.length; i++) bad |= buf[i] === n ? 0 : 1;
  if (bad) throw new AgentError('crypto', 'the decrypted data has invalid padding (wrong key or corrupted data)');
  return buf.subarray(0, buf.length - n);
}

/** CBC decryption with PKCS#7 padding removed. `rc2Bits` is the RC2 effective key length. */
export function decryptWith(name: CipherName, key: Buffer, iv: Buffer, data: Buffer, rc2Bits = key.length * 8): Buffer {
  const want = KEY_LENGTHS[name];
  if (want && key.length !== want)
    throw new AgentError('crypto', `a ${name} key must be ${want} bytes long, not ${key.length} (wrong decryption key?)`);
  const block = name.startsWith('aes') ? 16 : 8;
  if (iv.length !== block) throw new AgentError('crypto', `a ${name} initialisation vector must be ${block} bytes long`);
  if (data.length === 0 || data.length % block) throw new AgentError('crypto', `the ${name} ciphertext is not a whole number of blocks`);
  if (name === 'rc2-cbc') return unpad(rc2DecryptCbc(key, rc2Bits, iv, data), block);
  const d = createDecipheriv(name, key, iv);
  d.setAutoPadding(false);
  return unpad(Buffer.concat([d.update(data), d.final()]), block);
}

/** RC2 effective key bits from RC2CBCParameter's version field (RFC 8018 B.2.3). */
function rc2Bits(version: number): number {
  const table: Record<number, number> = { 160: 40, 120: 64, 58: 128 };
  return table[version] ?? version;
}

/** Decrypts with an AlgorithmIdentifier's OID and parameters (the IV, or RC2CBCParameter for RC2). */
export function decryptCbc(oid: string, params: Asn1 | undefined, key: Buffer, data: Buffer): Buffer {
  const name = cipherForOid(oid);
  if (!params) throw new AgentError('crypto', `the ${name} parameters (initialisation vector) are missing`);
  if (name === 'rc2-cbc') {
    if (params.tag === TAG.OCTET_STRING) return decryptWith(name, key, octets(params), data, 32);
    const [version, iv] = seq(params, 'the RC2-CBC parameters');
    if (version && version.tag === TAG.INTEGER)
      return decryptWith(
        name,
        key,
        octets(expect(iv, TAG.OCTET_STRING, 'the RC2 IV')),
        data,
        rc2Bits(smallInt(version, 'the RC2 version')),
      );
    return decryptWith(name, key, octets(expect(version, TAG.OCTET_STRING, 'the RC2 IV')), data, 32);
  }
  return decryptWith(name, key, octets(expect(params, TAG.OCTET_STRING, `the ${name} initialisation vector`)), data);
}
