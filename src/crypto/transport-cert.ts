// The transport certificate (docs/protocol.md §2.8), generated in-process instead of
// `openssl req -x509 -nodes -subj /CN=LinuxTransport -days 730 -newkey rsa:2048`. The certificate
// carries the same extensions `openssl req` adds (subject/authority key identifier, CA:TRUE), because
// the platform addresses the Certificates envelope to it by subject key identifier.
import { createHash, generateKeyPair, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { bitString, encode, fromPem, parse, seq, toPem } from './der.ts';
import { OID } from './oids.ts';

const VALIDITY_DAYS = 730;
const SUBJECT = 'LinuxTransport';

export interface TransportCertificate {
  readonly certPem: string;
  /** PKCS#8 PEM. */
  readonly keyPem: string;
}

function name(cn: string): Buffer {
  return encode.sequence(encode.set(encode.sequence(encode.oid(OID.commonName), encode.utf8String(cn))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return encode.sequence(encode.oid(id), ...(critical ? [encode.boolean(true)] : []), encode.octetString(value));
}

/** Builds a self-signed v3 certificate for an RSA key pair (exported for tests with other lifetimes). */
export function selfSignedCertificate(privateKey: KeyObject, publicKey: KeyObject, cn: string, days: number, now = new Date()): Buffer {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const keyId = createHash('sha1')
    .update(bitString(seq(parse(spki), 'the public key')[1], 'the public key'))
    .digest();
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive and without a leading zero octet
  const sigAlg = encode.sequence(encode.oid(OID.sha256WithRSAEncryption), encode.null());
  // Start a minute in the past so that a clock a little behind the signer's does not reject it.
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - 60_000);
  const notAfter = new Date(notBefore.getTime() + days * 86_400_000);
  const tbs = encode.sequence(
    encode.explicit(0, encode.integer(2)),
    encode.integer(serial),
    sigAlg,
    name(cn),
    encode.sequence(encode.time(notBefore), encode.time(notAfter)),
    name(cn),
    spki,
    encode.explicit(
      3,
      encode.sequence(
        extension(OID.subjectKeyIdentifier, false, encode.octetString(keyId)),
        extension(OID.authorityKeyIdentifier, false, encode.sequence(Buffer.concat([Buffer.from([0x80, keyId.length]), keyId]))),
        extension(OID.basicConstraints, true, encode.sequence(encode.boolean(true))),
      ),
    ),
  );
  const signature = sign('sha256', tbs, privateKey);
  return encode.sequence(tbs, sigAlg, encode.bitString(signature));
}

const RSA_OPTIONS = { modulusLength: 2048, publicExponent: 0x10001 } as const;

function certificateOf(privateKey: KeyObject, publicKey: KeyObject): TransportCertificate {
  const der = selfSignedCertificate(privateKey, publicKey, SUBJECT, VALIDITY_DAYS);
  return {
    certPem: toPem('CERTIFICATE', der),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

export function generateTransportCertificate(): TransportCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', RSA_OPTIONS);
  return certificateOf(privateKey, publicKey);
}

/** The same, with the key generated on libuv's thread pool: provisioning's other work goes on meanwhile. */
export function generateTransportCertificateAsync(): Promise<TransportCertificate> {
  return new Promise((resolve, reject) => {
    generateKeyPair('rsa', RSA_OPTIONS, (err, publicKey, privateKey) => {
      if (err) reject(err);
      else resolve(certificateOf(privateKey, publicKey));
    });
  });
}

/** The `x-ms-guest-agent-public-x509-cert` header value: the DER certificate as one line of base64 (§2.8, §10 item 8). */
export function transportCertHeader(certPem: string): string {
  return fromPem(certPem, 'CERTIFICATE').toString('base64');
}
