// What the requested state of a handler asks for (docs/protocol.md §5.9 step 4): enable (with a fresh
// install or the update flow first), the legacy handler-level disable, and uninstall.
import type { ExtensionSettings } from '../../fabric/documents/index.ts';
import { compareVersions } from '../../fabric/hostplugin.ts';
import { log } from '../../log/logger.ts';
import { OPERATIONS } from '../handler-operations.ts';
import { isAgentError } from '../../util/errors.ts';
import { NO_POLICY, type ExtensionPolicy } from '../policy.ts';
import { CODE, codeOf, describeError, exitCodeOf, extensionError } from './codes.ts';
import { HandlerInstance, NOT_RUN } from './handler.ts';
import { checkExtensionPolicy } from './policy-check.ts';
import type { HandlerOnDisk, LifecyclePorts } from './ports.ts';

/** The extension policy of the goal state, checked before any code of a handler runs (policy-check.ts). */
export interface PolicyContext {
  ports: LifecyclePorts;
  /** Default: no policy. */
  policy?: ExtensionPolicy;
  /** Policy.PolicyFilePath, for the messages. */
  policyFile?: string;
}

export interface FlowContext extends PolicyContext {
  fastTrack: boolean;
}

/** Throws the disallowed error when the policy refuses this operation on `h` (`signed`: see policy-check.ts). */
function enforcePolicy(h: HandlerInstance, ctx: PolicyContext, signed: () => boolean): void {
  const policy = ctx.policy ?? NO_POLICY;
  if (!policy.enforced) return;
  checkExtensionPolicy(policy, h.name, h.handler.state, signed(), ctx.policyFile ?? '');
}

/**
 * §5.7: the highest version on disk whose HandlerState is Installed or Enabled, or null. `onDisk`: a listing made
 * once for many look-ups (listing Lib.Dir per handler made 3,000 handlers quadratic, issue 11 finding 8).
 */
export function installedVersion(
  ports: LifecyclePorts,
  name: string,
  onDisk: readonly HandlerOnDisk[] = ports.packages.handlersOnDisk(),
): string | null {
  let best: string | null = null;
  for (const d of onDisk) {
    if (d.name !== name) continue;
    const s = ports.state.handlerState(d.name, d.version);
    if (s === 'NotInstalled' || s === 'FailedUpgrade') continue;
    if (best === null || compareVersions(d.version, best) > 0) best = d.version;
  }
  return best;
}

/** enabled: install or update when needed, write the settings, then enable (or disable a multi-config extension). */
export async function handleEnable(h: HandlerInstance, ext: ExtensionSettings | null, ctx: FlowContext): Promise<void> {
  const { ports } = ctx;
  const oldVersion = installedVersion(ports, h.name);
  const state = h.state();
  let uninstallExitCode = NOT_RUN;
  const signatureRequired = (ctx.policy ?? NO_POLICY).requiresSignature(h.name);
  if (state === 'NotInstalled' || state === 'FailedUpgrade') {
    // A new package: it counts as signed when the goal state carries its signature (validated on download).
    enforcePolicy(h, ctx, () => Boolean(h.handler.encodedSignature));
    // A fresh handler, or the retry of a failed upgrade: the whole setup again.
    h.setState('NotInstalled');
    try {
      await ports.packages.installPackage(h.handler, h.version, ctx.fastTrack, { signatureRequired });
    } catch (e) {
      if (isAgentError(e, 'extension', 'disallowed')) throw e;
      const code = codeOf(e);
      throw extensionError(code === CODE.unknown ? CODE.packageDownload : code, `Failed to download artifacts: ${describeError(e)}`);
    }
    h.checkMultiConfig();
    writeSettings(h, ext, ports);
    if (oldVersion === null || oldVersion === h.version) {
      await h.install(ext);
    } else {
      uninstallExitCode = await updateHandler(new HandlerInstance(h.handler, oldVersion, ports), h, ext);
    }
  } else {
    // An installed handler counts as signed only when its signature was validated when it was installed.
    enforcePolicy(h, ctx, () => ports.packages.signatureValidated(h.name, h.version));
    // §5.9: on every new goal state an installed handler gets its settings and `enable` again, the sequence number
    // unchanged or not (extensions are written to be enabled repeatedly, as the Python agent does).
    h.checkMultiConfig();
    writeSettings(h, ext, ports);
  }
  if (!wantsEnable(h, ext)) {
    // A multi-config extension requested disabled: disabling it is as good as uninstalling it (errors ignored).
    if (ports.state.extensionState(h.name, h.version, ext!.name) !== 'disabled') await h.disable(ext, true);
    else log.verbose(`${h.fullName(ext)} is already disabled`);
    return;
  }
  await h.enable(ext, uninstallExitCode);
}

/** §5.6: this item's settings file (an empty 0.settings without settings); not for an extension being disabled. */
function writeSettings(h: HandlerInstance, ext: ExtensionSettings | null, ports: LifecyclePorts): void {
  if (!wantsEnable(h, ext)) return;
  ports.packages.writeSettings(h.name, h.version, ext ? [ext] : [], h.multiConfig);
}

function wantsEnable(h: HandlerInstance, ext: ExtensionSettings | null): boolean {
  return !h.isExtensionOp(ext) || ext.state !== 'disabled';
}

/**
 * The update flow of §5.9 from `old` to `next` (next already downloaded, settings written); returns the exit code
 * of the old uninstall for the next install / enable (§5.8).
 */
async function updateHandler(old: HandlerInstance, next: HandlerInstance, ext: ExtensionSettings | null): Promise<string> {
  log.info(`${next.name}: updating from ${old.version} to ${next.version}`);
  const continueOnFailure = next.manifest().continueOnUpdateFailure;
  const tolerate = async (what: string, fn: () => Promise<void>): Promise<string> => {
    try {
      await fn();
      return '0';
    } catch (e) {
      const msg = `${describeError(e)}; ContinueOnUpdate: ${continueOnFailure}`;
      if (!continueOnFailure) throw extensionError(OPERATIONS.update.errorCode, msg);
      log.info(`${next.name}: the ${what} of ${old.version} failed; continueOnUpdateFailure is set, going on`);
      return exitCodeOf(e);
    }
  };
  // 1. disable the old version's enabled extensions (each exit code is handed to update).
  const disableCodes = new Map<string, string>();
  if (old.state() === 'Enabled') {
    for (const e of old.enabledExtensions(next.handler.settings)) {
      disableCodes.set(e?.name ?? old.name, await tolerate('disable', () => old.disable(e)));
    }
  }
  // 2. the old status files and mrseq into the new base dir.
  next.copyStatusFrom(old);
  // 3. update: the new version's command on an upgrade, the old one's on a downgrade.
  const env: Record<string, string> = { VERSION: next.version, AZURE_GUEST_AGENT_UPDATING_FROM_VERSION: old.version };
  if (next.multiConfig) {
    const codes = next.handler.settings.map((s) => ({ extensionName: s.name, exitCode: disableCodes.get(s.name) ?? NOT_RUN }));
    env.AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODES_MULTIPLE_EXTENSIONS = JSON.stringify(codes);
  } else {
    env.AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE = disableCodes.get(old.name) ?? NOT_RUN;
  }
  if (compareVersions(next.version, old.version) > 0) await next.update(ext, env);
  else await old.update(ext, env);
  // 4. the old uninstall, then the old directory goes.
  const uninstallExitCode = await tolerate('uninstall', () => old.uninstall(ext));
  old.remove();
  // 5. install the new version unless its manifest says UpdateWithoutInstall.
  if (next.manifest().updateWithInstall) await next.install(ext, uninstallExitCode);
  else log.info(`${next.name} ${next.version}: UpdateWithoutInstall, not running install`);
  next.setState('Installed');
  return uninstallExitCode;
}

/** disabled (legacy, handler level): disable when enabled. Upstream checks no policy here (policy-check.ts). */
export async function handleDisable(h: HandlerInstance, ext: ExtensionSettings | null): Promise<void> {
  if (h.state() === 'Enabled') await h.disable(ext);
  else log.verbose(`${h.fullName(ext)} ${h.version} is ${h.state()}; nothing to disable`);
}

/**
 * uninstall: disable what is enabled, uninstall (failures only reported), delete the handler (§5.9). The policy is
 * checked only when the handler is installed (code of it would run); a handler never installed is removed as it is.
 */
export async function handleUninstall(h: HandlerInstance, ext: ExtensionSettings | null, ctx?: PolicyContext): Promise<void> {
  const state = h.state();
  if (state !== 'NotInstalled') {
    // The uninstall goal state carries no signature: the installed package counts as signed when it was validated.
    if (ctx) enforcePolicy(h, ctx, () => ctx.ports.packages.signatureValidated(h.name, h.version));
    if (state === 'Enabled') {
      for (const e of h.enabledExtensions(h.handler.settings)) await h.disable(e);
    }
    try {
      await h.uninstall(ext);
    } catch (e) {
      log.warn(`${h.fullName(ext)} ${h.version}: uninstall failed, removing the handler anyway: ${describeError(e)}`);
    }
  }
  h.remove();
}
