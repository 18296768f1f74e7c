// The pure half of the tenant certificates pipeline of docs/protocol.md §2.8 (steps 4-5): CMS-decrypt the
// Certificates Data with the transport key and read the PKCS#12 inside. Writing the files (steps 6-7) and the
// openssl CLI fallback live in src/fabric/certificates.ts and src/fabric/openssl-fallback.ts.
import { createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import { isAgentError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { decryptEnvelopedData } from './cms.ts';
import { INTEGRITY_FAILED, parsePkcs12, type Pkcs12Contents } from './pkcs12.ts';

export type CertificatesDecoder = (cms: Buffer, transportKeyPem: string, transportCertPem: string) => Pkcs12Contents;

/** Upper-case hex SHA-1 of the DER certificate, without colons (§10 item 7). */
export function thumbprint(certDer: Buffer): string {
  return createHash('sha1').update(certDer).digest('hex').toUpperCase();
}

/**
 * In-process §2.8 steps 4-5. The MAC is checked; on a mismatch we warn and read the content anyway,
 * because the Python agent runs `openssl pkcs12 -nomacver` first and so accepts such a PFX.
 */
export function decodeCertificates(cms: Buffer, transportKeyPem: string, transportCertPem: string): Pkcs12Contents {
  const pfx = decryptEnvelopedData(cms, transportKeyPem, transportCertPem);
  try {
    return parsePkcs12(pfx, '');
  } catch (e) {
    if (!isAgentError(e, 'crypto', 'pfx-integrity')) throw e;
    log.warn(`${INTEGRITY_FAILED} for the tenant certificates; reading them without it, as the Python agent does`);
    return parsePkcs12(pfx, '', { verifyMac: false });
  }
}

/** Splits `openssl pkcs12 -nodes` output into DER certificates and private keys. */
export function readPemBundle(text: string): Pkcs12Contents {
  const certificates: Buffer[] = [];
  const privateKeys: KeyObject[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
  for (const m of text.matchAll(re)) {
    if (m[1] === 'CERTIFICATE') {
      certificates.push(Buffer.from(m[0].replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64'));
    } else if (m[1]!.endsWith('PRIVATE KEY') && !m[1]!.startsWith('ENCRYPTED')) {
      privateKeys.push(createPrivateKey(m[0]));
    }
  }
  return { certificates, privateKeys };
}
