import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MICROSOFT_ROOT_CERTIFICATE_2011, verifyDetachedSignature } from '../../../src/crypto/index.ts';
import { isAgentError } from '../../../src/util/errors.ts';
import { makeTestPki, signFile } from '../../helpers/signing.ts';
import { FIXTURES, tempDir } from './crypto-helpers.ts';

const SIGNING = join(FIXTURES, 'signing');
const vmAccessZip = readFileSync(join(SIGNING, 'Microsoft.OSTCExtensions.Edp.VMAccessForLinux__1.7.0.zip'));
const modifiedZip = readFileSync(join(SIGNING, 'Modified_Microsoft.OSTCExtensions.Edp.VMAccessForLinux__1.7.0.zip'));
const b64 = (file: string) => Buffer.from(readFileSync(join(SIGNING, file), 'utf8').trim(), 'base64');

function rejects(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => isAgentError(e) && e.kind === 'crypto' && pattern.test(e.message));
}

test('the recorded VMAccess signature verifies against the Microsoft root upstream ships', () => {
  assert.equal(verifyDetachedSignature(b64('vm_access_signature.txt'), vmAccessZip, [MICROSOFT_ROOT_CERTIFICATE_2011]), 1);
});

test('the recorded signature does not verify a modified package', () => {
  assert.notDeepEqual(modifiedZip, vmAccessZip);
  rejects(
    () => verifyDetachedSignature(b64('vm_access_signature.txt'), modifiedZip, [MICROSOFT_ROOT_CERTIFICATE_2011]),
    /message digest mismatch/,
  );
});

test('the recorded invalid signature is rejected', () => {
  rejects(() => verifyDetachedSignature(b64('invalid_signature.txt'), vmAccessZip, [MICROSOFT_ROOT_CERTIFICATE_2011]), /does not match/);
});

test('the recorded signature is rejected against the wrong root (upstream incorrect_microsoft_root_cert.pem)', () => {
  const wrong = readFileSync(join(SIGNING, 'incorrect_microsoft_root_cert.pem'), 'utf8');
  rejects(() => verifyDetachedSignature(b64('vm_access_signature.txt'), vmAccessZip, [wrong]), /does not lead to a trusted root/);
});

const dir = tempDir('signed-data-');
const pki = makeTestPki(dir, 'Alpha');
const other = makeTestPki(dir, 'Beta');
const content = Buffer.from('a package, byte for byte\n'.repeat(500));
const contentFile = join(dir, 'package.zip');
writeFileSync(contentFile, content);
const sig = (opts?: Parameters<typeof signFile>[2]) => Buffer.from(signFile(pki, contentFile, opts), 'base64');

test('a signature made by a test PKI (leaf → intermediate → root) verifies against that root only', () => {
  assert.equal(verifyDetachedSignature(sig(), content, [pki.rootPem]), 1);
  assert.equal(verifyDetachedSignature(sig(), content, [other.rootPem + pki.rootPem]), 1, 'one of several roots');
  rejects(() => verifyDetachedSignature(sig(), content, [other.rootPem]), /does not lead to a trusted root/);
  rejects(() => verifyDetachedSignature(sig(), content, [MICROSOFT_ROOT_CERTIFICATE_2011]), /does not lead to a trusted root/);
});

test('without signed attributes the signature covers the content itself', () => {
  const s = sig({ noAttributes: true });
  assert.equal(verifyDetachedSignature(s, content, [pki.rootPem]), 1);
  rejects(() => verifyDetachedSignature(s, Buffer.concat([content, Buffer.from('x')]), [pki.rootPem]), /does not verify/);
});

test('a chain missing its intermediate, or through an intermediate that is not a CA, is rejected', () => {
  rejects(() => verifyDetachedSignature(sig({ withoutIntermediate: true }), content, [pki.rootPem]), /does not lead to a trusted root/);
  const broken = makeTestPki(dir, 'Gamma', { intermediateIsCa: false });
  rejects(
    () => verifyDetachedSignature(Buffer.from(signFile(broken, contentFile), 'base64'), content, [broken.rootPem]),
    /does not lead to a trusted root/,
  );
});

test('an EC (P-256) signature verifies', () => {
  const ec = makeTestPki(dir, 'Delta', { key: 'ec' });
  assert.equal(verifyDetachedSignature(Buffer.from(signFile(ec, contentFile), 'base64'), content, [ec.rootPem]), 1);
});

test('a flipped bit in the signature value fails; garbage and a missing root are errors, never a pass', () => {
  const s = sig();
  const bad = Buffer.from(s);
  bad[bad.length - 10]! ^= 1; // inside the RSA signature value, the last field of the SignerInfo
  rejects(() => verifyDetachedSignature(bad, content, [pki.rootPem]), /does not verify/);
  rejects(() => verifyDetachedSignature(Buffer.from('not a signature'), content, [pki.rootPem]), /malformed ASN\.1/);
  rejects(() => verifyDetachedSignature(s, content, []), /no trusted root/);
});

test('the content may be handed over in chunks (read once per digest), with and without signed attributes', () => {
  let reads = 0;
  const chunked = (data: Buffer) => (onChunk: (c: Buffer) => void) => {
    reads += 1;
    for (let i = 0; i < data.length; i += 777) onChunk(data.subarray(i, i + 777));
  };
  assert.equal(verifyDetachedSignature(sig(), chunked(content), [pki.rootPem]), 1);
  assert.equal(reads, 1);
  assert.equal(verifyDetachedSignature(sig({ noAttributes: true }), chunked(content), [pki.rootPem]), 1);
  rejects(
    () => verifyDetachedSignature(sig(), chunked(Buffer.concat([content, Buffer.from('!')])), [pki.rootPem]),
    /message digest mismatch/,
  );
  rejects(() => verifyDetachedSignature(sig({ noAttributes: true }), chunked(content.subarray(1)), [pki.rootPem]), /does not verify/);
  assert.equal(verifyDetachedSignature(b64('vm_access_signature.txt'), chunked(vmAccessZip), [MICROSOFT_ROOT_CERTIFICATE_2011]), 1);
});
