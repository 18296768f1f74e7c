import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateTransportCertificate, generateTransportCertificateAsync, transportCertHeader } from '../../../src/crypto/index.ts';
import { certificateFields } from '../../../src/crypto/x509.ts';
import { openssl, tempDir } from './crypto-helpers.ts';

test('the transport certificate is a self-signed CN=LinuxTransport RSA-2048 v3 certificate valid for 730 days', () => {
  const { certPem, keyPem } = generateTransportCertificate();
  assert.match(keyPem, /^-----BEGIN PRIVATE KEY-----\n/); // PKCS#8
  const cert = new X509Certificate(certPem);
  const key = createPrivateKey(keyPem);
  assert.equal(cert.checkPrivateKey(key), true);
  assert.equal(cert.subject, 'CN=LinuxTransport');
  assert.equal(cert.issuer, 'CN=LinuxTransport');
  assert.equal(cert.verify(cert.publicKey), true);
  assert.equal(cert.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
  assert.equal(days, 730);
  assert.ok(Date.parse(cert.validFrom) <= Date.now());
  assert.equal(cert.ca, true);

  const dir = tempDir();
  const path = join(dir, 'TransportCert.pem');
  writeFileSync(path, certPem);
  assert.equal(openssl(['x509', '-in', path, '-noout', '-subject']).toString().trim(), 'subject=CN = LinuxTransport');
  const text = openssl(['x509', '-in', path, '-noout', '-text']).toString();
  assert.match(text, /Version: 3 \(0x2\)/);
  assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/);
  // The subject key identifier is what the platform addresses the Certificates envelope to.
  const ski = certificateFields(certPem).subjectKeyIdentifier.toString('hex').toUpperCase().match(/../g)!.join(':');
  assert.match(text, new RegExp(`Subject Key Identifier: *\\n *${ski}`));
  openssl(['verify', '-CAfile', path, path]);
});

test('two transport certificates have different keys and serial numbers', () => {
  const a = new X509Certificate(generateTransportCertificate().certPem);
  const b = new X509Certificate(generateTransportCertificate().certPem);
  assert.notEqual(a.serialNumber, b.serialNumber);
  assert.notEqual(a.fingerprint256, b.fingerprint256);
});

test('the certificate header is the DER as one line of base64 (§2.8)', () => {
  const { certPem } = generateTransportCertificate();
  const header = transportCertHeader(certPem);
  assert.doesNotMatch(header, /[\s-]/);
  // The Python agent's construction: every PEM line without "----", concatenated.
  const python = certPem
    .split('\n')
    .filter((l) => !l.includes('----'))
    .join('');
  assert.equal(header, python);
  assert.deepEqual(Buffer.from(header, 'base64'), new X509Certificate(certPem).raw);
  assert.throws(() => transportCertHeader('not a pem'), /holds no CERTIFICATE block/);
});

test('the asynchronous generator makes the same kind of certificate, with its own key', async () => {
  const { certPem, keyPem } = await generateTransportCertificateAsync();
  const cert = new X509Certificate(certPem);
  assert.equal(cert.checkPrivateKey(createPrivateKey(keyPem)), true);
  assert.equal(cert.subject, 'CN=LinuxTransport');
  assert.equal(cert.verify(cert.publicKey), true);
  assert.equal(cert.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  assert.notEqual(cert.fingerprint256, new X509Certificate((await generateTransportCertificateAsync()).certPem).fingerprint256);
});
