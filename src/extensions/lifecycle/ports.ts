// The small interfaces the handler lifecycle (docs/protocol.md §5.9) is written against. The real
// implementations (packages, manifests, commands, status files) live in other modules and are plugged in
// by adapters.ts; unit tests plug in-memory fakes instead, so the order of operations can be checked alone.
import type { AgentError } from '../../util/errors.ts';
import type { ExtensionHandler, ExtensionSettings } from '../../fabric/documents/index.ts';
import type { Operation } from '../handler-operations.ts';

/** `<base>/config/HandlerState` (§5.7); a missing file reads as NotInstalled. */
export type HandlerState = 'NotInstalled' | 'Installed' | 'Enabled' | 'FailedUpgrade';

/** Multi-config per-extension state `<base>/config/<ext>.HandlerState` (§5.7); missing = disabled. */
export type ExtensionState = 'enabled' | 'disabled';

/** The handler-level status `<base>/config/HandlerStatus` (§5.7), reported in the status blob. */
export interface HandlerStatus {
  status: 'Ready' | 'NotReady';
  code: number;
  message: string;
}

/** What the lifecycle needs of HandlerManifest.json (§5.4), booleans already normalised. */
export interface HandlerManifest {
  installCommand: string;
  uninstallCommand: string;
  updateCommand: string;
  enableCommand: string;
  disableCommand: string;
  /** updateMode is UpdateWithInstall (the default). */
  updateWithInstall: boolean;
  continueOnUpdateFailure: boolean;
  supportsMultipleExtensions: boolean;
}

/** A handler directory `<lib>/<Name>-<Version>` found on disk. */
export interface HandlerOnDisk {
  name: string;
  version: string;
}

/** Manifests, packages, layout and settings files (§5.2–§5.6). */
export interface PackageStore {
  /** §5.2: fetch the handler's manifest and decide the version to run for `enabled`; throws when none matches. */
  chooseVersion(handler: ExtensionHandler, fastTrack: boolean): Promise<string>;
  /**
   * §5.3: download (or reuse a leftover zip), extract, initialise (HandlerEnvironment.json, config/, status/); the
   * package signature validated on the way when the handler is signed and validation is on or `signatureRequired`.
   * With `signatureRequired`, a failed validation throws an AgentError of subkind 'disallowed' and nothing is unpacked.
   */
  installPackage(handler: ExtensionHandler, version: string, fastTrack: boolean, opts?: { signatureRequired: boolean }): Promise<void>;
  /** The package of this version was signed and validated when it was installed (`package_validated`). */
  signatureValidated(name: string, version: string): boolean;
  /** Reads `<base>/HandlerManifest.json` of an unpacked handler. */
  readManifest(name: string, version: string): HandlerManifest;
  /** §5.6: the settings files for these settings (an empty 0.settings when there are none). */
  writeSettings(name: string, version: string, settings: readonly ExtensionSettings[], multiConfig: boolean): void;
  /** Update step 2 (§5.9): `mrseq` and the status files of the old version into the new base dir. */
  copyStatusFiles(name: string, fromVersion: string, toVersion: string): void;
  /** Multi-config disable: that extension's settings, status and state files. */
  removeExtensionFiles(name: string, version: string, extensionName: string): void;
  /** The base dir and the zip of one handler version. */
  removeHandler(name: string, version: string): void;
  /** Every handler directory under the lib dir. */
  handlersOnDisk(): HandlerOnDisk[];
  /** `<Name>__<Version>.zip` files without a handler directory (§5.9 step 7). */
  removeOrphanPackages(): void;
}

/** The state files of §5.7. */
export interface StateStore {
  handlerState(name: string, version: string): HandlerState;
  setHandlerState(name: string, version: string, state: HandlerState): void;
  handlerStatus(name: string, version: string): HandlerStatus | null;
  setHandlerStatus(name: string, version: string, status: HandlerStatus, multiConfig: boolean): void;
  extensionState(name: string, version: string, extensionName: string): ExtensionState;
  setExtensionState(name: string, version: string, extensionName: string, state: ExtensionState): void;
  /** The enabled multi-config extensions on disk (§5.9 update step 1, uninstall). */
  enabledExtensions(name: string, version: string): string[];
}

export interface CommandRequest {
  name: string;
  version: string;
  operation: Operation;
  /** The manifest's command string (§5.8: leading "/" stripped by the runner). */
  command: string;
  /** Settings sequence number; 0 when the handler has no settings. */
  seqNo: number;
  /** Multi-config only. */
  extensionName: string | null;
  /** Operation-specific variables of the §5.8 table (exit codes of the update flow, VERSION, …). */
  env: Record<string, string>;
}

/** What the lifecycle needs of a command's result (extensions/command.ts's HandlerCommandResult is one). */
export interface CommandResult {
  /**
   * null on success; else the failure as it is reported (built by extensions/command-outcome.ts): its message is the
   * handler status message, its context the status `code` and the `exitCode` the update flow hands on.
   */
  error: AgentError | null;
}

/** §5.8: runs one handler command in its base dir, with the operation's timeout. */
export interface CommandRunner {
  run(req: CommandRequest): Promise<CommandResult>;
}

/** Extension status files (§5.11). */
export interface ExtensionStatusStore {
  /** `status.status` of the extension's status file, or null when there is none yet. */
  statusOf(name: string, version: string, extensionName: string | null, seqNo: number): Promise<string | null>;
  /** The agent's own status file for an extension it could not run (§5.11 last item, §10 item 18). */
  writePlaceholder(
    name: string,
    version: string,
    extensionName: string | null,
    seqNo: number,
    status: { operation: string; status: 'error' | 'transitioning'; code: number; message: string },
    overwrite: boolean,
  ): void;
}

/** Time, injectable so dependency waits are testable. */
export interface Clock {
  /** wall-clock milliseconds (dates in the status) */
  now(): number;
  /** milliseconds on a monotonic clock, for deadlines (default: now) */
  monotonic?(): number;
  sleep(ms: number): Promise<void>;
}

export interface LifecyclePorts {
  packages: PackageStore;
  state: StateStore;
  commands: CommandRunner;
  statuses: ExtensionStatusStore;
  clock: Clock;
}
