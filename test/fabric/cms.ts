// CMS EnvelopedData (RFC 5652 §6) made in-process, as the platform makes the Certificates <Data> (docs/protocol.md
// §2.8) and the RemoteAccess passwords (§2.9): what `openssl cms -encrypt -binary <cipher> -outform DER -recip cert
// [-keyid]` writes, without forking openssl on the cores the agent under test runs on. One RSA key-transport
// recipient (rsaEncryption, PKCS#1 v1.5), named by subject key identifier when the certificate has one (EnvelopedData
// version 2), else by issuer and serial number (version 0); the content CBC-encrypted with PKCS#7 padding.
import { constants, createCipheriv, publicEncrypt, randomBytes, X509Certificate } from 'node:crypto';
import { children, der, oid, readTlv, type Tlv } from './der.ts';

/** A content encryption algorithm: node's cipher name, its OID, key and IV sizes. */
export interface ContentCipher {
  readonly node: string;
  readonly oid: string;
  readonly keyBytes: number;
  readonly ivBytes: number;
}

export const AES128_CBC: ContentCipher = { node: 'aes-128-cbc', oid: '2.16.840.1.101.3.4.1.2', keyBytes: 16, ivBytes: 16 };
export const DES_EDE3_CBC: ContentCipher = { node: 'des-ede3-cbc', oid: '1.2.840.113549.3.7', keyBytes: 24, ivBytes: 8 };

const OID_ENVELOPED_DATA = '1.2.840.113549.1.7.3';
const OID_DATA = '1.2.840.113549.1.7.1';
const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
const CERT = 'the transport certificate';
const SKI_EXTENSION = oid('2.5.29.14');

/** How the recipient certificate is named: [0] IMPLICIT SubjectKeyIdentifier, or IssuerAndSerialNumber. */
function recipientIdentifier(cert: X509Certificate): { rid: Buffer; version: number } {
  // Certificate ::= SEQUENCE { tbsCertificate, ... }; tbsCertificate ::= SEQUENCE { [0] version OPTIONAL,
  // serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, [1], [2], [3] extensions OPTIONAL }
  const tbs = children(readTlv(cert.raw, 0, CERT).value, CERT)[0]!;
  const fields = children(tbs.value, CERT);
  const rest = fields[0]!.tag === 0xa0 ? fields.slice(1) : fields;
  const [serial, , issuer] = rest;
  const extensions = rest.find((f) => f.tag === 0xa3);
  const ski = extensions ? subjectKeyIdentifier(children(extensions.value, CERT)[0]!) : undefined;
  if (ski) return { rid: der(0x80, ski), version: 2 };
  return { rid: der(0x30, issuer!.raw, serial!.raw), version: 0 };
}

/** The key identifier of the subjectKeyIdentifier extension (RFC 5280 §4.2.1.2), if the certificate has one. */
function subjectKeyIdentifier(extensions: Tlv): Buffer | undefined {
  for (const ext of children(extensions.value, CERT)) {
    const parts = children(ext.value, CERT); // extnID, critical BOOLEAN OPTIONAL, extnValue OCTET STRING
    if (!parts[0]!.raw.equals(SKI_EXTENSION)) continue;
    const extnValue = parts[parts.length - 1]!;
    return readTlv(extnValue.value, 0, CERT).value; // KeyIdentifier ::= OCTET STRING
  }
  return undefined;
}

/** DER ContentInfo holding EnvelopedData of `content`, encrypted to the RSA certificate `recipientPem`. */
export function encryptEnvelopedData(content: Buffer, recipientPem: string, cipher: ContentCipher): Buffer {
  const cert = new X509Certificate(recipientPem);
  const { rid, version } = recipientIdentifier(cert);
  const key = randomBytes(cipher.keyBytes);
  const iv = randomBytes(cipher.ivBytes);
  const c = createCipheriv(cipher.node, key, iv); // PKCS#7 padding is node's default
  const encrypted = Buffer.concat([c.update(content), c.final()]);
  const encryptedKey = publicEncrypt({ key: cert.publicKey, padding: constants.RSA_PKCS1_PADDING }, key);
  const smallInt = (v: number) => der(0x02, Buffer.from([v]));
  const recipientInfo = der(
    0x30,
    smallInt(version), // KeyTransRecipientInfo version: 2 for a SKI, 0 for issuer and serial
    rid,
    der(0x30, oid(OID_RSA_ENCRYPTION), der(0x05)),
    der(0x04, encryptedKey),
  );
  const encryptedContentInfo = der(
    0x30,
    oid(OID_DATA),
    der(0x30, oid(cipher.oid), der(0x04, iv)),
    der(0x80, encrypted), // [0] IMPLICIT OCTET STRING, primitive
  );
  const envelopedData = der(0x30, smallInt(version), der(0x31, recipientInfo), encryptedContentInfo);
  return der(0x30, oid(OID_ENVELOPED_DATA), der(0xa0, envelopedData));
}
