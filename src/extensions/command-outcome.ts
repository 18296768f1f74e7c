// What became of one extension handler command, and the error its failure is reported with (docs/protocol.md §5.8).
// The error is built once, here, for the command runner's result; the lifecycle reports it as it is: its message
// becomes the handler status message and its context carries the status code and the exit code the update flow
// hands on to the next command.
import { AgentError } from '../errors.ts';
import { OPERATIONS, TIMEOUT_ERROR_CODE, type Operation } from './handler-operations.ts';

/**
 * success; failed (non-zero exit); timeout (killed at the timeout); signal (died of a signal); not-found (the
 * command's file is not in the handler dir); not-executable (the file lacks the execute bit, or its mount is noexec).
 */
export type CommandOutcome = 'success' | 'failed' | 'timeout' | 'signal' | 'not-found' | 'not-executable';

export interface FailedCommand {
  operation: Operation;
  outcome: Exclude<CommandOutcome, 'success'>;
  /** The HandlerManifest command as written there. */
  command: string;
  name: string;
  version: string;
  /** Multi-config: the extension the command ran for. */
  extensionName?: string;
  /** The shell's exit code; null when the agent killed the command or saw it die of a signal. */
  exitCode: number | null;
  signal: string | null;
  /** The timeout the command ran with. */
  timeoutSeconds: number;
  /** One sentence naming what went wrong (logged, and written to CommandExecution.log). */
  reason: string;
  /** The `[stdout]…[stderr]…` text of §5.8. */
  output: string;
}

/** The status code of a failure: 1011 for a timeout, else the operation's (§5.8). */
export function failureCode(operation: Operation, outcome: FailedCommand['outcome']): number {
  return outcome === 'timeout' ? TIMEOUT_ERROR_CODE : OPERATIONS[operation].errorCode;
}

/**
 * The error a failed command is reported with. The message is upstream's: `Timeout(<s>): <command> (<op> of <who>)`
 * or `Non-zero exit code: <n>, <command> (<op> of <who>)`, then the output. Context: `code` (the status code),
 * `exitCode` (handed on by the update flow; null on a timeout, whose code is handed on instead), `reason`, and what
 * ran.
 */
export function commandError(f: FailedCommand): AgentError {
  const who = `${f.name}${f.extensionName !== undefined ? `.${f.extensionName}` : ''} ${f.version}`;
  const timedOut = f.outcome === 'timeout';
  // A command that could not start has no output to show; the reason names the cause (noexec mount, missing file).
  const output = f.outcome === 'not-found' || f.outcome === 'not-executable' ? f.reason : f.output;
  const exitCode = timedOut ? null : (f.exitCode ?? -1);
  const head = timedOut ? `Timeout(${f.timeoutSeconds}):` : `Non-zero exit code: ${exitCode},`;
  return new AgentError('extension', `${head} ${f.command} (${f.operation} of ${who})\n${output}`.trimEnd(), {
    code: failureCode(f.operation, f.outcome),
    exitCode,
    reason: f.reason,
    handler: f.name,
    version: f.version,
    extension: f.extensionName,
    operation: f.operation,
    outcome: f.outcome,
    signal: f.signal,
    timeoutSeconds: timedOut ? f.timeoutSeconds : undefined,
  });
}
