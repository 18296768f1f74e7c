// Tenant certificates for the Certificates document (docs/protocol.md §2.8): the PFX the emulator serves, and its
// encryption ON THE FLY to the transport certificate the agent sends, as the platform does.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AES128_CBC, type ContentCipher, DES_EDE3_CBC, encryptEnvelopedData } from './cms.ts';
import { opensslSync } from './openssl.ts';
import { mergePfx } from './pkcs12.ts';
import type { TransportKeyPair } from './scenario.ts';

/** x-ms-cipher-name values (§2.3) and the content encryption algorithms they mean. */
export const CIPHERS: Record<string, ContentCipher> = { AES128_CBC, DES_EDE3_CBC };

/** The cipher an x-ms-cipher-name value names (own keys only: "toString" is no cipher), else a request error. */
function cipherNamed(name: string | undefined): ContentCipher {
  const key = name?.trim();
  if (key !== undefined && Object.hasOwn(CIPHERS, key)) return CIPHERS[key]!;
  throw new CertificateRequestError(`unsupported x-ms-cipher-name "${name ?? ''}" (AES128_CBC or DES_EDE3_CBC)`);
}

export interface TenantCert {
  thumbprint: string;
  certPem: string;
  keyPem: string;
}

function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'fabric-certs-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The base64 <Data> of a CertificateFile document, or null when it has none. */
export function certificateData(xml: string): string | null {
  const m = /<Data>([^<]*)<\/Data>/.exec(xml);
  return m ? m[1]!.replace(/\s+/g, '') : null;
}

/** Recovers the PFX inside a recorded Certificates document, with the transport key it was encrypted to. */
export function decryptRecordedPfx(certsXml: string, transport: TransportKeyPair): Buffer {
  const data = certificateData(certsXml);
  if (data === null) throw new Error('the Certificates document has no <Data> to decrypt');
  return withTempDir((dir) => {
    const p7 = join(dir, 'certs.p7');
    writeFileSync(p7, Buffer.from(data, 'base64'));
    return opensslSync(['cms', '-decrypt', '-inform', 'DER', '-in', p7, '-inkey', transport.key, '-recip', transport.cert]);
  });
}

/**
 * Generates `count` self-signed tenant certificates, each with its RSA key, and one PFX holding all of them with the
 * empty password, made like Azure's: legacy 3DES PBE for keys and certificates, SHA-1 MAC.
 */
export function generateTenantCerts(count: number): { pfx: Buffer; certs: TenantCert[] } {
  if (!Number.isInteger(count) || count < 1) throw new Error(`--generate-certs needs a positive count, not ${count}`);
  return withTempDir((dir) => {
    const certs: TenantCert[] = [];
    const pfxs: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const key = join(dir, `${i}.key`);
      const crt = join(dir, `${i}.crt`);
      opensslSync([
        'req',
        '-x509',
        '-nodes',
        '-subj',
        `/CN=TenantCert${i}`,
        '-days',
        '730',
        '-newkey',
        'rsa:2048',
        '-keyout',
        key,
        '-out',
        crt,
      ]);
      pfxs.push(
        opensslSync([
          'pkcs12',
          '-export',
          '-passout',
          'pass:',
          '-inkey',
          key,
          '-in',
          crt,
          '-keypbe',
          'PBE-SHA1-3DES',
          '-certpbe',
          'PBE-SHA1-3DES',
          '-macalg',
          'sha1',
        ]),
      );
      const certPem = readFileSync(crt, 'utf8');
      const thumbprint = new X509Certificate(certPem).fingerprint.replaceAll(':', '').toUpperCase();
      certs.push({ thumbprint, certPem, keyPem: readFileSync(key, 'utf8') });
    }
    return { pfx: count === 1 ? pfxs[0]! : mergePfx(pfxs), certs };
  });
}

export class CertificateRequestError extends Error {}

/** Parses the x-ms-guest-agent-public-x509-cert header (one-line base64 DER) into a PEM certificate. */
export function transportCertFromHeader(value: string | undefined): string {
  if (!value) throw new CertificateRequestError('the request has no x-ms-guest-agent-public-x509-cert header');
  const b64 = value.trim();
  if (!/^[A-Za-z0-9+/]+=*$/.test(b64)) {
    throw new CertificateRequestError('x-ms-guest-agent-public-x509-cert is not one line of base64');
  }
  try {
    new X509Certificate(Buffer.from(b64, 'base64'));
  } catch {
    throw new CertificateRequestError('x-ms-guest-agent-public-x509-cert does not hold a DER X.509 certificate');
  }
  return `-----BEGIN CERTIFICATE-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/**
 * Encrypts the PFX to the transport certificate as CMS EnvelopedData (RSA PKCS#1 v1.5 key transport; recipient
 * named by subject key identifier when the certificate has one, as the platform does) and wraps it in the
 * CertificateFile document of §2.8.
 */
export async function certificateFile(
  pfx: Buffer,
  transportPem: string,
  cipherName: string | undefined,
  incarnation: string,
): Promise<string> {
  const cipher = cipherNamed(cipherName);
  const data = encryptEnvelopedData(pfx, transportPem, cipher)
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n');
  return (
    '<?xml version="1.0" encoding="utf-8"?>\n' +
    '<CertificateFile xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="certificates10.xsd">\n' +
    '  <Version>2012-11-30</Version>\n' +
    `  <Incarnation>${incarnation}</Incarnation>\n` +
    '  <Format>Pkcs7BlobWithPfxContents</Format>\n' +
    `  <Data>${data}</Data>\n` +
    '</CertificateFile>\n'
  );
}

/** The plaintext of a recorded <Password> element (XML entities resolved). */
function xmlText(t: string): string {
  return t
    .trim()
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/**
 * §2.9: every <Password> of a RemoteAccess document replaced by base64 CMS EnvelopedData of its text as UTF-16LE,
 * encrypted to the transport certificate with the requested cipher (AES128_CBC when none is named).
 */
export async function encryptRemoteAccessPasswords(xml: string, transportPem: string, cipherName: string | undefined): Promise<string> {
  const cipher = cipherNamed(cipherName ?? 'AES128_CBC');
  const parts = xml.split(/(<Password>[^<]*<\/Password>)/);
  for (let i = 1; i < parts.length; i += 2) {
    const plain = Buffer.from(xmlText(/<Password>([^<]*)<\/Password>/.exec(parts[i]!)![1]!), 'utf16le');
    parts[i] = `<Password>${encryptEnvelopedData(plain, transportPem, cipher).toString('base64')}</Password>`;
  }
  return parts.join('');
}
