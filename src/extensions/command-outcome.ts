// What became of one extension handler command (docs/protocol.md §5.8): the outcome of its run, the one-sentence
// reason of a failure, and the error the failure is reported with. The error is built once, here, for the command
// runner's result; the lifecycle reports it as it is: its message becomes the handler status message and its context
// carries the status code and the exit code the update flow hands on to the next command.
import { accessSync, constants as fsc, existsSync, readFileSync } from 'node:fs';
import { constants as osc } from 'node:os';
import { AgentError } from '../util/errors.ts';
import type { RunResult } from '../os/exec.ts';
import { OPERATIONS, TIMEOUT_ERROR_CODE, type Operation } from './handler-operations.ts';

/**
 * success; failed (non-zero exit); timeout (killed at the timeout); signal (died of a signal); not-found (the
 * command's file is not in the handler dir); not-executable (the file lacks the execute bit, or its mount is noexec).
 */
export type CommandOutcome = 'success' | 'failed' | 'timeout' | 'signal' | 'not-found' | 'not-executable';

export type FailureOutcome = Exclude<CommandOutcome, 'success'>;

export interface ClassifiedRun {
  outcome: CommandOutcome;
  /** The signal that ended the command (seen by the agent, or inferred from the shell's exit code 128+n). */
  signal: string | null;
  /** not-executable: why (a noexec mount, or the missing execute bit); else empty. */
  note: string;
}

export interface FailedCommand {
  operation: Operation;
  outcome: FailureOutcome;
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

/** The mount point holding `path` when it is mounted `noexec` (from /proc/mounts text); null otherwise. */
export function noexecMountFor(path: string, mountsText: string): string | null {
  // The most specific mount point wins; of equal ones the later line (mounted on top).
  let best: { mnt: string; noexec: boolean } | null = null;
  for (const line of mountsText.split('\n')) {
    const cols = line.split(/\s+/);
    if (cols.length < 4) continue;
    const mnt = cols[1]!.replace(/\\040/g, ' ');
    const inside = mnt === '/' || path === mnt || path.startsWith(mnt + '/');
    if (inside && (best === null || mnt.length >= best.mnt.length)) best = { mnt, noexec: cols[3]!.split(',').includes('noexec') };
  }
  return best?.noexec ? best.mnt : null;
}

/** SIGKILL from 137, etc.: dash reports a child killed by signal n as exit code 128+n. */
function signalFromShellExit(code: number): string | null {
  if (code <= 128 || code > 128 + 64) return null;
  const n = code - 128;
  const fatal = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGKILL', 'SIGSEGV', 'SIGPIPE', 'SIGTERM'];
  const name = Object.entries(osc.signals).find(([, v]) => v === n)?.[0];
  return name && fatal.includes(name) ? name : null;
}

/** What became of a run of the shell line: a 127 or 126 is told apart from the script's own exit code by looking. */
export function classifyRun(r: RunResult, scriptPath: string, handlerDir: string): ClassifiedRun {
  if (r.timedOut) return { outcome: 'timeout', signal: 'SIGKILL', note: '' };
  if (r.signal) return { outcome: 'signal', signal: r.signal, note: '' };
  if (r.code === 0) return { outcome: 'success', signal: null, note: '' };
  if (r.code === 127 && !existsSync(scriptPath)) return { outcome: 'not-found', signal: null, note: '' };
  if (r.code === 126 && existsSync(scriptPath)) {
    let mounts = '';
    try {
      mounts = readFileSync('/proc/mounts', 'utf8');
    } catch {
      /* no /proc: no noexec hint */
    }
    const noexec = noexecMountFor(handlerDir, mounts);
    if (noexec)
      return {
        outcome: 'not-executable',
        signal: null,
        note: `${noexec} is mounted with the noexec flag, which prevents running extensions`,
      };
    try {
      accessSync(scriptPath, fsc.X_OK);
    } catch {
      return { outcome: 'not-executable', signal: null, note: 'the file lacks the execute permission' };
    }
  }
  const inferred = signalFromShellExit(r.code);
  if (inferred) return { outcome: 'signal', signal: inferred, note: '' };
  return { outcome: 'failed', signal: null, note: '' };
}

/** The one sentence naming what went wrong, for the agent's log and CommandExecution.log. */
export function failureReason(f: Omit<FailedCommand, 'reason' | 'output'>, handlerDir: string, note: string): string {
  const what = `the ${f.operation} command of ${f.name}${f.extensionName ? '.' + f.extensionName : ''} ${f.version}`;
  const cmd = f.command.trim();
  switch (f.outcome) {
    case 'timeout':
      return `${what} (${cmd}) did not finish within ${f.timeoutSeconds} seconds and was killed`;
    case 'signal':
      return `${what} (${cmd}) was killed by ${f.signal}${f.exitCode === null ? '' : ` (exit code ${f.exitCode})`}`;
    case 'not-found':
      return `${what} (${cmd}) does not exist in ${handlerDir} (exit code 127)`;
    case 'not-executable':
      return `${what} (${cmd}) cannot be executed: ${note} (exit code 126)`;
    default:
      return `${what} (${cmd}) failed with exit code ${f.exitCode}`;
  }
}

/** The status code of a failure: 1011 for a timeout, else the operation's (§5.8). */
export function failureCode(operation: Operation, outcome: FailureOutcome): number {
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
