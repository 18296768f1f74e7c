// CMS EnvelopedData decryption (RFC 5652 6), as `openssl cms -decrypt -inkey <key> -recip <cert>` does
// for the Certificates document (docs/protocol.md §2.8 step 4) and JIT passwords (§2.9): RSA key
// transport (PKCS#1 v1.5 or OAEP), then AES-CBC, 3DES-CBC or RC2-CBC content decryption.
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { AgentError, describeError } from '../util/errors.ts';
import { algorithm, children, contextTag, explicitInner, expect, octets, oid, parse, seq, smallInt, TAG, type Asn1 } from './der.ts';
import { decryptCbc } from './ciphers.ts';
import { DIGESTS, OID } from './oids.ts';
import { rsaDecryptOaep, rsaDecryptPkcs1v15, type Pkcs1Options } from './rsa-decrypt.ts';
import { certificateFields } from './x509.ts';

interface Recipient {
  /** The subject key identifier, or the issuer DER + serial. */
  readonly ski?: Buffer;
  readonly issuer?: Buffer;
  readonly serial?: Buffer;
  readonly keyAlg: { oid: string; params: Asn1 | undefined };
  readonly encryptedKey: Buffer;
}

function recipients(set: Asn1): Recipient[] {
  const out: Recipient[] = [];
  for (const ri of children(set)) {
    if (ri.tag !== TAG.SEQUENCE) continue; // kari [1], kekri [2], pwri [3], ori [4]: not for us
    const [, rid, keyAlg, encKey] = seq(ri, 'a KeyTransRecipientInfo');
    if (!rid) continue;
    const ids: Pick<Recipient, 'ski' | 'issuer' | 'serial'> =
      contextTag(rid) === 0
        ? { ski: octets(rid) }
        : (() => {
            const [issuer, serial] = seq(rid, 'an IssuerAndSerialNumber');
            return { issuer: issuer?.raw, serial: expect(serial, TAG.INTEGER, 'a recipient serial number').content };
          })();
    out.push({
      ...ids,
      keyAlg: algorithm(keyAlg, 'a key encryption algorithm'),
      encryptedKey: octets(expect(encKey, TAG.OCTET_STRING, 'an encrypted key')),
    });
  }
  return out;
}

function oaepHash(params: Asn1 | undefined): { hash: string; label?: Buffer } {
  let hash = 'sha1';
  let mgfHash = 'sha1';
  let label: Buffer | undefined;
  for (const p of params ? children(params) : []) {
    const t = contextTag(p);
    const inner = explicitInner(p, t, 'an RSAES-OAEP parameter');
    if (t === 0) hash = DIGESTS[algorithm(inner, 'the OAEP hash').oid] ?? '';
    else if (t === 1) {
      const mgf = algorithm(inner, 'the OAEP mask generation function');
      if (mgf.oid !== OID.mgf1 || !mgf.params)
        throw new AgentError('crypto', 'the CMS envelope uses an OAEP mask generation function other than MGF1');
      mgfHash = DIGESTS[algorithm(mgf.params, 'the MGF1 hash').oid] ?? '';
    } else if (t === 2) {
      const src = algorithm(inner, 'the OAEP label source');
      if (src.oid !== OID.pSpecified) throw new AgentError('crypto', 'the CMS envelope uses an unknown OAEP label source');
      label = src.params ? octets(src.params) : undefined;
    }
  }
  if (!hash || hash !== mgfHash)
    throw new AgentError('crypto', 'the CMS envelope uses an OAEP hash that is unsupported or differs from its MGF1 hash');
  return { hash, label };
}

function decryptKey(r: Recipient, key: KeyObject, opts: Pkcs1Options): Buffer {
  if (r.keyAlg.oid === OID.rsaEncryption) return rsaDecryptPkcs1v15(key, r.encryptedKey, opts);
  if (r.keyAlg.oid === OID.rsaesOaep) {
    const { hash, label } = oaepHash(r.keyAlg.params);
    return rsaDecryptOaep(key, r.encryptedKey, hash, label);
  }
  throw new AgentError('crypto', `the CMS envelope uses the unsupported key transport algorithm ${r.keyAlg.oid}`);
}

function matches(r: Recipient, certPem: string): boolean {
  const cert = certificateFields(certPem);
  if (r.ski) return r.ski.equals(cert.subjectKeyIdentifier);
  return !!r.issuer && !!r.serial && r.issuer.equals(cert.issuer) && r.serial.equals(cert.serial);
}

/**
 * Decrypts a DER (or BER) CMS ContentInfo holding EnvelopedData and returns the content octets.
 * The recipient is the one naming `certPem` (by subject key identifier or issuer and serial); without
 * a match, every key-transport recipient is tried in turn, as `openssl cms -decrypt` without -recip does.
 */
export function decryptEnvelopedData(der: Buffer, keyPem: string, certPem?: string, opts: Pkcs1Options = {}): Buffer {
  const [type, content] = seq(parse(der), 'the CMS ContentInfo');
  const typeOid = oid(type, 'the CMS content type');
  if (typeOid !== OID.envelopedData) throw new AgentError('crypto', `the CMS data is of type ${typeOid}, not EnvelopedData`);
  const fields = seq(explicitInner(content, 0, 'the EnvelopedData'), 'the EnvelopedData');
  smallInt(fields[0], 'the EnvelopedData version');
  const rest = fields[1] && contextTag(fields[1]) === 0 ? fields.slice(2) : fields.slice(1); // originatorInfo
  const all = recipients(expect(rest[0], TAG.SET, 'the recipient infos'));
  const eci = seq(rest[1], 'the encrypted content info');
  const cipher = algorithm(eci[1], 'the content encryption algorithm');
  const encrypted = eci[2] && contextTag(eci[2]) === 0 ? octets(eci[2]) : null;
  if (!encrypted) throw new AgentError('crypto', 'the CMS envelope carries no encrypted content');
  if (all.length === 0) throw new AgentError('crypto', 'the CMS envelope has no RSA key-transport recipient');

  const key = createPrivateKey(keyPem);
  const chosen = certPem ? all.filter((r) => matches(r, certPem)) : [];
  const candidates = chosen.length ? chosen : all;
  let lastError: unknown;
  for (const r of candidates) {
    try {
      return decryptCbc(cipher.oid, cipher.params, decryptKey(r, key, opts), encrypted);
    } catch (e) {
      lastError = e;
    }
  }
  const why = chosen.length || !certPem ? '' : ' (no recipient names the transport certificate)';
  throw new AgentError(
    'crypto',
    `the CMS envelope could not be decrypted with the transport key${why}: ${describeError(lastError)}`,
    {},
    lastError,
  );
}
