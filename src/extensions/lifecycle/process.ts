// The processing of one extensions goal state (docs/protocol.md §5.9): on-hold, required features, the
// (settings, handler) items sorted by dependency level, each item dispatched on its requested state, the
// waits for dependencies, the goal-state aggregate status, and the cleanup of handlers no longer wanted.
import type { ExtensionHandler, ExtensionSettings } from '../../fabric/documents/index.ts';
import { log } from '../../log/logger.ts';
import { isAgentError } from '../../util/errors.ts';
import { NO_POLICY, type ExtensionPolicy } from '../policy.ts';
import { CODE, codeOf, describeError, extensionError } from './codes.ts';
import { HandlerInstance } from './handler.ts';
import { handleDisable, handleEnable, handleUninstall, installedVersion } from './operations.ts';
import { disallowedOperation } from './policy-check.ts';
import type { HandlerStatus, LifecyclePorts } from './ports.ts';
import type { ExtensionsGoalState } from './source.ts';

export const DEPENDENCY_POLL_MS = 5_000;
export const DEPENDENCY_TIMEOUT_MS = 90 * 60_000;

/** goalStateAggregateStatus of §6.1. */
export interface GoalStateOutcome {
  status: 'Success' | 'Failed';
  code: number;
  message: string;
  inSvdSeqNo: string;
  timestamp: Date;
}

/**
 * At most this many handlers of one goal state are processed (issue 11 finding 8: 3,000 took minutes of CPU before
 * the first status). A VM has a few dozen at most; upstream has no limit.
 */
export const MAX_HANDLERS_PER_GOAL_STATE = 200;

/** A handler the status blob reports, at the version the processing settled on (§6.1 "Which handlers"). */
export interface ReportedHandler {
  name: string;
  version: string;
  state: string;
  isMultiConfig: boolean;
  useExactVersion: boolean;
  /** The goal state's extensions (name + seqNo); empty for handlers found on disk or without settings. */
  extensions: Array<{ name: string; seqNo: number; state: string }>;
  /**
   * The error status that could not be saved in its HandlerStatus file (a full Lib.Dir, issue 11 finding 10): it is
   * reported instead of the (stale) file.
   */
  unsaved?: HandlerStatus;
  /** Blocked by the extension policy or its signature: its status is reported as the agent wrote it (upstream). */
  disallowed?: boolean;
}

export interface ProcessResult {
  /** null when nothing was processed (on hold). */
  outcome: GoalStateOutcome | null;
  handlers: ReportedHandler[];
}

export interface ProcessorOptions {
  ports: LifecyclePorts;
  /** Extensions.Enabled */
  extensionsEnabled: boolean;
  /** The features this agent supports (§5.1): MultipleExtensionsPerHandler, … */
  supportedFeatures: readonly string[];
  /** EnableOverProvisioning: honour onHold. */
  honourOnHold: boolean;
  /** For the Extensions.Enabled=n message. */
  configPath: string;
  /** For tests: MAX_HANDLERS_PER_GOAL_STATE. */
  maxHandlers?: number;
  /** True once the agent is stopping (SIGTERM): no further handler is started (the running command is not cut). */
  stopping?: () => boolean;
  dependencyTimeoutMs?: number;
  dependencyPollMs?: number;
  /**
   * The extension policy, read once per goal state with handlers (policy.ts loadExtensionPolicy); a throw is the
   * invalid-policy error, which blocks every extension. Default: no policy.
   */
  loadPolicy?: () => ExtensionPolicy;
  /** Policy.PolicyFilePath, for the messages. */
  policyFilePath?: string;
  /** The text of the policy in force, for waagent_policy.json in the goal-state history. */
  onPolicy?: (contents: string) => void;
}

export { disallowedOperation };

interface Item {
  handler: ExtensionHandler;
  ext: ExtensionSettings | null;
  level: number;
}

interface ItemResult {
  ok: boolean;
  instance: HandlerInstance;
  fullName: (e: ExtensionSettings | null) => string;
}

/** §5.9 step 3: enabled items by level, removals first in reverse dependency order. */
export function sortItems(handlers: readonly ExtensionHandler[]): Item[] {
  const items: Item[] = [];
  for (const handler of handlers) {
    const enabled = handler.state === 'enabled';
    if (handler.settings.length === 0) {
      items.push({ handler, ext: null, level: enabled ? 0 : -1 });
      continue;
    }
    for (const ext of handler.settings) {
      const l = ext.dependencyLevel;
      items.push({ handler, ext, level: enabled && ext.state !== 'disabled' ? l : -l - 1 });
    }
  }
  return items.sort((a, b) => a.level - b.level);
}

export class ExtensionsProcessor {
  readonly #o: ProcessorOptions;
  /** What this process has enabled (extension → seqNo): an unchanged extension is not enabled again. */
  /** The version chosen from the manifest for each enabled handler of the last goal state (§5.2). */
  readonly #decided = new Map<string, string>();
  /** name → the error status its HandlerStatus file could not take, for this goal state. */
  readonly #unsaved = new Map<string, HandlerStatus>();
  /** Handlers of the last goal state blocked by the policy or their signature. */
  readonly #disallowed = new Set<string>();

  constructor(opts: ProcessorOptions) {
    this.#o = opts;
  }

  async process(gs: ExtensionsGoalState): Promise<ProcessResult> {
    if (gs.onHold && this.#o.honourOnHold) {
      log.info(`the extensions goal state ${gs.id} is on hold; extensions are not processed`);
      return { outcome: null, handlers: this.#reported(gs) };
    }
    log.info(`processing the extensions goal state ${gs.id} (${gs.source}, ${gs.handlers.length} handlers)`);
    this.#decided.clear();
    this.#unsaved.clear();
    this.#disallowed.clear();
    const unsupported = gs.requiredFeatures.filter((f) => !this.#o.supportedFeatures.includes(f));
    if (unsupported.length > 0) {
      const message = `Failing GS ${gs.id} as Unsupported features found: ${unsupported.join(', ')}`;
      log.warn(message);
      return { outcome: this.#outcome(gs, 'Failed', CODE.unsupportedFeatures, message), handlers: this.#onDisk() };
    }
    let outcome: GoalStateOutcome;
    try {
      await this.#processItems(this.#withinLimit(gs));
      outcome = this.#outcome(gs, 'Success', CODE.success, 'GoalState executed successfully');
    } catch (e) {
      const message = `Unexpected error when processing goal state: ${describeError(e)}`;
      log.error(message);
      outcome = this.#outcome(gs, 'Failed', CODE.unknown, message);
    }
    try {
      this.#cleanup(gs);
    } catch (e) {
      log.warn(`cleaning up handlers no longer in the goal state failed: ${describeError(e)}`);
    }
    return { outcome, handlers: this.#reported(gs) };
  }

  /**
   * The goal state cut to its first MAX_HANDLERS_PER_GOAL_STATE handlers (issue 11 finding 8); each one past the
   * limit is reported NotReady with the reason, and nothing is downloaded, written or run for it.
   */
  #withinLimit(gs: ExtensionsGoalState): ExtensionsGoalState {
    const max = this.#o.maxHandlers ?? MAX_HANDLERS_PER_GOAL_STATE;
    if (gs.handlers.length <= max) return gs;
    const message = `not processed: the goal state has ${gs.handlers.length} handlers and at most ${max} are processed`;
    log.error(
      `the extensions goal state ${gs.id} has ${gs.handlers.length} handlers; the ${gs.handlers.length - max} past the first ${max} are not processed`,
    );
    for (const h of gs.handlers.slice(max)) this.#unsaved.set(h.name, { status: 'NotReady', code: CODE.unknown, message });
    return { ...gs, handlers: gs.handlers.slice(0, max) };
  }

  #outcome(gs: ExtensionsGoalState, status: 'Success' | 'Failed', code: number, message: string): GoalStateOutcome {
    return { status, code, message, inSvdSeqNo: gs.inSvdSeqNo, timestamp: new Date(this.#o.ports.clock.now()) };
  }

  async #processItems(gs: ExtensionsGoalState): Promise<void> {
    const items = sortItems(gs.handlers);
    const maxLevel = items.length ? items[items.length - 1]!.level : 0;
    const clock = this.#o.ports.clock;
    const deadline = (clock.monotonic?.() ?? clock.now()) + (this.#o.dependencyTimeoutMs ?? DEPENDENCY_TIMEOUT_MS);
    let dependencyError: string | null = null;
    const { policy, policyError } = items.length ? this.#policy() : { policy: NO_POLICY, policyError: null };
    const policyFile = this.#o.policyFilePath ?? '';
    for (const [i, item] of items.entries()) {
      if (this.#o.stopping?.()) {
        // SIGTERM is obeyed between handlers, not after the whole goal state (issue 11 finding 8); a restarted agent
        // processes the goal state again, and a handler already enabled is not run twice for the same sequence number.
        throw new Error(
          `the agent is stopping: ${items.length - i} of the goal state's ${items.length} handler operations were not started`,
        );
      }
      const base = new HandlerInstance(item.handler, item.handler.version, this.#o.ports);
      if (!this.#o.extensionsEnabled) {
        const msg =
          'Extension will not be processed since extension processing is disabled. ' +
          `To enable extension processing, set Extensions.Enabled=y in '${this.#o.configPath}'`;
        log.info(`${base.fullName(item.ext)}: ${msg}`);
        this.#reportError(base, item.ext, 'ExtensionProcessing', CODE.unknown, msg);
        continue;
      }
      if (policyError !== null) {
        // Upstream (develop)'s message; 2.15 said "Extension will not be processed: <error>".
        const { code } = disallowedOperation(item.handler.state);
        this.#disallow(item, code, `Extension will not be processed due to an error verifying extension policy: ${policyError}`);
        continue;
      }
      if (dependencyError !== null) {
        this.#reportError(base, item.ext, 'ExtensionProcessing', CODE.unknown, dependencyError);
        continue;
      }
      // The allow list and the signature requirement are checked by each operation (policy-check.ts).
      const done = await this.#processItem(item, gs.source === 'FastTrack', policy, policyFile);
      if (item.level >= 0 && item.level < maxLevel) {
        const who = done.fullName(item.ext);
        try {
          if (!done.ok) throw new Error(`Skipping processing of extensions since execution of dependent extension ${who} failed`);
          await this.#waitForTerminal(done.instance, item.ext, deadline);
        } catch (e) {
          log.warn(`Dependent extension ${who} failed or timed out, will skip processing the rest of the extensions`);
          dependencyError = describeError(e);
        }
      }
    }
  }

  /** The policy of this goal state, or the error that makes it invalid (logged; its text is in every handler's status). */
  #policy(): { policy: ExtensionPolicy; policyError: string | null } {
    try {
      const policy = (this.#o.loadPolicy ?? (() => NO_POLICY))();
      if (policy.enforced) {
        log.info(`Policy enforcement is enabled. Enforcing policy using policy file found at '${this.#o.policyFilePath ?? ''}'.`);
        if (policy.fileContents !== null) this.#o.onPolicy?.(policy.fileContents);
      }
      return { policy, policyError: null };
    } catch (e) {
      const policyError = describeError(e);
      log.error(policyError);
      return { policy: NO_POLICY, policyError };
    }
  }

  /**
   * Upstream's __handle_ext_disallowed_error: nothing of the handler runs; its status is NotReady with the code of the
   * requested operation and the message, and an enabled extension with settings gets an error status file (replacing
   * any), so CRP fails the operation instead of waiting. The status goes to the installed version when there is one.
   */
  #disallow(item: Item, code: number, message: string, instance?: HandlerInstance): HandlerInstance {
    const { ports } = this.#o;
    const h = instance ?? new HandlerInstance(item.handler, installedVersion(ports, item.handler.name) ?? item.handler.version, ports);
    log.warn(`${h.fullName(item.ext)}: ${message}`);
    this.#disallowed.add(item.handler.name);
    try {
      h.setStatus({ status: 'NotReady', code, message });
      if (item.ext !== null && item.handler.state === 'enabled') {
        ports.statuses.writePlaceholder(
          h.name,
          h.version,
          h.isExtensionOp(item.ext) ? item.ext.name : null,
          item.ext.seqNo,
          { operation: 'ExtensionPolicy', status: 'error', code, message },
          true,
        );
      }
    } catch (e) {
      log.error(`cannot record the error status of ${h.fullName(item.ext)}: ${describeError(e)}`);
    }
    return h;
  }

  /** One item; errors become the handler's status (and a multi-config extension's status file), never a throw. */
  async #processItem(item: Item, fastTrack: boolean, policy: ExtensionPolicy, policyFile: string): Promise<ItemResult> {
    const { ports } = this.#o;
    const { handler, ext } = item;
    let h = new HandlerInstance(handler, handler.version, ports);
    let operation = 'ExtensionProcessing';
    const result = (ok: boolean) => ({ ok, instance: h, fullName: (e: ExtensionSettings | null) => h.fullName(e) });
    try {
      if (handler.invalidReason !== null) {
        operation = 'InvalidExtensionConfig';
        throw extensionError(
          CODE.unknown,
          `Ran into config errors: ${handler.invalidReason}. \nPlease retry again as another operation with updated settings`,
        );
      }
      if (handler.state === 'enabled') {
        operation = 'Download';
        let version: string;
        try {
          version = await ports.packages.chooseVersion(handler, fastTrack);
        } catch (e) {
          throw extensionError(
            codeOf(e) === CODE.unknown ? CODE.manifestDownload : codeOf(e),
            `Failed to download artifacts: ${describeError(e)}`,
          );
        }
        h = new HandlerInstance(handler, version, ports);
        this.#decided.set(handler.name, version);
        operation = 'Enable';
        await handleEnable(h, ext, { ports, fastTrack, policy, policyFile });
      } else if (handler.state === 'disabled' || handler.state === 'uninstall') {
        const installed = installedVersion(ports, handler.name);
        h = new HandlerInstance(handler, installed ?? handler.version, ports);
        if (handler.state === 'disabled') {
          operation = 'Disable';
          await handleDisable(h, ext);
        } else {
          operation = 'Uninstall';
          await handleUninstall(h, ext, { ports, policy, policyFile });
        }
      } else {
        throw extensionError(CODE.unknown, `the handler ${handler.name} has the unknown requested state "${handler.state}"`);
      }
      return result(true);
    } catch (e) {
      const message = describeError(e);
      if (isAgentError(e, 'extension', 'disallowed')) {
        this.#disallow(item, codeOf(e), message, h);
        return result(false);
      }
      log.error(`${h.fullName(ext)} ${h.version}: ${message}`);
      if (e instanceof Error && (e as { context?: { extensionOnly?: unknown } }).context?.extensionOnly === true) {
        // Multi-config enable: the extension owns its status; make sure there is one (not overwritten).
        this.#placeholder(h, ext, operation, codeOf(e), `Error processing MultiConfig extension ${h.fullName(ext)}: ${message}`, false);
      } else {
        this.#reportError(h, ext, operation, codeOf(e), message);
      }
      return result(false);
    }
  }

  /** A handler-level error: NotReady with the code; for a multi-config extension, also its status file (§10 item 18). */
  #reportError(h: HandlerInstance, ext: ExtensionSettings | null, operation: string, code: number, message: string): void {
    try {
      h.setStatus({ status: 'NotReady', code, message });
      this.#placeholder(h, ext, operation, code, message, true);
    } catch (e) {
      log.error(`cannot record the error status of ${h.fullName(ext)}: ${describeError(e)}`);
      this.#unsaved.set(h.name, { status: 'NotReady', code, message });
    }
  }

  #placeholder(
    h: HandlerInstance,
    ext: ExtensionSettings | null,
    operation: string,
    code: number,
    message: string,
    overwrite: boolean,
  ): void {
    if (!h.isExtensionOp(ext)) return;
    this.#o.ports.statuses.writePlaceholder(
      h.name,
      h.version,
      ext.name,
      ext.seqNo,
      { operation, status: 'error', code, message },
      overwrite,
    );
  }

  /** §5.9 step 5: poll the extension's status until success (go on) or error / timeout (skip the rest). */
  async #waitForTerminal(h: HandlerInstance, ext: ExtensionSettings | null, deadline: number): Promise<void> {
    const { statuses, clock } = this.#o.ports;
    const who = h.fullName(ext);
    for (;;) {
      const status = (await statuses.statusOf(h.name, h.version, h.isExtensionOp(ext) ? ext.name : null, ext?.seqNo ?? 0)) ?? 'warning';
      if (status === 'success') return;
      if (status === 'error') throw new Error(`Dependent Extension ${who} did not succeed. Status was ${status}`);
      if ((clock.monotonic?.() ?? clock.now()) >= deadline) {
        throw new Error(`Dependent Extension ${who} did not reach a terminal state within the allowed timeout. Last status was ${status}`);
      }
      await clock.sleep(this.#o.dependencyPollMs ?? DEPENDENCY_POLL_MS);
    }
  }

  /** §5.9 step 7: handler directories not in the goal state go without running any command (§10 item 24). */
  #cleanup(gs: ExtensionsGoalState): void {
    const { packages } = this.#o.ports;
    const wanted = new Set(gs.handlers.map((h) => h.name));
    for (const d of packages.handlersOnDisk()) {
      if (wanted.has(d.name)) continue;
      log.info(`${d.name} ${d.version} is not in the goal state; removing it without running uninstall`);
      packages.removeHandler(d.name, d.version);
    }
    packages.removeOrphanPackages();
  }

  /** Goal-state handlers at the version now on disk (the requested one for enabled handlers when present). */
  #reported(gs: ExtensionsGoalState): ReportedHandler[] {
    const { ports } = this.#o;
    const onDisk = ports.packages.handlersOnDisk();
    return gs.handlers.map((h) => {
      const decided = h.state === 'enabled' ? this.#decided.get(h.name) : undefined;
      const version = decided ?? installedVersion(ports, h.name, onDisk) ?? h.version;
      return {
        name: h.name,
        version,
        state: h.state,
        isMultiConfig: h.isMultiConfig,
        useExactVersion: h.useExactVersion,
        extensions: h.settings.map((s) => ({ name: s.name, seqNo: s.seqNo, state: s.state })),
        ...(this.#unsaved.has(h.name) ? { unsaved: this.#unsaved.get(h.name)! } : {}),
        ...(this.#disallowed.has(h.name) ? { disallowed: true } : {}),
      };
    });
  }

  /** After an unsupported-features failure: the handlers found on disk (§6.1). */
  #onDisk(): ReportedHandler[] {
    return this.#o.ports.packages.handlersOnDisk().map((d) => ({
      name: d.name,
      version: d.version,
      state: 'enabled',
      isMultiConfig: false,
      useExactVersion: true,
      extensions: [],
    }));
  }
}
