import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
import { telemetry } from '../../../src/telemetry/recorder.ts';
import { isAgentError } from '../../../src/util/errors.ts';
import { FIXTURES } from '../../helpers/paths.ts';
import { makeTestPki, signFile } from '../../helpers/signing.ts';
import { readQueuedEvents } from '../../helpers/telemetry-queue.ts';

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

// upstream's _report_validation_event: the start of each step, then its result with the duration; a failure as a
// warning ("can be safely ignored") when nothing is enforced, as an error when the policy requires the signature.
test('telemetry: SignatureValidation when a step starts, PackageSignatureResult / PackageSigningInfoResult when it ends', () => {
  const queue = mkdtempSync(join(dir, 'events-'));
  const events = () => readQueuedEvents(queue).map((e) => e.params);
  telemetry.start(queue);
  try {
    validatePackageSignature(ZIP, signature('vm_access_signature.txt'), FULL);
    assert.deepEqual(
      events().map((e) => [e.Operation, e.OperationSuccess, e.Name, e.Version, e.Message]),
      [
        [
          'SignatureValidation',
          true,
          'Microsoft.OSTCExtensions.Edp.VMAccessForLinux',
          '1.7.0',
          `Validating signature for package '${FULL}'`,
        ],
        [
          'PackageSignatureResult',
          true,
          'Microsoft.OSTCExtensions.Edp.VMAccessForLinux',
          '1.7.0',
          `Successfully validated signature for package '${FULL}'`,
        ],
      ],
    );
    for (const n of readdirSync(queue)) rmSync(join(queue, n));

    assert.throws(() => validatePackageSignature(ZIP, signature('invalid_signature.txt'), FULL, undefined, 'warning'));
    const [, warned, sig] = events();
    assert.equal(warned!.Operation, 'PackageSignatureResult');
    assert.equal(warned!.OperationSuccess, false);
    assert.match(
      String(warned!.Message),
      /^\[WARNING\] Signature validation failed for package '.*'\. Error: .*\nThis failure can be safely ignored; will continue processing the package\.$/s,
    );
    assert.equal(sig!.Message, `Package encoded signature: '${signature('invalid_signature.txt')}'`);
    for (const n of readdirSync(queue)) rmSync(join(queue, n));

    const manifest = join(dir, 'HandlerManifest-telemetry.json');
    writeFileSync(
      manifest,
      JSON.stringify([{ signingInfo: { type: 'VMAccessForLinux', publisher: 'Microsoft.OSTCExtensions.Edp', version: '9.9' } }]),
    );
    assert.throws(() => validateSigningInfo(manifest, 'Microsoft.OSTCExtensions.Edp.VMAccessForLinux', '1.7.0', 'error'));
    const [, failed] = events();
    assert.deepEqual(
      [failed!.Operation, failed!.OperationSuccess, failed!.Message],
      ['PackageSigningInfoResult', false, "expected extension version '1.7.0' does not match downloaded package version '9.9'"],
    );
  } finally {
    telemetry.start(null);
  }
});
