// The five extension handler operations (docs/protocol.md §5.8) and, for each, what upstream WALinuxAgent hands its
// launch_command: how long the command may run, and the ExtensionErrorCodes value its failure reports. This is the
// one table of them: the command runner, the command environment and the lifecycle all read it.

export type Operation = 'install' | 'enable' | 'disable' | 'update' | 'uninstall';

export interface OperationSpec {
  /** Seconds until the command's process group is killed (§10 item 20). */
  readonly timeoutSeconds: number;
  /** The status code of a non-zero exit. */
  readonly errorCode: number;
}

/** Uninstall has neither of its own upstream: launch_command's defaults, 300 s and PluginProcessingError (1000). */
export const OPERATIONS: Readonly<Record<Operation, OperationSpec>> = {
  install: { timeoutSeconds: 900, errorCode: 1007 },
  enable: { timeoutSeconds: 300, errorCode: 1009 },
  disable: { timeoutSeconds: 900, errorCode: 1010 },
  update: { timeoutSeconds: 900, errorCode: 1008 },
  uninstall: { timeoutSeconds: 300, errorCode: 1000 },
};

/** PluginHandlerScriptTimedout: any operation killed at its timeout. */
export const TIMEOUT_ERROR_CODE = 1011;

/** The HandlerManifest key of each operation's command (§5.4). */
export function manifestCommandKey(op: Operation): `${Operation}Command` {
  return `${op}Command`;
}
