// The few X.509 fields the CMS recipient match needs (RFC 5280 4.1), read with the DER reader:
// node's X509Certificate does not expose the issuer's DER or the subject key identifier.
import { createHash } from 'node:crypto';
import { AgentError } from '../util/errors.ts';
import { bitString, children, contextTag, explicitInner, fromPem, octets, oid, parse, seq, TAG } from './der.ts';
import { OID } from './oids.ts';

export interface CertificateFields {
  /** INTEGER content octets of the serial number. */
  readonly serial: Buffer;
  /** DER of the issuer Name. */
  readonly issuer: Buffer;
  /** DER of the SubjectPublicKeyInfo. */
  readonly spki: Buffer;
  /** The subjectKeyIdentifier extension, or the SHA-1 of the public key bits when absent (RFC 5280 4.2.1.2 method 1). */
  readonly subjectKeyIdentifier: Buffer;
}

export function certificateFields(certDerOrPem: Buffer | string): CertificateFields {
  const der = typeof certDerOrPem === 'string' ? fromPem(certDerOrPem, 'CERTIFICATE') : certDerOrPem;
  const [tbs] = seq(parse(der), 'the certificate');
  let f = seq(tbs, 'the certificate body');
  if (f[0] && contextTag(f[0]) === 0) f = f.slice(1); // version
  const [serial, , issuer, , , spki, ...rest] = f;
  if (!serial || serial.tag !== TAG.INTEGER || !issuer || !spki) {
    throw new AgentError('crypto', 'the certificate is missing its serial number, issuer or public key');
  }
  const spkiParts = seq(spki, 'the subject public key info');
  let ski: Buffer = createHash('sha1').update(bitString(spkiParts[1], 'the subject public key')).digest();
  const extsNode = rest.find((n) => contextTag(n) === 3);
  if (extsNode) {
    for (const ext of seq(explicitInner(extsNode, 3, 'the certificate extensions'), 'the certificate extensions')) {
      const parts = children(ext);
      if (oid(parts[0], 'an extension id') !== OID.subjectKeyIdentifier) continue;
      const value = parts[parts.length - 1]!;
      ski = octets(parse(octets(value)));
    }
  }
  return { serial: serial.content, issuer: issuer.raw, spki: spki.raw, subjectKeyIdentifier: ski };
}
