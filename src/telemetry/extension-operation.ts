// The event upstream sends for each extension command (ga/exthandlers.py ExtHandlerInstance.report_event from
// launch_command): Name = the handler, or <Handler>.<Extension> for a multi-config extension; Version = the handler's;
// Operation = upstream's WALAEventOperation name; the command's output or failure as the message; its duration.
import { OPERATION, type AgentEventInput } from './event.ts';

/** The handler commands (extensions/handler-operations.ts names them the same). */
export type Operation = 'install' | 'enable' | 'disable' | 'update' | 'uninstall';

const OPERATION_NAME: Readonly<Record<Operation, string>> = {
  install: OPERATION.install,
  enable: OPERATION.enable,
  disable: OPERATION.disable,
  update: OPERATION.update,
  uninstall: OPERATION.uninstall,
};

export interface ExtensionOperationOutcome {
  name: string;
  version: string;
  extensionName?: string;
  operation: Operation;
  success: boolean;
  message: string;
  durationMs: number;
}

export function extensionOperationEvent(o: ExtensionOperationOutcome): AgentEventInput {
  return {
    name: o.extensionName ? `${o.name}.${o.extensionName}` : o.name,
    version: o.version,
    op: OPERATION_NAME[o.operation],
    isSuccess: o.success,
    message: o.message,
    durationMs: o.durationMs,
  };
}
