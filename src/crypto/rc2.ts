// RC2-CBC decryption (RFC 2268). Old PKCS#12 files encrypt their certificate bag with
// pbeWithSHA1And40BitRC2-CBC, and RC2 is only in OpenSSL's legacy provider, which Node does not load.
import { AgentError } from '../util/errors.ts';

// PITABLE (RFC 2268 section 2): a permutation of 0..255 derived from the digits of pi.
const PITABLE = Buffer.from(
  'd978f9c419ddb5ed28e9fd794aa0d89dc67e37832b76538e624c6488448bfba2179a59f587b34f1361456d8d09817d32' +
    'bd8f40eb86b77b0bf09521225c6b4e8254d66593ce60b21c7356c014a78cf1dc1275ca1f3bbee4d1423dd430a33cb626' +
    '6fbf0eda4669075727f21d9bbc944303f811c7f690ef3ee706c3d52fc8661ed708e8eade8052eef784aa72ac354d6a2a' +
    '961ad2715a1549744b9fd05e0418a4ecc2e0416e0f51cbcc2491af50a1f47039997c3a8523b8b47afc02365b25559731' +
    '2d5dfa98e38a92ae05df2910676cbac9d300e6cfe19ea82c6316013f58e289a90d38341bab33ffb0bb480c5fb9b1cd2e' +
    'c5f3db47e5a59c770aa62068fe7fc1ad',
  'hex',
);

/** Key expansion (RFC 2268 section 2): 64 16-bit subkeys for a key and an effective key length in bits. */
export function rc2ExpandKey(key: Uint8Array, effectiveBits: number): Uint16Array {
  if (key.length < 1 || key.length > 128) throw new AgentError('crypto', `an RC2 key must be 1 to 128 bytes long, not ${key.length}`);
  if (effectiveBits < 1 || effectiveBits > 1024)
    throw new AgentError('crypto', `RC2 effective key bits must be 1 to 1024, not ${effectiveBits}`);
  const L = new Uint8Array(128);
  L.set(key);
  const T = key.length;
  for (let i = T; i < 128; i++) L[i] = PITABLE[(L[i - 1]! + L[i - T]!) & 0xff]!;
  const T8 = (effectiveBits + 7) >> 3;
  const TM = 0xff >> (8 * T8 - effectiveBits);
  L[128 - T8] = PITABLE[L[128 - T8]! & TM]!;
  for (let i = 127 - T8; i >= 0; i--) L[i] = PITABLE[L[i + 1]! ^ L[i + T8]!]!;
  const K = new Uint16Array(64);
  for (let i = 0; i < 64; i++) K[i] = L[2 * i]! | (L[2 * i + 1]! << 8);
  return K;
}

const ROT = [1, 2, 3, 5];

/** Decrypts one 8-byte block in place (RFC 2268 section 4). */
function decryptBlock(K: Uint16Array, b: Uint8Array, off: number): void {
  const R = [0, 1, 2, 3].map((i) => b[off + 2 * i]! | (b[off + 2 * i + 1]! << 8));
  let j = 63;
  const mix = () => {
    for (let i = 3; i >= 0; i--) {
      const s = ROT[i]!;
      let r = ((R[i]! >>> s) | (R[i]! << (16 - s))) & 0xffff;
      r -= K[j--]! + (R[(i + 3) & 3]! & R[(i + 2) & 3]!) + (~R[(i + 3) & 3]! & R[(i + 1) & 3]!);
      R[i] = r & 0xffff;
    }
  };
  const mash = () => {
    for (let i = 3; i >= 0; i--) R[i] = (R[i]! - K[R[(i + 3) & 3]! & 63]!) & 0xffff;
  };
  for (let n = 0; n < 5; n++) mix();
  mash();
  for (let n = 0; n < 6; n++) mix();
  mash();
  for (let n = 0; n < 5; n++) mix();
  for (let i = 0; i < 4; i++) {
    b[off + 2 * i] = R[i]! & 0xff;
    b[off + 2 * i + 1] = R[i]! >> 8;
  }
}

/** RC2 decryption of whole blocks in ECB mode (no padding handling): the building block, and the test vectors' form. */
export function rc2DecryptEcb(key: Uint8Array, effectiveBits: number, data: Uint8Array): Buffer {
  if (data.length % 8) throw new AgentError('crypto', 'RC2 data is not a whole number of 8-byte blocks');
  const K = rc2ExpandKey(key, effectiveBits);
  const out = Buffer.from(data);
  for (let off = 0; off < out.length; off += 8) decryptBlock(K, out, off);
  return out;
}

/** RC2-CBC decryption; PKCS#7 padding is left for the caller to remove. */
export function rc2DecryptCbc(key: Uint8Array, effectiveBits: number, iv: Uint8Array, data: Uint8Array): Buffer {
  if (iv.length !== 8) throw new AgentError('crypto', 'an RC2-CBC initialisation vector must be 8 bytes long');
  const out = rc2DecryptEcb(key, effectiveBits, data);
  for (let off = 0; off < out.length; off += 8) {
    for (let i = 0; i < 8; i++) out[off + i]! ^= off === 0 ? iv[i]! : data[off - 8 + i]!;
  }
  return out;
}
