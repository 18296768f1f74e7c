// Extension package signatures (the goal state's encodedSignature), as the Python agent's
// azurelinuxagent/ga/signature_validation_util.py does them, but in-process (crypto/signed-data.ts) instead of
// `openssl cms -verify`: the zip's detached PKCS#7 signature against the Microsoft root (no time check), then the
// unpacked HandlerManifest.json's `signingInfo` (type, publisher, version) against the handler, and when both
// pass, the empty state file `<base dir>/package_validated`. Its presence is what "the package was validated" means
// later (an installed extension has no signature to check again). The telemetry events are upstream's
// (_report_validation_event): SignatureValidation when a step starts, PackageSignatureResult / PackageSigningInfoResult
// with the duration when it ends, the failure's message at the level the caller chose ('warning': "[WARNING] …
// This failure can be safely ignored…", when nothing is enforced; 'error' when the policy requires a signature).
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { MICROSOFT_ROOT_CERTIFICATE_2011, verifyDetachedSignature } from '../crypto/index.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';
import { telemetry } from '../telemetry/recorder.ts';
import { AgentError, describeError } from '../util/errors.ts';
import { readHandlerManifestText } from './package/handler-manifest.ts';

/** Upstream's _PACKAGE_VALIDATION_STATE_FILE. */
export const PACKAGE_VALIDATED_FILE = 'package_validated';

export const DEFAULT_TRUSTED_ROOTS: readonly string[] = [MICROSOFT_ROOT_CERTIFICATE_2011];

const CHUNK_BYTES = 1024 * 1024;

/** The file's bytes to `onChunk`, 1 MiB at a time: a package is hashed without being held in memory. */
function readInChunks(path: string, onChunk: (chunk: Buffer) => void): void {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(CHUNK_BYTES);
    for (let n = readSync(fd, buf, 0, CHUNK_BYTES, null); n > 0; n = readSync(fd, buf, 0, CHUNK_BYTES, null)) onChunk(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

/** How a failed validation is reported: only logged and sent as a warning, or an error that blocks the package. */
export type SignatureFailureLevel = 'warning' | 'error';

const OP = {
  validation: 'SignatureValidation',
  signatureResult: 'PackageSignatureResult',
  signingInfoResult: 'PackageSigningInfoResult',
} as const;

/** upstream _report_validation_event, for the telemetry side (the log lines stay where they are). */
function report(op: string, name: string, version: string, message: string, durationMs = 0, failure?: SignatureFailureLevel): void {
  const text =
    failure === 'warning' ? `[WARNING] ${message}\nThis failure can be safely ignored; will continue processing the package.` : message;
  telemetry.addEvent({ op, isSuccess: failure === undefined, message: text, name, version, durationMs }, { logEvent: false });
}

/** upstream splits the full name at its last '-' for the events' Name and Version. */
function splitFullName(fullName: string): [string, string] {
  const dash = fullName.lastIndexOf('-');
  return dash < 0 ? [fullName, ''] : [fullName.slice(0, dash), fullName.slice(dash + 1)];
}

/** `Name-Version`, upstream's package full name in these messages. */
export function packageFullName(name: string, version: string): string {
  return `${name}-${version}`;
}

/** Throws AgentError('extension') with upstream's "Signature validation failed for package …" sentence. */
export function validatePackageSignature(
  zipPath: string,
  encodedSignature: string,
  fullName: string,
  trustedRoots: readonly string[] = DEFAULT_TRUSTED_ROOTS,
  failureLevel: SignatureFailureLevel = 'warning',
): void {
  const [name, version] = splitFullName(fullName);
  log.info(`Validating signature for package '${fullName}'`);
  report(OP.validation, name, version, `Validating signature for package '${fullName}'`);
  const started = performance.now();
  try {
    const signature = Buffer.from(encodedSignature.trim(), 'base64');
    if (signature.length === 0) throw new AgentError('crypto', 'the encoded signature is empty or not base64');
    verifyDetachedSignature(signature, (onChunk) => readInChunks(zipPath, onChunk), trustedRoots);
  } catch (e) {
    const message = `Signature validation failed for package '${fullName}'. Error: ${describeError(e)}`;
    report(OP.signatureResult, name, version, message, Math.round(performance.now() - started), failureLevel);
    // upstream sends the signature itself apart, so that the failure event is not dropped for its size
    report(OP.validation, name, version, `Package encoded signature: '${encodedSignature}'`);
    throw new AgentError('extension', message, { package: fullName }, e);
  }
  log.info(`Successfully validated signature for package '${fullName}'`);
  report(
    OP.signatureResult,
    name,
    version,
    `Successfully validated signature for package '${fullName}'`,
    Math.round(performance.now() - started),
  );
}

/**
 * The unpacked HandlerManifest.json's signingInfo must name this handler: type and publisher from `Publisher.Type`,
 * and the version, compared case-insensitively. Throws AgentError('extension') with upstream's sentences.
 */
export function validateSigningInfo(
  manifestFile: string,
  name: string,
  version: string,
  failureLevel: SignatureFailureLevel = 'warning',
): void {
  log.info(`Validating handler manifest 'signingInfo' of extension '${name}-${version}'`);
  report(OP.validation, name, version, `Validating handler manifest 'signingInfo' of extension '${name}-${version}'`);
  const started = performance.now();
  try {
    checkSigningInfo(manifestFile, name, version);
  } catch (e) {
    report(OP.signingInfoResult, name, version, describeError(e), Math.round(performance.now() - started), failureLevel);
    throw e;
  }
  log.info(`Successfully validated handler manifest 'signingInfo' for extension '${name}-${version}'`);
  report(
    OP.signingInfoResult,
    name,
    version,
    `Successfully validated handler manifest 'signingInfo' for extension '${name}-${version}'`,
    Math.round(performance.now() - started),
  );
}

function checkSigningInfo(manifestFile: string, name: string, version: string): void {
  let info: unknown;
  try {
    const doc: unknown = JSON.parse(readHandlerManifestText(manifestFile).replace(/^\uFEFF/, ''));
    const first: unknown = Array.isArray(doc) ? doc[0] : doc;
    info = typeof first === 'object' && first !== null ? (first as Record<string, unknown>).signingInfo : undefined;
  } catch (e) {
    throw new AgentError(
      'extension',
      `Error during manifest 'signingInfo' validation for extension '${name}-${version}'. Error: ${describeError(e)}`,
      {},
      e,
    );
  }
  if (typeof info !== 'object' || info === null) throw new AgentError('extension', "HandlerManifest.json does not contain 'signingInfo'");
  const dot = name.lastIndexOf('.');
  const expected: Array<[string, string]> = [
    ['type', name.slice(dot + 1)],
    ['publisher', dot < 0 ? '' : name.slice(0, dot)],
    ['version', version],
  ];
  for (const [attr, want] of expected) {
    const got = (info as Record<string, unknown>)[attr];
    if (got === undefined || got === null)
      throw new AgentError('extension', `HandlerManifest.json does not contain attribute 'signingInfo.${attr}'`);
    if (String(got).toLowerCase() !== want.toLowerCase()) {
      throw new AgentError('extension', `expected extension ${attr} '${want}' does not match downloaded package ${attr} '${String(got)}'`);
    }
  }
}

export function markPackageValidated(baseDir: string): void {
  const path = join(baseDir, PACKAGE_VALIDATED_FILE);
  log.info(`Saving signature validation state file: ${path}`);
  telemetry.addEvent({ op: OP.validation, isSuccess: true, message: `Saving signature validation state file: ${path}` });
  writeFileAtomic(path, '', { mode: 0o644 });
}

export function packageValidated(baseDir: string): boolean {
  return existsSync(join(baseDir, PACKAGE_VALIDATED_FILE));
}
