import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import {
  markPackageValidated,
  PACKAGE_VALIDATED_FILE,
  packageValidated,
  validatePackageSignature,
  validateSigningInfo,
} from '../../../src/extensions/package-signature.ts';
import { isAgentError } from '../../../src/util/errors.ts';
import { FIXTURES } from '../../helpers/paths.ts';
import { makeTestPki, signFile } from '../../helpers/signing.ts';

const SIGNING = join(FIXTURES, 'tests', 'data', 'signing');
const ZIP = join(SIGNING, 'Microsoft.OSTCExtensions.Edp.VMAccessForLinux__1.7.0.zip');
const MODIFIED = join(SIGNING, 'Modified_Microsoft.OSTCExtensions.Edp.VMAccessForLinux__1.7.0.zip');
const signature = (f: string) => readFileSync(join(SIGNING, f), 'utf8');
const FULL = 'Microsoft.OSTCExtensions.Edp.VMAccessForLinux-1.7.0';
const dir = mkdtempSync(join(tmpdir(), 'pkg-signature-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function failsWith(fn: () => void, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => isAgentError(e, 'extension') && pattern.test(e.message));
}

test('the recorded VMAccess package and signature validate against the Microsoft root by default', () => {
  validatePackageSignature(ZIP, signature('vm_access_signature.txt'), FULL);
});

test("a modified package, the recorded invalid signature, an empty signature: upstream's sentence naming the package", () => {
  const sentence = new RegExp(`^Signature validation failed for package '${FULL}'\\. Error: `);
  failsWith(() => validatePackageSignature(MODIFIED, signature('vm_access_signature.txt'), FULL), sentence);
  failsWith(() => validatePackageSignature(ZIP, signature('invalid_signature.txt'), FULL), sentence);
  failsWith(() => validatePackageSignature(ZIP, '', FULL), sentence);
  failsWith(() => validatePackageSignature(join(dir, 'missing.zip'), signature('vm_access_signature.txt'), FULL), sentence);
});

test('the trusted roots are a parameter: a test PKI signature passes with its root and fails with the Microsoft one', () => {
  const pki = makeTestPki(dir, 'Pkg');
  const sig = signFile(pki, ZIP);
  validatePackageSignature(ZIP, sig, FULL, [pki.rootPem]);
  failsWith(() => validatePackageSignature(ZIP, sig, FULL), /does not lead to a trusted root/);
});

function manifest(signingInfo: unknown): string {
  const path = join(dir, 'HandlerManifest.json');
  writeFileSync(path, JSON.stringify([{ version: 1.0, handlerManifest: {}, ...(signingInfo === undefined ? {} : { signingInfo }) }]));
  return path;
}

test('signingInfo: type, publisher and version must name the handler (case-insensitively), with upstream messages', () => {
  const name = 'Microsoft.OSTCExtensions.Edp.VMAccessForLinux';
  validateSigningInfo(manifest({ type: 'vmaccessforlinux', publisher: 'Microsoft.OSTCExtensions.Edp', version: '1.7.0' }), name, '1.7.0');
  failsWith(() => validateSigningInfo(manifest(undefined), name, '1.7.0'), /^HandlerManifest\.json does not contain 'signingInfo'$/);
  failsWith(
    () => validateSigningInfo(manifest({ type: 'VMAccessForLinux', version: '1.7.0' }), name, '1.7.0'),
    /^HandlerManifest\.json does not contain attribute 'signingInfo\.publisher'$/,
  );
  failsWith(
    () =>
      validateSigningInfo(
        manifest({ type: 'VMAccessForLinux', publisher: 'Microsoft.OSTCExtensions.Edp', version: '1.6.0' }),
        name,
        '1.7.0',
      ),
    /^expected extension version '1\.7\.0' does not match downloaded package version '1\.6\.0'$/,
  );
  failsWith(
    () => validateSigningInfo(manifest({ type: 'Other', publisher: 'Microsoft.OSTCExtensions.Edp', version: '1.7.0' }), name, '1.7.0'),
    /^expected extension type 'VMAccessForLinux' does not match downloaded package type 'Other'$/,
  );
});

test('package_validated marks a validated package in its base dir', () => {
  assert.equal(packageValidated(dir), false);
  markPackageValidated(dir);
  assert.equal(readFileSync(join(dir, PACKAGE_VALIDATED_FILE), 'utf8'), '');
  assert.equal(packageValidated(dir), true);
});
