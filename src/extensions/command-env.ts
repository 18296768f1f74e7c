// The environment an extension handler command runs with (docs/protocol.md §5.8): the agent-provided variables
// below, over the agent's own process environment.
//
// Deliberate deviation (§10 item 38): upstream merges its process environment *over* these variables, so a stray
// `ConfigSequenceNumber` in the agent's environment would win. Here the agent-provided values win.
import type { Operation } from './handler-operations.ts';

/** Value of the *_EXIT_CODE variables when the command they describe did not run. */
export const NOT_RUN = 'NOT_RUN';

/** The features this agent offers extensions, as AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES lists them. */
export const SUPPORTED_FEATURES: ReadonlyArray<{ Key: string; Value: string }> = [{ Key: 'ExtensionTelemetryPipeline', Value: '1.0' }];

export interface ExtensionEnvInput {
  operation: Operation;
  /** The handler base dir `<lib>/<Name>-<Version>`. */
  handlerDir: string;
  /** The handler version of this base dir. */
  version: string;
  /** The WireServer IP address extensions talk to. */
  wireServerAddress: string;
  /** Settings sequence number (0 when the handler has no settings, §5.6). */
  seqNo: number | string;
  /** Multi-config only: the extension name (ConfigExtensionName). */
  extensionName?: string;
  /** install/enable: exit code of the old version's uninstall during an update; absent → NOT_RUN. */
  uninstallExitCode?: number | string;
  /** update: the version being updated from (AZURE_GUEST_AGENT_UPDATING_FROM_VERSION). */
  updatingFromVersion?: string;
  /** update: the target version (VERSION); defaults to `version`. */
  targetVersion?: string;
  /** update, single-config: exit code of the old disable; absent → NOT_RUN. */
  disableExitCode?: number | string;
  /** update, multi-config: the old disable exit code of each extension. */
  disableExitCodes?: ReadonlyArray<{ extensionName: string; exitCode: number | string }>;
}

/** The agent-provided variables alone (§5.8 table), for the given operation. */
export function extensionVariables(input: ExtensionEnvInput): Record<string, string> {
  const vars: Record<string, string> = {
    AZURE_GUEST_AGENT_EXTENSION_PATH: input.handlerDir,
    AZURE_GUEST_AGENT_EXTENSION_VERSION: input.version,
    AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS: input.wireServerAddress,
    ConfigSequenceNumber: String(input.seqNo),
    AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES: JSON.stringify(SUPPORTED_FEATURES),
  };
  if (input.extensionName !== undefined) vars.ConfigExtensionName = input.extensionName;
  if (input.operation === 'install' || input.operation === 'enable') {
    vars.AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE = String(input.uninstallExitCode ?? NOT_RUN);
  }
  if (input.operation === 'update') {
    vars.VERSION = input.targetVersion ?? input.version;
    if (input.updatingFromVersion !== undefined) vars.AZURE_GUEST_AGENT_UPDATING_FROM_VERSION = input.updatingFromVersion;
    if (input.disableExitCodes !== undefined) {
      vars.AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODES_MULTIPLE_EXTENSIONS = JSON.stringify(
        input.disableExitCodes.map((d) => ({ extensionName: d.extensionName, exitCode: String(d.exitCode) })),
      );
    } else {
      vars.AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE = String(input.disableExitCode ?? NOT_RUN);
    }
  }
  return vars;
}

/** The full environment of a handler command: `base` (the agent's own environment) with the §5.8 variables on top. */
export function extensionEnvironment(input: ExtensionEnvInput, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...base, ...extensionVariables(input) };
}
