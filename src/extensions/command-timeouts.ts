// Per-operation constants of extension handler commands (docs/protocol.md §5.8): how long each may run, and the
// error code the handler status carries when it fails.

export type HandlerOperation = 'install' | 'enable' | 'disable' | 'uninstall' | 'update';

export const HANDLER_OPERATIONS: readonly HandlerOperation[] = ['install', 'enable', 'disable', 'uninstall', 'update'];

/** Seconds (§10 item 20: install/disable/update 900, enable/uninstall 300). */
export const OPERATION_TIMEOUT_SECONDS: Readonly<Record<HandlerOperation, number>> = {
  install: 900,
  enable: 300,
  disable: 900,
  update: 900,
  uninstall: 300,
};

/** ExtensionErrorCodes of a non-zero exit; uninstall has none of its own and uses the generic 1000. */
export const OPERATION_ERROR_CODE: Readonly<Record<HandlerOperation, number>> = {
  install: 1007,
  update: 1008,
  enable: 1009,
  disable: 1010,
  uninstall: 1000,
};

/** PluginHandlerScriptTimedout: any operation killed at its timeout. */
export const TIMEOUT_ERROR_CODE = 1011;

/** The HandlerManifest key of each operation's command. */
export function manifestCommandKey(op: HandlerOperation): string {
  return `${op}Command`;
}
