// One version of one handler on disk and the five operations on it (docs/protocol.md §5.8, §5.9). Every
// state change is written right after the command it records succeeds, so an agent killed at any point
// restarts from the last completed step: HandlerState is the journal of the lifecycle.
import type { ExtensionHandler, ExtensionSettings } from '../../fabric/documents/index.ts';
import { log } from '../../log/logger.ts';
import { manifestCommandKey, type Operation } from '../handler-operations.ts';
import { CODE, codeOf, describeError, extensionError } from './codes.ts';
import type { HandlerManifest, HandlerState, HandlerStatus, LifecyclePorts } from './ports.ts';

/** §5.8 value of the exit-code variables when the command was not run. */
export const NOT_RUN = 'NOT_RUN';

export class HandlerInstance {
  readonly handler: ExtensionHandler;
  readonly version: string;
  readonly #p: LifecyclePorts;
  #manifest: HandlerManifest | null = null;

  constructor(handler: ExtensionHandler, version: string, ports: LifecyclePorts) {
    this.handler = handler;
    this.version = version;
    this.#p = ports;
  }

  get name(): string {
    return this.handler.name;
  }

  get multiConfig(): boolean {
    return this.handler.isMultiConfig;
  }

  /** An operation on one extension of a multi-config handler (as opposed to the handler as a whole). */
  isExtensionOp(ext: ExtensionSettings | null): ext is ExtensionSettings {
    return this.multiConfig && ext !== null;
  }

  fullName(ext: ExtensionSettings | null): string {
    return this.isExtensionOp(ext) ? `${this.name}.${ext.name}` : this.name;
  }

  state(): HandlerState {
    return this.#p.state.handlerState(this.name, this.version);
  }

  setState(s: HandlerState): void {
    this.#p.state.setHandlerState(this.name, this.version, s);
  }

  setStatus(status: HandlerStatus): void {
    this.#p.state.setHandlerStatus(this.name, this.version, status, this.multiConfig);
  }

  manifest(): HandlerManifest {
    this.#manifest ??= this.#p.packages.readManifest(this.name, this.version);
    return this.#manifest;
  }

  /** §5.3 step 3: a multi-config goal state needs a handler that says it supports it. */
  checkMultiConfig(): void {
    if (this.multiConfig && !this.manifest().supportsMultipleExtensions) {
      throw extensionError(
        CODE.handlerManifest,
        `the handler ${this.name} ${this.version} does not support multiple extensions but the goal state has several for it`,
      );
    }
  }

  /** Multi-config extensions on disk that are enabled; for single-config, the goal state's settings. */
  enabledExtensions(goalStateSettings: readonly ExtensionSettings[]): Array<ExtensionSettings | null> {
    if (!this.multiConfig) return goalStateSettings.length ? [...goalStateSettings] : [null];
    const names = this.#p.state.enabledExtensions(this.name, this.version);
    return names.map((n) => goalStateSettings.find((s) => s.name === n) ?? placeholderSettings(n));
  }

  /** §5.8: runs one command; a failure throws the error its result carries (the operation's code, 1011 on timeout). */
  async run(op: Operation, ext: ExtensionSettings | null, env: Record<string, string> = {}): Promise<void> {
    const command = this.manifest()[manifestCommandKey(op)];
    log.info(`${this.fullName(ext)} ${this.version}: ${op} [${command}]`);
    const res = await this.#p.commands.run({
      name: this.name,
      version: this.version,
      operation: op,
      command,
      seqNo: ext?.seqNo ?? 0,
      extensionName: this.isExtensionOp(ext) ? ext.name : null,
      env,
    });
    if (res.error) throw res.error;
  }

  async install(ext: ExtensionSettings | null, uninstallExitCode: string = NOT_RUN): Promise<void> {
    await this.run('install', ext, { AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE: uninstallExitCode });
    this.setState('Installed');
    this.setStatus({ status: 'NotReady', code: CODE.success, message: 'Plugin installed but not enabled' });
  }

  async enable(ext: ExtensionSettings | null, uninstallExitCode: string = NOT_RUN): Promise<void> {
    try {
      await this.run('enable', ext, { AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE: uninstallExitCode });
    } catch (e) {
      // A multi-config extension's enable failure is reported at the extension level only (§5.9).
      if (this.isExtensionOp(ext)) throw extensionError(codeOf(e), describeError(e), { extensionOnly: true });
      throw e;
    }
    if (this.isExtensionOp(ext)) this.#p.state.setExtensionState(this.name, this.version, ext.name, 'enabled');
    this.setState('Enabled');
    this.setStatus({ status: 'Ready', code: CODE.success, message: 'Plugin enabled' });
  }

  /** Disable; a multi-config extension's files go with it; Installed once no extension is left enabled. */
  async disable(ext: ExtensionSettings | null, ignoreError = false): Promise<void> {
    try {
      await this.run('disable', ext);
    } catch (e) {
      if (!ignoreError) throw e;
      log.info(`[Ignored Error] ${this.fullName(ext)}: ${(e as Error).message}`);
    }
    if (this.isExtensionOp(ext)) {
      this.#p.state.setExtensionState(this.name, this.version, ext.name, 'disabled');
      this.#p.packages.removeExtensionFiles(this.name, this.version, ext.name);
    }
    if (!this.multiConfig || this.#p.state.enabledExtensions(this.name, this.version).length === 0) {
      this.setState('Installed');
      this.setStatus({ status: 'NotReady', code: CODE.success, message: 'Plugin disabled' });
    }
  }

  /** update: a failure marks THIS version FailedUpgrade, so it is kept, reported and retried (§5.9). */
  async update(ext: ExtensionSettings | null, env: Record<string, string>): Promise<void> {
    try {
      await this.run('update', ext, env);
    } catch (e) {
      this.setState('FailedUpgrade');
      throw e;
    }
  }

  async uninstall(ext: ExtensionSettings | null): Promise<void> {
    await this.run('uninstall', ext);
  }

  /** Update step 2 (§5.9): the old version's mrseq and status files into this one. */
  copyStatusFrom(old: HandlerInstance): void {
    this.#p.packages.copyStatusFiles(this.name, old.version, this.version);
  }

  /** Deletes the base dir and the zip; no HandlerStatus remains, so the handler leaves the status blob. */
  remove(): void {
    log.info(`${this.name} ${this.version}: removing the handler directory`);
    this.#p.packages.removeHandler(this.name, this.version);
  }
}

/** Settings for an enabled multi-config extension known only from its state file. */
function placeholderSettings(name: string): ExtensionSettings {
  return {
    name,
    seqNo: 0,
    state: 'enabled',
    dependencyLevel: 0,
    publicSettings: null,
    protectedSettings: null,
    certificateThumbprint: null,
  };
}
