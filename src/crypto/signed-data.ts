// Detached CMS SignedData verification (RFC 5652 5), as the Python agent's
// `openssl cms -verify -binary -inform der -content <zip> -purpose any -CAfile <root> -no_check_time` does for an
// extension package's encodedSignature: every signer's signature over the content (through its signed attributes
// when present), and a certificate chain from the signer up to one of the trusted roots, built from the certificates
// the signature carries. Like -no_check_time, validity dates are not checked; like -purpose any, key usages are not.
import { constants, createHash, createVerify, X509Certificate, type KeyObject } from 'node:crypto';
import { AgentError, describeError } from '../util/errors.ts';
import {
  algorithm,
  children,
  contextTag,
  explicitInner,
  expect,
  octets,
  oid,
  parse,
  seq,
  smallInt,
  TAG,
  fromPem,
  type Asn1,
} from './der.ts';
import { DIGESTS, OID } from './oids.ts';
import { certificateFields } from './x509.ts';

/** Chains longer than this are refused (the Microsoft chain is signer → PCA → root). */
const MAX_CHAIN = 8;

const RSA_SIGNATURES = new Set<string>([
  OID.rsaEncryption,
  OID.sha1WithRSAEncryption,
  OID.sha256WithRSAEncryption,
  OID.sha384WithRSAEncryption,
  OID.sha512WithRSAEncryption,
]);
const EC_SIGNATURES = new Set<string>([OID.ecPublicKey, OID.ecdsaWithSha256, OID.ecdsaWithSha384, OID.ecdsaWithSha512]);

function fail(message: string, cause?: unknown): never {
  throw new AgentError('crypto', message, {}, cause);
}

interface SignerInfo {
  readonly issuer?: Buffer;
  readonly serial?: Buffer;
  readonly ski?: Buffer;
  readonly digest: string;
  readonly signedAttrs: Asn1 | undefined;
  readonly signatureAlg: string;
  readonly signature: Buffer;
}

function signerInfo(node: Asn1): SignerInfo {
  const f = seq(node, 'a SignerInfo');
  smallInt(f[0], 'the SignerInfo version');
  const sid = f[1];
  if (!sid) fail('a SignerInfo has no signer identifier');
  const ids =
    contextTag(sid) === 0
      ? { ski: octets(sid) }
      : (() => {
          const [issuer, serial] = seq(sid, 'an IssuerAndSerialNumber');
          return { issuer: issuer?.raw, serial: expect(serial, TAG.INTEGER, 'a signer serial number').content };
        })();
  const digestOid = algorithm(f[2], 'a signer digest algorithm').oid;
  const digest = DIGESTS[digestOid];
  if (!digest) fail(`a signer uses the unsupported digest algorithm ${digestOid}`);
  let i = 3;
  const signedAttrs = f[i] && contextTag(f[i]!) === 0 ? f[i++] : undefined;
  const signatureAlg = algorithm(f[i++], 'a signature algorithm').oid;
  const signature = octets(expect(f[i], TAG.OCTET_STRING, 'a signature value'));
  return { ...ids, digest, signedAttrs, signatureAlg, signature };
}

/** The one value of a signed attribute, or undefined when absent; twice is an error (RFC 5652 5.3). */
function attribute(attrs: Asn1, wanted: string): Asn1 | undefined {
  let found: Asn1 | undefined;
  for (const a of children(attrs)) {
    const [type, values] = seq(a, 'a signed attribute');
    if (oid(type, 'a signed attribute type') !== wanted) continue;
    const v = seq(values, 'a signed attribute value set', TAG.SET);
    if (found || v.length !== 1) fail(`the signed attribute ${wanted} must have exactly one value`);
    found = v[0];
  }
  return found;
}

/** Feeds the signed bytes to `update`: the content, or the DER of the signed attributes. */
type Feed = (update: (chunk: Buffer) => void) => void;

function checkSignature(s: SignerInfo, feed: Feed, key: KeyObject): boolean {
  const v = createVerify(s.digest);
  feed((chunk) => v.update(chunk));
  if (RSA_SIGNATURES.has(s.signatureAlg)) return v.verify({ key, padding: constants.RSA_PKCS1_PADDING }, s.signature);
  if (EC_SIGNATURES.has(s.signatureAlg)) return v.verify(key, s.signature);
  fail(`a signer uses the unsupported signature algorithm ${s.signatureAlg}`);
}

function findSignerCert(s: SignerInfo, pool: readonly X509Certificate[]): X509Certificate {
  for (const c of pool) {
    const f = certificateFields(c.raw);
    if (s.ski ? s.ski.equals(f.subjectKeyIdentifier) : !!s.issuer && !!s.serial && s.issuer.equals(f.issuer) && s.serial.equals(f.serial))
      return c;
  }
  fail("the signer's certificate is not in the signature");
}

function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** From the signer up: each certificate signed by a CA in the signature, until one signed by (or equal to) a trusted root. */
function checkChain(signer: X509Certificate, pool: readonly X509Certificate[], roots: readonly X509Certificate[]): void {
  let cert = signer;
  const seen = new Set<X509Certificate>();
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    if (roots.some((r) => r.raw.equals(cert.raw) || issuedBy(cert, r))) return;
    seen.add(cert);
    const next = pool.find((c) => !seen.has(c) && c.ca && issuedBy(cert, c));
    if (!next)
      fail(`the certificate chain of the signer (${cert.subject.replace(/\n/g, ', ')}) does not lead to a trusted root certificate`);
    cert = next;
  }
  fail(`the certificate chain of the signer is longer than ${MAX_CHAIN} certificates`);
}

function certificate(der: Buffer, what: string): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch (e) {
    fail(`${what} cannot be read: ${describeError(e)}`, e);
  }
}

/**
 * The signed content: its bytes, or a function that hands them over in chunks (read once per digest algorithm), so
 * that a package of hundreds of MiB is never held in memory.
 */
export type SignedContent = Buffer | ((onChunk: (chunk: Buffer) => void) => void);

/**
 * Verifies a DER (or BER) CMS ContentInfo holding a detached SignedData over `content`. `trustedRootsPem` are the
 * trust anchors (PEM; several may be concatenated). Throws AgentError('crypto') saying what failed; returns the
 * number of signers verified.
 */
export function verifyDetachedSignature(signatureDer: Buffer, content: SignedContent, trustedRootsPem: readonly string[]): number {
  const feedContent: Feed = typeof content === 'function' ? content : (update) => update(content);
  const roots = trustedRootsPem.flatMap((pem) => pemCertificates(pem)).map((der) => certificate(der, 'a trusted root certificate'));
  if (roots.length === 0) fail('no trusted root certificate was given');
  const [type, body] = seq(parse(signatureDer), 'the CMS ContentInfo');
  const typeOid = oid(type, 'the CMS content type');
  if (typeOid !== OID.signedData) fail(`the CMS data is of type ${typeOid}, not SignedData`);
  const f = seq(explicitInner(body, 0, 'the SignedData'), 'the SignedData');
  smallInt(f[0], 'the SignedData version');
  const eContentType = oid(seq(f[2], 'the encapsulated content info')[0], 'the encapsulated content type');
  let i = 3;
  const pool: X509Certificate[] = [];
  if (f[i] && contextTag(f[i]!) === 0) {
    for (const c of children(f[i++]!)) if (c.tag === TAG.SEQUENCE) pool.push(certificate(c.raw, 'a certificate in the signature'));
  }
  if (f[i] && contextTag(f[i]!) === 1) i++; // CRLs: not consulted, as openssl cms -verify without -crl_check
  const signers = children(expect(f[i], TAG.SET, 'the signer infos')).map(signerInfo);
  if (signers.length === 0) fail('the signature has no signer');
  const digests = new Map<string, Buffer>();
  const digestOf = (name: string) => {
    const known = digests.get(name);
    if (known) return known;
    const h = createHash(name);
    feedContent((chunk) => h.update(chunk));
    const d = h.digest();
    digests.set(name, d);
    return d;
  };
  for (const s of signers) {
    const cert = findSignerCert(s, pool);
    let signed: Feed = feedContent;
    if (s.signedAttrs) {
      const md = attribute(s.signedAttrs, OID.messageDigest);
      const ct = attribute(s.signedAttrs, OID.contentType);
      if (!md || !ct) fail('the signed attributes lack the message digest or the content type');
      if (oid(ct, 'the signed content type') !== eContentType) fail('the signed content type differs from the encapsulated content type');
      if (!octets(expect(md, TAG.OCTET_STRING, 'the message digest')).equals(digestOf(s.digest))) {
        fail('the content does not match the signature (message digest mismatch)');
      }
      // The signature covers the DER of the attributes as a SET OF, not with their [0] IMPLICIT tag (RFC 5652 5.4).
      const attrs = Buffer.concat([Buffer.from([TAG.SET]), s.signedAttrs.raw.subarray(1)]);
      signed = (update) => update(attrs);
    }
    if (!checkSignature(s, signed, cert.publicKey)) fail("the signature does not verify with the signer's certificate");
    checkChain(cert, pool, roots);
  }
  return signers.length;
}

/** Every CERTIFICATE block of a PEM text, as DER. */
export function pemCertificates(pem: string): Buffer[] {
  const out: Buffer[] = [];
  for (const m of pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)) out.push(fromPem(m[0], 'CERTIFICATE'));
  return out;
}
