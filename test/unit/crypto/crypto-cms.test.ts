import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createPrivateKey, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decryptEnvelopedData } from '../../../src/crypto/index.ts';
import { rsaDecryptPkcs1v15, stripPkcs1Type2 } from '../../../src/crypto/rsa-decrypt.ts';
import { makeKeyPair, openssl, tempDir } from './crypto-helpers.ts';

const dir = tempDir();
const transport = makeKeyPair(dir, 'transport');
const other = makeKeyPair(dir, 'other');
const payload = randomBytes(3000);
const payloadPath = join(dir, 'payload.bin');
writeFileSync(payloadPath, payload);

function encrypt(args: string[], recips: string[] = [transport.certPath]): Buffer {
  return openssl(['cms', '-encrypt', '-binary', '-in', payloadPath, '-outform', 'DER', ...args, ...recips.flatMap((r) => ['-recip', r])]);
}

const cases: Array<[string, string[]]> = [
  ['AES-128-CBC, PKCS#1 v1.5, issuer and serial', ['-aes128']],
  ['AES-192-CBC', ['-aes192']],
  ['AES-256-CBC, subject key identifier', ['-aes256', '-keyid']],
  ['3DES-CBC', ['-des3']],
  ['BER indefinite lengths (-stream)', ['-aes128', '-stream']],
];
for (const [name, args] of cases) {
  test(`openssl cms -encrypt ${name} decrypts in-process`, () => {
    assert.deepEqual(decryptEnvelopedData(encrypt(args), transport.keyPem, transport.certPem), payload);
  });
}

test('RSAES-OAEP key transport (SHA-1 and SHA-256) decrypts in-process', () => {
  for (const md of ['sha1', 'sha256']) {
    const cms = openssl([
      'cms',
      '-encrypt',
      '-binary',
      '-aes128',
      '-in',
      payloadPath,
      '-outform',
      'DER',
      '-recip',
      transport.certPath,
      '-keyopt',
      'rsa_padding_mode:oaep',
      '-keyopt',
      `rsa_oaep_md:${md}`,
    ]);
    assert.deepEqual(decryptEnvelopedData(cms, transport.keyPem, transport.certPem), payload, md);
  }
});

test('the recipient that names the transport certificate is chosen among several', () => {
  const cms = encrypt(['-aes128'], [other.certPath, transport.certPath]);
  assert.deepEqual(decryptEnvelopedData(cms, transport.keyPem, transport.certPem), payload);
  // Without the certificate every recipient is tried, as openssl does without -recip.
  assert.deepEqual(decryptEnvelopedData(cms, transport.keyPem), payload);
});

test('an envelope for another key fails with one clear sentence', () => {
  const cms = encrypt(['-aes128'], [other.certPath]);
  assert.throws(
    () => decryptEnvelopedData(cms, transport.keyPem, transport.certPem),
    (e: Error & { kind?: string }) =>
      e.kind === 'crypto' &&
      /^the CMS envelope could not be decrypted with the transport key \(no recipient names the transport certificate\)/.test(e.message),
  );
});

test('data that is not EnvelopedData is refused', () => {
  const signed = openssl([
    'cms',
    '-sign',
    '-binary',
    '-in',
    payloadPath,
    '-signer',
    transport.certPath,
    '-inkey',
    transport.keyPath,
    '-outform',
    'DER',
  ]);
  assert.throws(() => decryptEnvelopedData(signed, transport.keyPem), /is of type 1\.2\.840\.113549\.1\.7\.2, not EnvelopedData/);
  assert.throws(() => decryptEnvelopedData(Buffer.from('garbage'), transport.keyPem), /malformed ASN\.1 data/);
});

test('the raw-RSA PKCS#1 v1.5 path (for runtimes that refuse the padding) gives the same content', () => {
  const cms = encrypt(['-des3']);
  assert.deepEqual(decryptEnvelopedData(cms, transport.keyPem, transport.certPem, { forceRaw: true }), payload);
  const key = createPrivateKey(transport.keyPem);
  const secret = randomBytes(24);
  const ct = publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, secret);
  assert.deepEqual(rsaDecryptPkcs1v15(key, ct, { forceRaw: true }), secret);
  // A block with broken padding is refused on the raw path.
  const raw = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, ct);
  for (const broken of [
    Buffer.concat([Buffer.from([0, 1]), raw.subarray(2)]),
    Buffer.concat([Buffer.from([0, 2]), Buffer.alloc(raw.length - 2, 1)]),
  ]) {
    assert.throws(() => stripPkcs1Type2(broken), /does not have valid PKCS#1 v1\.5 padding/);
  }
  // Padding shorter than 8 octets is refused too.
  assert.throws(() => stripPkcs1Type2(Buffer.from('0002010101000102', 'hex')), /valid PKCS#1/);
  assert.deepEqual(stripPkcs1Type2(Buffer.from('000201010101010101010041', 'hex')), Buffer.from('41', 'hex'));
});
