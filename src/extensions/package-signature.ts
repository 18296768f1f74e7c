// Extension package signatures (the goal state's encodedSignature), as the Python agent's
// azurelinuxagent/ga/signature_validation_util.py does them, but in-process (crypto/signed-data.ts) instead of
// `openssl cms -verify`: the zip's detached PKCS#7 signature against the Microsoft root (no time check), then the
// unpacked HandlerManifest.json's `signingInfo` (type, publisher, version) against the handler, and when both
// pass, the empty state file `<base dir>/package_validated`. Its presence is what "the package was validated" means
// later (an installed extension has no signature to check again). Telemetry events upstream sends are log lines here.
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { MICROSOFT_ROOT_CERTIFICATE_2011, verifyDetachedSignature } from '../crypto/index.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';
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
): void {
  log.info(`Validating signature for package '${fullName}'`);
  try {
    const signature = Buffer.from(encodedSignature.trim(), 'base64');
    if (signature.length === 0) throw new AgentError('crypto', 'the encoded signature is empty or not base64');
    verifyDetachedSignature(signature, (onChunk) => readInChunks(zipPath, onChunk), trustedRoots);
  } catch (e) {
    throw new AgentError(
      'extension',
      `Signature validation failed for package '${fullName}'. Error: ${describeError(e)}`,
      { package: fullName },
      e,
    );
  }
  log.info(`Successfully validated signature for package '${fullName}'`);
}

/**
 * The unpacked HandlerManifest.json's signingInfo must name this handler: type and publisher from `Publisher.Type`,
 * and the version, compared case-insensitively. Throws AgentError('extension') with upstream's sentences.
 */
export function validateSigningInfo(manifestFile: string, name: string, version: string): void {
  log.info(`Validating handler manifest 'signingInfo' of extension '${name}-${version}'`);
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
  log.info(`Successfully validated handler manifest 'signingInfo' for extension '${name}-${version}'`);
}

export function markPackageValidated(baseDir: string): void {
  const path = join(baseDir, PACKAGE_VALIDATED_FILE);
  log.info(`Saving signature validation state file: ${path}`);
  writeFileAtomic(path, '', { mode: 0o644 });
}

export function packageValidated(baseDir: string): boolean {
  return existsSync(join(baseDir, PACKAGE_VALIDATED_FILE));
}
