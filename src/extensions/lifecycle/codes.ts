// Status codes the platform (CRP) understands (the Python agent's ExtensionErrorCodes and
// GoalStateAggregateStatusCodes), and the one error shape the lifecycle throws: an AgentError of kind
// 'extension' whose context carries the code to report.
import { AgentError, describeError, isAgentError } from '../../util/errors.ts';

/** Every code but those of the handler commands themselves (1000, 1007–1011: ../handler-operations.ts). */
export const CODE = {
  unknown: -1,
  success: 0,
  manifestDownload: 1001,
  handlerManifest: 1002,
  packageDownload: 1004,
  statusInvalid: 1012,
  /** Goal-state aggregate status: the goal state requires a feature this agent lacks (§5.1). */
  unsupportedFeatures: 2001,
} as const;

export function extensionError(code: number, message: string, context: Record<string, string | number | boolean | null> = {}): AgentError {
  return new AgentError('extension', message, { ...context, code });
}

/** The code to report for any thrown value: its own when it carries one, else -1 (unexpected). */
export function codeOf(e: unknown): number {
  if (isAgentError(e) && typeof e.context.code === 'number') return e.context.code;
  return CODE.unknown;
}

/** The exit code to hand to the next command of an update (§5.8 *_EXIT_CODE variables). */
export function exitCodeOf(e: unknown): string {
  if (isAgentError(e) && typeof e.context.exitCode === 'number') return String(e.context.exitCode);
  return String(codeOf(e));
}

export { describeError };
