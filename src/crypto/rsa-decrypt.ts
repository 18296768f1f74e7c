// RSA key-transport decryption for CMS. PKCS#1 v1.5 private decryption is refused by runtimes whose
// OpenSSL lacks implicit rejection (Node 20 / OpenSSL 3.0: "RSA_PKCS1_PADDING is no longer supported
// for private decryption"); there we decrypt raw and remove the padding ourselves.
import { constants, privateDecrypt, timingSafeEqual, type KeyObject } from 'node:crypto';
import { AgentError } from '../util/errors.ts';

export interface Pkcs1Options {
  /** Skip the runtime's PKCS#1 v1.5 support and use the raw-RSA path (tests; runtimes that refuse it). */
  forceRaw?: boolean;
}

export function rsaDecryptPkcs1v15(key: KeyObject, data: Buffer, opts: Pkcs1Options = {}): Buffer {
  if (!opts.forceRaw) {
    try {
      return privateDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, data);
    } catch {
      /* refused by this runtime, or a bad block: the raw path decides */
    }
  }
  const block = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, data);
  return stripPkcs1Type2(block);
}

/**
 * EME-PKCS1-v1_5 decoding (RFC 8017 7.2.2): 00 02 PS(>= 8 non-zero octets) 00 M. The scan visits every
 * octet whatever the content, so the time taken says little about where the padding went wrong.
 */
export function stripPkcs1Type2(block: Buffer): Buffer {
  let bad = (block[0]! ^ 0x00) | (block[1]! ^ 0x02);
  let sep = 0;
  let found = 0;
  for (let i = 2; i < block.length; i++) {
    const isZero = block[i] === 0 ? 1 : 0;
    const first = isZero & (found ^ 1);
    sep |= first * i;
    found |= isZero;
  }
  bad |= found ^ 1;
  bad |= sep < 10 ? 1 : 0; // at least 8 octets of padding
  const ok = timingSafeEqual(Buffer.from([bad === 0 ? 1 : 0]), Buffer.from([1]));
  if (!ok) throw new AgentError('crypto', 'the RSA-encrypted content key does not have valid PKCS#1 v1.5 padding');
  return Buffer.from(block.subarray(sep + 1));
}

export function rsaDecryptOaep(key: KeyObject, data: Buffer, hash: string, label?: Buffer): Buffer {
  return privateDecrypt(
    { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash, ...(label?.length ? { oaepLabel: label } : {}) },
    data,
  );
}
