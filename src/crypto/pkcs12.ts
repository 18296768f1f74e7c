// PKCS#12 (RFC 7292) parsing, as `openssl pkcs12 -nodes -password pass:` does for the decrypted
// Certificates PFX (docs/protocol.md §2.8 step 5): certificates and private keys out of the
// AuthenticatedSafe's data / encryptedData ContentInfos, with the HMAC integrity check.
import { createHmac, createPrivateKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { AgentError, describeError } from '../util/errors.ts';
import { algorithm, children, explicitInner, expect, octets, oid, parse, seq, smallInt, TAG, type Asn1 } from './der.ts';
import { DIGESTS, OID } from './oids.ts';
import { decryptPbe, passwordBytes, pkcs12Kdf, type PasswordForm } from './pbe.ts';

export interface Pkcs12Contents {
  /** DER certificates, in bag order. */
  certificates: Buffer[];
  privateKeys: KeyObject[];
}

export interface Pkcs12Options {
  /** Check the MAC when the file has one (default true). */
  verifyMac?: boolean;
}

export const INTEGRITY_FAILED = 'the PFX integrity check failed';

/** Checks the MacData; returns the password form it verified with (RFC 7292 5.1 / appendix B). */
function checkMac(macData: Asn1, authSafe: Buffer, password: string): PasswordForm {
  const [digestInfo, saltNode, iterNode] = seq(macData, 'the PFX MAC data');
  const [algNode, digestNode] = seq(digestInfo, 'the PFX MAC digest');
  const macAlg = algorithm(algNode, 'the PFX MAC algorithm').oid;
  const hash = DIGESTS[macAlg];
  if (!hash) throw new AgentError('crypto', `the PFX MAC algorithm ${macAlg} is not supported`);
  const expected = octets(expect(digestNode, TAG.OCTET_STRING, 'the PFX MAC value'));
  const salt = octets(expect(saltNode, TAG.OCTET_STRING, 'the PFX MAC salt'));
  const iterations = iterNode ? smallInt(iterNode, 'the PFX MAC iteration count') : 1;
  if (iterations < 1 || iterations > 10_000_000)
    throw new AgentError('crypto', `the PFX MAC iteration count ${iterations} is out of range`);
  // An empty password is a BMPString "" (00 00) in RFC 7292, but some producers use no bytes at all;
  // OpenSSL accepts either, and so do we, remembering which one for decryption.
  const forms: PasswordForm[] = password === '' ? ['bmp', 'none'] : ['bmp'];
  for (const form of forms) {
    const macKey = pkcs12Kdf(hash, passwordBytes(password, form), salt, 3, iterations, createHmac(hash, '').digest().length);
    const actual = createHmac(hash, macKey).update(authSafe).digest();
    if (actual.length === expected.length && timingSafeEqual(actual, expected)) return form;
  }
  throw new AgentError('crypto', INTEGRITY_FAILED, { macAlgorithm: hash, iterations }, undefined, 'pfx-integrity');
}

interface Collected {
  certificates: Buffer[];
  keyDers: Buffer[];
}

function readBags(safeContents: Buffer, password: string, form: PasswordForm, out: Collected, depth = 0): void {
  if (depth > 8) throw new AgentError('crypto', 'the PFX nests safe contents too deeply');
  for (const bag of seq(parse(safeContents), 'the PFX safe contents')) {
    const [idNode, valueNode] = seq(bag, 'a PFX safe bag');
    const id = oid(idNode, 'a PFX bag type');
    const value = explicitInner(valueNode, 0, 'a PFX bag value');
    if (id === OID.keyBag) out.keyDers.push(Buffer.from(value.raw));
    else if (id === OID.pkcs8ShroudedKeyBag) {
      const [alg, enc] = seq(value, 'an encrypted private key');
      out.keyDers.push(decryptPbe(alg, password, form, octets(expect(enc, TAG.OCTET_STRING, 'an encrypted private key'))));
    } else if (id === OID.certBag) {
      const [certType, certValue] = seq(value, 'a certificate bag');
      if (oid(certType, 'a certificate type') !== OID.x509Certificate) continue; // SDSI certificates: not used
      out.certificates.push(octets(expect(explicitInner(certValue, 0, 'a certificate'), TAG.OCTET_STRING, 'a certificate')));
    } else if (id === OID.safeContentsBag) readBags(value.raw, password, form, out, depth + 1);
    // CRL and secret bags carry nothing the agent uses.
  }
}

function readContentInfo(ci: Asn1, password: string, form: PasswordForm, out: Collected): void {
  const [typeNode, content] = seq(ci, 'a PFX content info');
  const type = oid(typeNode, 'a PFX content type');
  if (type === OID.data) {
    readBags(octets(explicitInner(content, 0, 'PFX data')), password, form, out);
  } else if (type === OID.encryptedData) {
    const [, eci] = seq(explicitInner(content, 0, 'PFX encrypted data'), 'PFX encrypted data');
    const [, alg, enc] = seq(eci, 'the PFX encrypted content info');
    if (!enc) return; // content absent: nothing to read
    readBags(decryptPbe(alg, password, form, octets(enc)), password, form, out);
  } else {
    throw new AgentError('crypto', `the PFX holds a content of type ${type}, which is not supported (only data and encryptedData are)`);
  }
}

export function parsePkcs12(der: Buffer, password = '', opts: Pkcs12Options = {}): Pkcs12Contents {
  const [version, authSafeInfo, macData] = seq(parse(der), 'the PFX');
  if (smallInt(version, 'the PFX version') !== 3) throw new AgentError('crypto', 'the PFX is not PKCS#12 version 3');
  const [typeNode, content] = seq(authSafeInfo, 'the PFX authenticated safe');
  if (oid(typeNode, 'the PFX authenticated safe type') !== OID.data) {
    throw new AgentError('crypto', 'the PFX is signed with a public key, which is not supported (only password integrity is)');
  }
  const authSafe = octets(explicitInner(content, 0, 'the PFX authenticated safe'));
  let form: PasswordForm = 'bmp';
  if (macData && opts.verifyMac !== false) form = checkMac(macData, authSafe, password);

  const readOne = (ci: Asn1): Collected => {
    const attempt = (f: PasswordForm): Collected => {
      const part: Collected = { certificates: [], keyDers: [] };
      readContentInfo(ci, password, f, part);
      return part;
    };
    try {
      return attempt(form);
    } catch (e) {
      // Without a verified MAC, an empty password may still be the no-bytes form: try that once.
      if (form === 'bmp' && password === '' && (!macData || opts.verifyMac === false)) {
        try {
          return attempt('none');
        } catch {
          /* report the first failure */
        }
      }
      throw new AgentError('crypto', `the PFX content could not be read: ${describeError(e)}`, {}, e);
    }
  };
  const out: Collected = { certificates: [], keyDers: [] };
  for (const ci of children(expect(parse(authSafe), TAG.SEQUENCE, 'the PFX authenticated safe'))) {
    const part = readOne(ci);
    out.certificates.push(...part.certificates);
    out.keyDers.push(...part.keyDers);
  }
  const privateKeys = out.keyDers.map((k) => {
    try {
      return createPrivateKey({ key: k, format: 'der', type: 'pkcs8' });
    } catch (e) {
      throw new AgentError('crypto', `a private key in the PFX is not a valid PKCS#8 key: ${describeError(e)}`, {}, e);
    }
  });
  return { certificates: out.certificates, privateKeys };
}
