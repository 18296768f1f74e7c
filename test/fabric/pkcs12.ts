// Merging PKCS#12 files (RFC 7292): `openssl pkcs12 -export` puts one private key in a PFX, while Azure's
// Certificates PFX holds several certificates each with its key. A PFX is a list of ContentInfos (the
// AuthenticatedSafe) plus a MAC over it, so several PFXs with the same (empty) password merge by concatenating
// their ContentInfos and recomputing the SHA-1 HMAC with the PKCS#12 key derivation (RFC 7292 B.2).
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { children, der, readTlv } from './der.ts';

const OID_DATA = Buffer.from('06092a864886f70d010701', 'hex');
const PFX = 'PKCS#12 data';
const OID_SHA1_ALG = Buffer.from('300906052b0e03021a0500', 'hex');

/** The ContentInfos of a PFX's AuthenticatedSafe. */
function safeContents(pfx: Buffer): Buffer[] {
  const [, authSafe] = children(readTlv(pfx, 0, PFX).value, PFX); // version, authSafe ContentInfo, macData
  const [, explicit] = children(authSafe!.value, PFX); // contentType data, [0] content
  const octets = children(explicit!.value, PFX)[0]!; // OCTET STRING holding the AuthenticatedSafe
  return children(readTlv(octets.value, 0, PFX).value, PFX).map((t) => t.raw);
}

/** PKCS#12 key derivation (RFC 7292 B.2) with SHA-1, for the MAC key (id 3), 20 bytes. */
function pkcs12Kdf(password: Buffer, salt: Buffer, id: number, iterations: number): Buffer {
  const v = 64;
  const fill = (b: Buffer) => (b.length === 0 ? Buffer.alloc(0) : Buffer.alloc(v * Math.ceil(b.length / v), b));
  const d = Buffer.alloc(v, id);
  let a = createHash('sha1')
    .update(d)
    .update(Buffer.concat([fill(salt), fill(password)]))
    .digest();
  for (let i = 1; i < iterations; i++) a = createHash('sha1').update(a).digest();
  return a;
}

/** Merges PFXs that all use the empty password into one, with a fresh SHA-1 MAC (2048 iterations). */
export function mergePfx(pfxs: Buffer[]): Buffer {
  const authSafe = der(0x30, Buffer.concat(pfxs.flatMap(safeContents)));
  const salt = randomBytes(8);
  const iterations = 2048;
  const password = Buffer.from([0, 0]); // the empty password as a NUL-terminated BMPString
  const mac = createHmac('sha1', pkcs12Kdf(password, salt, 3, iterations))
    .update(authSafe)
    .digest();
  const contentInfo = der(0x30, Buffer.concat([OID_DATA, der(0xa0, der(0x04, authSafe))]));
  const macData = der(
    0x30,
    Buffer.concat([
      der(0x30, Buffer.concat([OID_SHA1_ALG, der(0x04, mac)])),
      der(0x04, salt),
      der(0x02, Buffer.from([iterations >> 8, iterations & 0xff])),
    ]),
  );
  return der(0x30, Buffer.concat([der(0x02, Buffer.from([3])), contentInfo, macData]));
}
