// The public face of the certificate and crypto code: transport certificate, CMS, PKCS#12, the decoding half of
// the §2.8 certificates pipeline, OpenSSH key conversion and crypt(3). Pure functions on bytes: no files, no processes.
export {
  generateTransportCertificate,
  generateTransportCertificateAsync,
  transportCertHeader,
  type TransportCertificate,
} from './transport-cert.ts';
export { decryptEnvelopedData } from './cms.ts';
export { parsePkcs12, INTEGRITY_FAILED, type Pkcs12Contents, type Pkcs12Options } from './pkcs12.ts';
export { decodeCertificates, readPemBundle, thumbprint, type CertificatesDecoder } from './tenant-certificates.ts';
export { toPem } from './der.ts';
export { OPENSSH_KEY_TYPES, opensshPublicKey, parseOpensshPublicKey, sshFingerprint, type OpensshPublicKey } from './ssh-key.ts';
export { cryptPassword, cryptWithSalt, type CryptId } from './crypt.ts';
export { verifyDetachedSignature, pemCertificates, type SignedContent } from './signed-data.ts';
export { MICROSOFT_ROOT_CERTIFICATE_2011 } from './microsoft-root.ts';
