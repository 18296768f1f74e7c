// Unpacking a handler package into its base dir and initialising it (docs/protocol.md §5.3).
//
// API:
//   unpackHandler(zipPath: string, handlerDir: string, opts?: UnpackOptions): Promise<HandlerManifest>
//       Safe extraction (archive/zip-read.ts) into handlerDir (which must not exist), u+x on every file,
//       HandlerManifest.json found anywhere in the tree and copied (BOM stripped) to handlerDir, parsed and checked,
//       config/ and status/ created (0700). The zip is deleted afterwards, success or failure (unless keepZip);
//       on failure handlerDir is removed, so a retry starts clean. Errors are AgentError 'extension' / 'io'.
//   installHandlerPackage(layout: HandlerLayout, opts?: UnpackOptions): Promise<HandlerManifest>
//       unpackHandler(layout.packageZip, layout.baseDir), then <logDir>/<Name>/events (0700) and
//       HandlerEnvironment.json: the whole of §5.3 "Initialize" except the cgroup slice.
//   PACKAGE_LIMITS: ExtractLimits     default caps for a handler package
//   interface UnpackOptions { limits?, keepZip?, multiConfig?, required? }
import { lstatSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { extractZipSafely, type ExtractLimits } from '../../archive/zip-read.ts';
import { AgentError, describeError } from '../../util/errors.ts';
import { log } from '../../log/logger.ts';
import { writeFileAtomic } from '../../os/atomic-file.ts';
import { checkRealDirectory, setOwnerAndModeNoFollow } from '../../os/safe-read.ts';
import { writeHandlerEnvironment } from './handler-environment.ts';
import { parseHandlerManifest, readHandlerManifestText, type CommandName, type HandlerManifest } from './handler-manifest.ts';
import type { HandlerLayout } from './layout.ts';

/** Packages are tens of MB; 1 GiB of content or 50,000 entries is far past any real one and stops a zip bomb. */
export const PACKAGE_LIMITS: ExtractLimits = { maxTotalBytes: 1024 * 1024 * 1024, maxEntries: 50_000 };

export interface UnpackOptions {
  limits?: ExtractLimits;
  /** Keep the zip after extraction (tests; the agent deletes it, §5.3). */
  keepZip?: boolean;
  /** The goal state says multi-config: the manifest must declare supportsMultipleExtensions (§5.3 step 3). */
  multiConfig?: boolean;
  /** Commands the manifest must have (default all five; the agent's own package needs only enableCommand). */
  required?: readonly CommandName[];
}

const MANIFEST = 'HandlerManifest.json';

/** §5.3 step 1: add u+x to every regular file (packages made on Windows lose their modes). */
function addOwnerExecute(dir: string): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (st.isDirectory()) addOwnerExecute(path);
    else if (st.isFile() && (st.mode & 0o100) === 0) setOwnerAndModeNoFollow(path, { mode: (st.mode & 0o7777) | 0o100 });
  }
}

/** §5.3 step 2: the first HandlerManifest.json, breadth first (the top level wins), names sorted; no symlinks. */
function findManifest(root: string): string | null {
  let level = [root];
  while (level.length > 0) {
    const next: string[] = [];
    for (const dir of level) {
      for (const name of readdirSync(dir).sort()) {
        const path = join(dir, name);
        const st = lstatSync(path);
        if (st.isFile() && name === MANIFEST) return path;
        if (st.isDirectory()) next.push(path);
      }
    }
    level = next;
  }
  return null;
}

export async function unpackHandler(zipPath: string, handlerDir: string, opts: UnpackOptions = {}): Promise<HandlerManifest> {
  let extracted = false;
  try {
    await extractZipSafely(zipPath, handlerDir, opts.limits ?? PACKAGE_LIMITS);
    extracted = true;
    addOwnerExecute(handlerDir);
    const found = findManifest(handlerDir);
    if (found === null) throw new AgentError('extension', `the package ${zipPath} has no ${MANIFEST}`, { archive: zipPath });
    const text = readHandlerManifestText(found).replace(/^\ufeff/, '');
    const manifest = parseHandlerManifest(text, `the ${MANIFEST} of the package ${zipPath}`, { required: opts.required });
    if (opts.multiConfig && !manifest.supportsMultipleExtensions) {
      throw new AgentError(
        'extension',
        `the handler in ${zipPath} does not declare supportsMultipleExtensions, but the goal state gives it several extensions`,
        {
          archive: zipPath,
        },
      );
    }
    for (const key of manifest.nonBooleanFlags) {
      log.info(`In the handler manifest of ${zipPath}: '${key}' is not a boolean; please change it to a boolean value`);
    }
    writeFileAtomic(join(handlerDir, MANIFEST), text, { mode: 0o644 });
    for (const sub of ['config', 'status']) {
      checkRealDirectory(join(handlerDir, sub), dirname(handlerDir));
      mkdirSync(join(handlerDir, sub), { mode: 0o700, recursive: true });
      setOwnerAndModeNoFollow(join(handlerDir, sub), { mode: 0o700, kind: 'directory' });
    }
    return manifest;
  } catch (e) {
    if (extracted) rmSync(handlerDir, { recursive: true, force: true });
    if (e instanceof AgentError) throw e;
    throw new AgentError('io', `cannot unpack ${zipPath} into ${handlerDir}: ${describeError(e)}`, { archive: zipPath }, e);
  } finally {
    if (!opts.keepZip) rmSync(zipPath, { force: true });
  }
}

export async function installHandlerPackage(layout: HandlerLayout, opts: UnpackOptions = {}): Promise<HandlerManifest> {
  const manifest = await unpackHandler(layout.packageZip, layout.baseDir, opts);
  try {
    try {
      checkRealDirectory(layout.eventsFolder, dirname(layout.logFolder));
      mkdirSync(layout.eventsFolder, { recursive: true, mode: 0o700 });
      setOwnerAndModeNoFollow(layout.eventsFolder, { mode: 0o700, kind: 'directory' });
    } catch (e) {
      // The log folder is the extension's to write; a full Extension.LogDir must not keep it from running (issue 11
      // finding 10). Its commands then run without output files (command.ts).
      log.warn(
        `the log folder ${layout.logFolder} of ${layout.name} could not be made (${describeError(e)}); the handler is installed without it`,
      );
    }
    writeHandlerEnvironment(layout);
  } catch (e) {
    rmSync(layout.baseDir, { recursive: true, force: true });
    if (e instanceof AgentError) throw e;
    throw new AgentError(
      'io',
      `cannot initialise the handler directory ${layout.baseDir}: ${describeError(e)}`,
      { dir: layout.baseDir },
      e,
    );
  }
  return manifest;
}
