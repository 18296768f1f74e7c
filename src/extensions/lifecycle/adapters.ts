// The lifecycle ports (ports.ts) on the real modules: manifests and downloads (extensions/download.ts,
// version-choice.ts), the on-disk layout, state and settings files (extensions/package/), handler commands
// (extensions/command.ts) and extension status files (extensions/status-file.ts).
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, type Dirent } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ExtensionHandler, ExtensionSettings } from '../../fabric/documents/index.ts';
import { log } from '../../log/logger.ts';
import { AgentError, describeError } from '../../util/errors.ts';
import { writeFileAtomic } from '../../os/atomic-file.ts';
import { monotonicNow } from '../../util/clock.ts';
import { checkRealDirectory, readFileNoFollow, UnsafeFileError } from '../../os/safe-read.ts';
import { runHandlerCommand, type HandlerCommandOptions, type SliceLimits } from '../command.ts';
import { extensionEnvironment } from '../command-env.ts';
import { downloadHandlerPackage, downloadManifest, type DownloadContext } from '../download.ts';
import {
  findInstalledVersion,
  handlerLayout,
  installHandlerPackage,
  parseHandlerDirName,
  parsePackageZipName,
  readExtensionState,
  readHandlerManifest,
  readHandlerState,
  readHandlerStatus,
  writeEmptySettingsFile,
  writeExtensionState,
  writeHandlerState,
  writeHandlerStatus,
  writeSettingsFile,
  type HandlerLayout,
  type LayoutRoots,
} from '../package/index.ts';
import { OPERATIONS } from '../handler-operations.ts';
import {
  DEFAULT_TRUSTED_ROOTS,
  markPackageValidated,
  packageFullName,
  packageValidated,
  validatePackageSignature,
  validateSigningInfo,
} from '../package-signature.ts';
import { MAX_READ_BYTES, statusFilePath } from '../status-file.ts';
import { chooseVersion } from '../version-choice.ts';
import { codeOf, CODE, extensionError } from './codes.ts';
import type { Clock, CommandRunner, ExtensionStatusStore, HandlerOnDisk, LifecyclePorts, PackageStore, StateStore } from './ports.ts';

/** Directories and zips of the agent's own packages share the lib dir; cleanup never touches them (§7.3). */
const AGENT_PACKAGE = 'WALinuxAgent';

export interface AdapterOptions {
  roots: LayoutRoots;
  download: DownloadContext;
  /** The WireServer address handed to extensions (AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS). */
  wireServerAddress: string;
  /** Run commands in systemd scopes when systemd runs (CGroups.Enabled). */
  useSystemd: boolean;
  /** For tests: the sd_booted directory and systemd binaries handed to runHandlerCommand. */
  systemd?: HandlerCommandOptions['systemd'];
  /** Debug.EnableSignatureValidation: validate signed packages (failures only logged unless the policy requires a signature). */
  signatureValidation?: boolean;
  /** Trust anchors of package signatures (PEM); default the Microsoft root upstream ships. */
  trustedRoots?: readonly string[];
  /** Called with each manifest document fetched (for the goal-state history). */
  onManifest?: (handlerName: string, xml: string) => void;
  clock?: Clock;
}

export function createLifecyclePorts(o: AdapterOptions): LifecyclePorts {
  return {
    packages: packageStore(o),
    state: stateStore(o.roots),
    commands: commandRunner(o),
    statuses: statusStore(o.roots),
    clock: o.clock ?? { now: () => Date.now(), monotonic: monotonicNow, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) },
  };
}

function packageStore(o: AdapterOptions): PackageStore {
  const layout = (name: string, version: string): HandlerLayout => handlerLayout(o.roots, name, version);
  /** The package URIs of the version chosen for each handler, until it is installed. */
  const chosen = new Map<string, { uris: readonly string[]; manifestUri: string }>();
  return {
    async chooseVersion(handler: ExtensionHandler, fastTrack: boolean): Promise<string> {
      let fetched: Awaited<ReturnType<typeof downloadManifest>>;
      try {
        fetched = await downloadManifest(o.download, handler, { fastTrack });
      } catch (e) {
        throw extensionError(CODE.manifestDownload, (e as Error).message);
      }
      o.onManifest?.(handler.name, fetched.xml);
      const choice = chooseVersion(fetched.manifest, {
        handlerName: handler.name,
        requestedVersion: handler.version,
        installedVersion: findInstalledVersion(o.roots.libDir, handler.name),
        state: 'enabled',
      });
      chosen.set(`${handler.name}@${choice.version}`, { uris: choice.package?.uris ?? [], manifestUri: fetched.uri });
      return choice.version;
    },

    async installPackage(
      handler: ExtensionHandler,
      version: string,
      _fastTrack: boolean,
      opts = { signatureRequired: false },
    ): Promise<void> {
      const l = layout(handler.name, version);
      const pkg = chosen.get(`${handler.name}@${version}`);
      if (!pkg) throw extensionError(CODE.packageDownload, `no package of ${handler.name} ${version} was chosen from its manifest`);
      // A leftover directory (a retry after a failure or a kill) is replaced: unpacking starts clean (§5.3).
      rmSync(l.baseDir, { recursive: true, force: true });
      const zip = await downloadHandlerPackage(o.download, {
        libDir: o.roots.libDir,
        name: handler.name,
        version,
        uris: pkg.uris,
        manifestUri: pkg.manifestUri,
      });
      const signature = handler.encodedSignature ?? '';
      const validate = signature !== '' && (o.signatureValidation === true || opts.signatureRequired);
      const full = packageFullName(handler.name, version);
      // Upstream (2.15) only reports a failed validation; when the policy requires a signature it blocks the package.
      const failed = (e: unknown): void => {
        if (opts.signatureRequired) {
          rmSync(zip, { force: true });
          rmSync(l.baseDir, { recursive: true, force: true });
          throw new AgentError('extension', describeError(e), { code: OPERATIONS.install.errorCode }, e, 'disallowed');
        }
        log.warn(`${describeError(e)}\nThis failure can be safely ignored; will continue processing the package.`);
      };
      let signatureOk = false;
      if (validate) {
        try {
          validatePackageSignature(
            zip,
            signature,
            full,
            o.trustedRoots ?? DEFAULT_TRUSTED_ROOTS,
            opts.signatureRequired ? 'error' : 'warning',
          );
          signatureOk = true;
        } catch (e) {
          failed(e);
        }
      } else if (o.signatureValidation && signature === '') {
        log.info(`No signature for extension '${full}' in goal state, skipping signature validation.`);
      }
      try {
        await installHandlerPackage(l);
      } catch (e) {
        throw extensionError(codeOf(e) === CODE.unknown ? CODE.handlerManifest : codeOf(e), (e as Error).message);
      }
      if (!validate) return;
      try {
        validateSigningInfo(l.manifestFile, handler.name, version, opts.signatureRequired ? 'error' : 'warning');
      } catch (e) {
        failed(e);
        return;
      }
      if (!signatureOk) return;
      try {
        markPackageValidated(l.baseDir);
      } catch (e) {
        log.warn(`Error saving signature validation state file ('package_validated') in directory '${l.baseDir}': ${describeError(e)}`);
      }
    },

    signatureValidated(name, version) {
      // 2.15's package_validated file, or upstream develop's signature_validated in HandlerStatus
      const l = layout(name, version);
      return packageValidated(l.baseDir) || readHandlerStatus(l)?.signatureValidated === true;
    },

    readManifest(name, version) {
      return readHandlerManifest(layout(name, version).manifestFile);
    },

    writeSettings(name, version, settings: readonly ExtensionSettings[], multiConfig) {
      const l = layout(name, version);
      checkRealDirectory(l.configDir, o.roots.libDir);
      mkdirSync(l.configDir, { recursive: true, mode: 0o700 });
      if (settings.length === 0) writeEmptySettingsFile(l);
      for (const s of settings) writeSettingsFile(l, s, multiConfig);
    },

    copyStatusFiles(name, fromVersion, toVersion) {
      const from = layout(name, fromVersion);
      const to = layout(name, toVersion);
      copyRegularFile(from.mrseqFile, to.mrseqFile, o.roots.libDir);
      for (const f of list(from.statusDir)) copyRegularFile(join(from.statusDir, f), join(to.statusDir, f), o.roots.libDir);
    },

    removeExtensionFiles(name, version, extensionName) {
      const l = layout(name, version);
      for (const dir of [l.configDir, l.statusDir]) {
        for (const f of list(dir)) {
          if (f.startsWith(`${extensionName}.`) && /\.(settings|status|HandlerState)$/.test(f)) rmSync(join(dir, f), { force: true });
        }
      }
    },

    removeHandler(name, version) {
      const l = layout(name, version);
      rmSync(l.baseDir, { recursive: true, force: true });
      rmSync(l.packageZip, { force: true });
    },

    handlersOnDisk(): HandlerOnDisk[] {
      const out: HandlerOnDisk[] = [];
      // Directory entries with their types: no stat per entry (this runs for every goal state, over thousands).
      let entries: Dirent[] = [];
      try {
        entries = readdirSync(o.roots.libDir, { withFileTypes: true });
      } catch {
        /* no Lib.Dir yet */
      }
      for (const entry of entries) {
        const h = parseHandlerDirName(entry.name);
        if (!h || h.name === AGENT_PACKAGE) continue;
        if (entry.isDirectory() || (entry.isSymbolicLink() && isDir(join(o.roots.libDir, entry.name)))) out.push(h);
      }
      return out;
    },

    removeOrphanPackages() {
      for (const entry of list(o.roots.libDir)) {
        const z = parsePackageZipName(entry);
        if (!z || z.name === AGENT_PACKAGE) continue;
        if (!isDir(layout(z.name, z.version).baseDir)) {
          log.info(`removing the orphan package ${entry}`);
          rmSync(join(o.roots.libDir, entry), { force: true });
        }
      }
    },
  };
}

function stateStore(roots: LayoutRoots): StateStore {
  const layout = (name: string, version: string) => handlerLayout(roots, name, version);
  return {
    handlerState: (n, v) => readHandlerState(layout(n, v)),
    setHandlerState: (n, v, s) => writeHandlerState(layout(n, v), s),
    handlerStatus(n, v) {
      let r: ReturnType<typeof readHandlerStatus>;
      try {
        r = readHandlerStatus(layout(n, v));
      } catch (e) {
        return { status: 'NotReady', code: -1, message: describeError(e) };
      }
      return r ? { status: r.status === 'Ready' ? 'Ready' : 'NotReady', code: r.code, message: r.message } : null;
    },
    setHandlerStatus: (n, v, s, multiConfig) =>
      writeHandlerStatus(layout(n, v), {
        name: n,
        version: v,
        status: s.status,
        code: s.code,
        message: s.message,
        supportsMultiConfig: multiConfig,
      }),
    extensionState: (n, v, e) => readExtensionState(layout(n, v), e),
    setExtensionState: (n, v, e, s) => writeExtensionState(layout(n, v), e, s),
    enabledExtensions(n, v) {
      const l = layout(n, v);
      return list(l.configDir)
        .filter((f) => f.endsWith('.HandlerState') && f !== 'HandlerState')
        .map((f) => f.slice(0, -'.HandlerState'.length))
        .filter((e) => readExtensionState(l, e) === 'enabled')
        .sort();
    },
  };
}

function commandRunner(o: AdapterOptions): CommandRunner {
  return {
    async run(req) {
      const l = handlerLayout(o.roots, req.name, req.version);
      const env = {
        ...extensionEnvironment({
          operation: req.operation,
          handlerDir: l.baseDir,
          version: req.version,
          wireServerAddress: o.wireServerAddress,
          seqNo: req.seqNo,
          ...(req.extensionName !== null ? { extensionName: req.extensionName } : {}),
          ...(req.operation === 'update' && req.env.AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODES_MULTIPLE_EXTENSIONS
            ? { disableExitCodes: [] }
            : {}),
        }),
        ...req.env,
      };
      return runHandlerCommand({
        handlerDir: l.baseDir,
        command: req.command,
        operation: req.operation,
        env,
        name: req.name,
        version: req.version,
        ...(req.extensionName !== null ? { extensionName: req.extensionName } : {}),
        logDir: l.logFolder,
        useSystemd: o.useSystemd,
        sliceLimits: sliceLimits(l),
        ...(o.systemd ? { systemd: o.systemd } : {}),
      });
    },
  };
}

/**
 * §5.10: the HandlerManifest's resourceLimits (cpuQuotaPercentage, memoryQuotaInMB) for the command's scope. The
 * manifest was read before the command was chosen; a manifest that cannot be read here again means no limits.
 */
function sliceLimits(l: HandlerLayout): SliceLimits | undefined {
  let limits: ReturnType<typeof readHandlerManifest>['resourceLimits'];
  try {
    limits = readHandlerManifest(l.manifestFile).resourceLimits;
  } catch {
    return undefined;
  }
  if (!limits) return undefined;
  const out: SliceLimits = {};
  if (limits.cpuQuotaPercentage !== null) out.cpuQuotaPercentage = limits.cpuQuotaPercentage;
  if (limits.memoryQuotaInMB !== null) out.memoryQuotaInMB = limits.memoryQuotaInMB;
  return Object.keys(out).length ? out : undefined;
}

function statusStore(roots: LayoutRoots): ExtensionStatusStore {
  return {
    async statusOf(name, version, extensionName, seqNo) {
      const path = statusFilePath(handlerLayout(roots, name, version).baseDir, seqNo, extensionName);
      let doc: unknown;
      try {
        doc = JSON.parse(readFileNoFollow(path, { maxBytes: MAX_READ_BYTES, within: roots.libDir }).toString('utf8'));
      } catch (e) {
        if (e instanceof UnsafeFileError && e.reason !== 'missing' && e.reason !== 'unreadable') {
          // A link, a FIFO, an oversized file: it will not turn into a status by waiting.
          log.warn(`the status file cannot be used: ${e.message}`);
          return 'error';
        }
        // Missing or being written: not terminal yet (§5.11: for dependency waits a missing file is a warning).
        if (!(e instanceof UnsafeFileError && e.reason === 'missing')) log.verbose(`cannot read ${path} yet: ${(e as Error).message}`);
        return null;
      }
      const status = Array.isArray(doc) ? (doc[0] as { status?: { status?: unknown } } | undefined)?.status?.status : undefined;
      return typeof status === 'string' ? status.toLowerCase() : 'error';
    },

    writePlaceholder(name, version, extensionName, seqNo, s, overwrite) {
      const l = handlerLayout(roots, name, version);
      const path = statusFilePath(l.baseDir, seqNo, extensionName);
      if (!overwrite && existsSync(path)) return;
      const doc = [
        {
          version: 1.0,
          timestampUTC: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
          status: {
            name: extensionName ? `${name}.${extensionName}` : name,
            operation: s.operation,
            status: s.status,
            code: s.code,
            formattedMessage: { lang: 'en-US', message: s.message },
          },
        },
      ];
      checkRealDirectory(dirname(path), roots.libDir);
      log.info(`writing a placeholder status file ${path} with status ${s.status}`);
      writeFileAtomic(path, JSON.stringify(doc), { mode: 0o600, mkdir: true });
    },
  };
}

/**
 * Update step 2 (§5.9): one of the old version's files into the new version, only when it is a regular file inside
 * Lib.Dir (the old handler could have left a link to /etc/shadow or a FIFO there: skipped with a warning, neither
 * followed nor copied). Written atomically, 0600.
 */
function copyRegularFile(from: string, to: string, libDir: string): void {
  let data: Buffer;
  try {
    data = readFileNoFollow(from, { maxBytes: MAX_READ_BYTES, within: libDir });
  } catch (e) {
    if (!(e instanceof UnsafeFileError && e.reason === 'missing')) log.warn(`not copied to the new version: ${describeError(e)}`);
    return;
  }
  checkRealDirectory(dirname(to), libDir);
  writeFileAtomic(to, data, { mode: 0o600, mkdir: true });
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
