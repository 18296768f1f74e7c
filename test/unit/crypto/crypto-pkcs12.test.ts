import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createHmac, createPrivateKey } from 'node:crypto';
import { children, encode, octets, parse } from '../../../src/crypto/der.ts';
import { pkcs12Kdf } from '../../../src/crypto/pbe.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePkcs12, INTEGRITY_FAILED } from '../../../src/crypto/index.ts';
import { isAgentError } from '../../../src/util/errors.ts';
import { makeKeyPair, openssl, opensslCan, tempDir } from './crypto-helpers.ts';

const dir = tempDir();
const tenant = makeKeyPair(dir, 'tenant');
const extra = makeKeyPair(dir, 'extra');
const tenantDer = new X509Certificate(tenant.certPem).raw;
const extraDer = new X509Certificate(extra.certPem).raw;

function exportPfx(args: string[], password = ''): Buffer {
  return openssl([
    'pkcs12',
    '-export',
    '-passout',
    `pass:${password}`,
    '-inkey',
    tenant.keyPath,
    '-in',
    tenant.certPath,
    '-certfile',
    extra.certPath,
    ...args,
  ]);
}

function assertContents(pfx: Buffer, password = ''): void {
  const { certificates, privateKeys } = parsePkcs12(pfx, password);
  assert.equal(certificates.length, 2);
  assert.ok(certificates.some((c) => c.equals(tenantDer)));
  assert.ok(certificates.some((c) => c.equals(extraDer)));
  assert.equal(privateKeys.length, 1);
  assert.equal(new X509Certificate(tenantDer).checkPrivateKey(privateKeys[0]!), true);
}

const schemes: Array<[string, string[]]> = [
  [
    'pbeWithSHA1And3-KeyTripleDES-CBC, SHA-1 MAC (as the platform)',
    ['-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1'],
  ],
  ['pbeWithSHA1And2-KeyTripleDES-CBC', ['-keypbe', 'PBE-SHA1-2DES', '-certpbe', 'PBE-SHA1-2DES']],
  ['PBES2 (openssl 3 default: PBKDF2-HMAC-SHA256 + AES-256-CBC, SHA-256 MAC)', []],
  ['PBES2 AES-128-CBC with a SHA-512 MAC', ['-keypbe', 'AES-128-CBC', '-certpbe', 'AES-192-CBC', '-macalg', 'sha512']],
  ['unencrypted bags (keyBag, plain certBag) without a MAC', ['-keypbe', 'NONE', '-certpbe', 'NONE', '-nomac']],
];
for (const [name, args] of schemes) {
  test(`a PFX with ${name} is read`, () => assertContents(exportPfx(args)));
}

const legacy = opensslCan(['list', '-cipher-algorithms', '-provider', 'legacy']);
test('a -legacy PFX (3DES key, pbeWithSHA1And40BitRC2-CBC certificates) is read', {
  skip: !legacy && 'host openssl has no legacy provider',
}, () => {
  assertContents(exportPfx(['-legacy']));
});
test('a PFX with pbeWithSHA1And128BitRC2-CBC is read', { skip: !legacy && 'host openssl has no legacy provider' }, () => {
  assertContents(exportPfx(['-legacy', '-keypbe', 'PBE-SHA1-RC2-128', '-certpbe', 'PBE-SHA1-RC2-128']));
});

test('a non-empty password works, and a wrong one fails the integrity check', () => {
  const pfx = exportPfx([], 'S3cr\u00e9t');
  assertContents(pfx, 'S3cr\u00e9t');
  assert.throws(
    () => parsePkcs12(pfx, 'wrong'),
    (e: unknown) => isAgentError(e, 'crypto', 'pfx-integrity') && e.message === INTEGRITY_FAILED,
  );
});

/** Where the MAC value sits inside a PFX. */
function macDigest(pfx: Buffer): { offset: number; length: number } {
  const macData = children(parse(pfx))[2]!;
  const digest = octets(children(children(macData)[0]!)[1]!);
  return { offset: digest.byteOffset - pfx.byteOffset, length: digest.length };
}

test('a corrupted MAC is detected; without the check the content is still read', () => {
  const pfx = Buffer.from(exportPfx(['-macalg', 'sha1']));
  assertContents(pfx);
  const { offset, length } = macDigest(pfx);
  assert.equal(length, 20);
  pfx[offset + length - 1]! ^= 0xff;
  assert.throws(
    () => parsePkcs12(pfx),
    (e: unknown) => isAgentError(e, 'crypto', 'pfx-integrity') && e.message === INTEGRITY_FAILED,
  );
  const { certificates, privateKeys } = parsePkcs12(pfx, '', { verifyMac: false });
  assert.equal(certificates.length, 2);
  assert.equal(privateKeys.length, 1);
});

test('a MAC computed over a NULL password (no bytes, not BMPString 00 00) is accepted, as openssl does', () => {
  const plain = exportPfx(['-keypbe', 'NONE', '-certpbe', 'NONE', '-nomac']);
  const [version, authSafeInfo] = children(parse(plain));
  const authSafe = octets(children(children(authSafeInfo!)[1]!)[0]!);
  const salt = Buffer.from('000102030405060708090a0b0c0d0e0f10111213', 'hex');
  const mac = (pw: Buffer) =>
    createHmac('sha1', pkcs12Kdf('sha1', pw, salt, 3, 2048, 20))
      .update(authSafe)
      .digest();
  const build = (pw: Buffer) =>
    encode.sequence(
      version!.raw,
      authSafeInfo!.raw,
      encode.sequence(
        encode.sequence(encode.sequence(encode.oid('1.3.14.3.2.26'), encode.null()), encode.octetString(mac(pw))),
        encode.octetString(salt),
        encode.integer(2048),
      ),
    );
  const nullForm = build(Buffer.alloc(0));
  assertContents(nullForm);
  assertContents(build(Buffer.from([0, 0])));
  // openssl agrees that the NULL-password MAC verifies (it tries both forms too).
  const path = join(dir, 'null-password.pfx');
  writeFileSync(path, nullForm);
  openssl(['pkcs12', '-in', path, '-passin', 'pass:', '-nodes', '-noout']);
  assert.throws(() => parsePkcs12(build(Buffer.from('x'))), { message: INTEGRITY_FAILED });
});

test('malformed or foreign PFX data gives clear errors', () => {
  assert.throws(() => parsePkcs12(Buffer.from('3003020102', 'hex')), /not PKCS#12 version 3/);
  assert.throws(() => parsePkcs12(Buffer.from('not der')), /malformed ASN\.1 data/);
  const key = createPrivateKey(tenant.keyPem).export({ type: 'pkcs8', format: 'der' });
  assert.throws(
    () => parsePkcs12(key),
    (e: Error & { kind?: string }) => e.kind === 'crypto',
  );
  const pfx = exportPfx(['-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1']);
  assert.throws(() => parsePkcs12(pfx, 'x', { verifyMac: false }), {
    message: /^the PFX content could not be read: the decrypted data has invalid padding/,
  });
});
