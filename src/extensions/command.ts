// Running one extension handler command (install/enable/disable/uninstall/update) the way the platform expects
// (docs/protocol.md §5.8, §5.10, §10 item 20): the HandlerManifest command, leading `/` stripped and joined to the
// handler dir, through /bin/sh in the handler dir, in a session of its own whose whole process group is SIGKILLed at
// the operation's timeout; stdout/stderr written to files in the handler's log dir; inside a systemd scope of the
// extension slice when systemd runs, and as a plain process group otherwise.
//
// The run returns when the command's own process exits (or at the timeout). Processes it leaves in the background
// are deliberately not killed after a normal exit: enable commands commonly start their daemon that way, and upstream
// leaves them too.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AgentError, describeError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { run, type RunResult } from '../os/exec.ts';
import { checkRealDirectory, readHeadNoFollow } from '../os/safe-read.ts';
import { monotonicNow } from '../util/clock.ts';
import { appendCommandLog, commandLogPath } from './command-log.ts';
import { DEFAULT_MAX_OUTPUT_BYTES, DiscardedCapture, OutputCapture, formatOutput, type StreamCapture } from './command-output.ts';
import { extensionSliceName, scopeArgv, scopeStarted, scopeUnitName, systemdRunPath, type SliceLimits } from './command-scope.ts';
import { classifyRun, commandError, failureCode, failureReason, type ClassifiedRun, type CommandOutcome } from './command-outcome.ts';
import { OPERATIONS, type Operation } from './handler-operations.ts';
import { extensionOperationEvent } from '../telemetry/extension-operation.ts';
import { telemetry } from '../telemetry/recorder.ts';

export type { SliceLimits } from './command-scope.ts';
export type { CommandOutcome } from './command-outcome.ts';

export interface HandlerCommandOptions {
  /** The handler base dir `<lib>/<Name>-<Version>`: the command's cwd and the root its path is relative to. */
  handlerDir: string;
  /** The HandlerManifest command string, e.g. "scripts/install.sh --verbose". */
  command: string;
  operation: Operation;
  /** Defaults to the operation's timeout of §5.8. */
  timeoutMs?: number;
  /** The complete environment (see extensionEnvironment in command-env.ts). */
  env: NodeJS.ProcessEnv;
  /** Handler name (e.g. Microsoft.Azure.Extensions.CustomScript). */
  name: string;
  version: string;
  /** Multi-config: the extension this command is for (names the slice, the log and the output files). */
  extensionName?: string;
  /** Where the output files and CommandExecution.log go: /var/log/azure/<Name>. */
  logDir: string;
  /** Run in a systemd scope of the extension slice when systemd is the running init (cgroups enabled). */
  useSystemd?: boolean;
  sliceLimits?: SliceLimits;
  /** Cap of each output file (head and tail kept). */
  maxOutputBytes?: number;
  /** For tests: the sd_booted directory and the systemd-run / systemctl binaries to use. */
  systemd?: { runDir?: string; systemdRun?: string; systemctl?: string };
}

export interface HandlerCommandResult {
  operation: Operation;
  outcome: CommandOutcome;
  /** The exit code of the command's shell; null when killed at the timeout or by a signal the agent saw. */
  exitCode: number | null;
  /** The signal that ended the command (seen by the agent, or inferred from the shell's exit code 128+n). */
  signal: string | null;
  timedOut: boolean;
  /** First bytes of each stream (redacted). */
  stdout: string;
  stderr: string;
  /** The short `[stdout]…[stderr]…` text (≤ 3200 chars) for the handler status and telemetry. */
  message: string;
  durationMs: number;
  /** 0 on success; else the §5.8 error code (1007–1010, 1000 uninstall, 1011 timeout). */
  errorCode: number;
  /** The failure as the lifecycle reports it (command-outcome.ts: message, context code and exitCode); null on success. */
  error: AgentError | null;
  /** The systemd scope the command ran in, or null (no systemd, or systemd-run failed and the plain run was used). */
  scope: string | null;
  stdoutPath: string;
  stderrPath: string;
  /** The pid of the command's shell, which is also its process group and session id. */
  pid: number;
}

/** How often the output files are checked against their cap while the command runs. */
const CAP_CHECK_MS = 250;

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs one handler command to its end or its timeout. The command's own failure is in the result (outcome, code and
 * the error to report), never thrown; what throws is a manifest without the command, or the agent's own trouble.
 */
export async function runHandlerCommand(o: HandlerCommandOptions): Promise<HandlerCommandResult> {
  const { scriptPath, shellArgv } = commandLine(o);
  const timeoutMs = o.timeoutMs ?? OPERATIONS[o.operation].timeoutSeconds * 1000;
  const capture = startCapture(o);
  const started = monotonicNow();
  let ran: { r: RunResult; scope: string | null };
  try {
    ran = await runInScopeOrGroup(o, shellArgv, timeoutMs, capture);
  } catch (e) {
    capture.out.finish();
    capture.err.finish();
    throw e;
  } finally {
    capture.stopCapping();
  }
  const { r, scope } = ran;
  const durationMs = Math.round(monotonicNow() - started);
  const so = capture.out.finish();
  const se = capture.err.finish();
  const message = formatOutput(so.head, se.head);
  const classified = classifyRun(r, scriptPath, o.handlerDir);
  const failure = failureOf(o, r, classified, timeoutMs, message);
  recordRun(o, failure?.reason ?? null, message, durationMs, scope);
  return {
    operation: o.operation,
    outcome: classified.outcome,
    exitCode: shellExitCode(r),
    signal: classified.signal,
    timedOut: r.timedOut,
    stdout: so.head,
    stderr: se.head,
    message,
    durationMs,
    errorCode: failure?.code ?? 0,
    error: failure?.error ?? null,
    scope,
    stdoutPath: capture.out.path,
    stderrPath: capture.err.path,
    pid: r.pid,
  };
}

/** The script the command names (to tell a missing one apart) and the shell line that runs it in the handler dir. */
function commandLine(o: HandlerCommandOptions): { scriptPath: string; shellArgv: string[] } {
  const rel = o.command.trim().replace(/^\/+/, '');
  if (rel === '') {
    throw new AgentError('extension', `the HandlerManifest of ${o.name} ${o.version} has no ${o.operation} command`, {
      handler: o.name,
      operation: o.operation,
    });
  }
  // The first word is the script, relative to the handler dir (§10 item 20: publishers write "/bin/enable.sh").
  return { scriptPath: join(o.handlerDir, rel.split(/\s+/)[0]!), shellArgv: ['/bin/sh', '-c', shellQuote(o.handlerDir + '/') + rel] };
}

interface Capture {
  out: StreamCapture;
  err: StreamCapture;
  /** Ends the periodic cap check. */
  stopCapping(): void;
}

/** The command's stdout and stderr files in its log dir, kept under their cap while it runs. */
function startCapture(o: HandlerCommandOptions): Capture {
  const base = `CommandExecution${o.extensionName ? '_' + o.extensionName : ''}.${o.operation}`;
  const out = openCapture(o, join(o.logDir, `${base}.stdout`));
  const err = openCapture(o, join(o.logDir, `${base}.stderr`));
  const capTimer = setInterval(() => {
    try {
      out.enforceCap();
      err.enforceCap();
    } catch (e) {
      log.verbose(`cannot check the output size of the ${o.operation} command of ${o.name}: ${(e as Error).message}`);
    }
  }, CAP_CHECK_MS);
  capTimer.unref();
  return { out, err, stopCapping: () => clearInterval(capTimer) };
}

/** The stream's file in the log dir; when it cannot be made (a full disk), the command runs without it. */
function openCapture(o: HandlerCommandOptions, path: string): StreamCapture {
  try {
    // The handler's log folder is the extension's to write: never through a link planted there.
    checkRealDirectory(o.logDir, dirname(o.logDir));
    mkdirSync(o.logDir, { recursive: true, mode: 0o700 });
    return new OutputCapture(path, o.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES);
  } catch (e) {
    const why = describeError(e);
    warnOnce(o.logDir, `the output of the extension commands of ${o.name} cannot be kept in ${o.logDir}: ${why}; they run without it`);
    return new DiscardedCapture(path, why);
  }
}

/** Log folders whose trouble was logged already: a full disk is logged once, not at every command (cleared when it works again). */
const logDirTrouble = new Set<string>();

function warnOnce(logDir: string, message: string): void {
  if (logDirTrouble.has(logDir)) return;
  logDirTrouble.add(logDir);
  log.warn(message);
}

/**
 * Runs the shell line in a systemd scope of the extension's slice when systemd runs (§5.10), else in a plain process
 * group; a scope that systemd-run cannot start means running again without it, with the output files emptied.
 */
async function runInScopeOrGroup(
  o: HandlerCommandOptions,
  shellArgv: string[],
  timeoutMs: number,
  capture: Capture,
): Promise<{ r: RunResult; scope: string | null }> {
  const runOnce = (argv: string[]) =>
    run(argv, {
      cwd: o.handlerDir,
      env: o.env,
      timeoutMs,
      allowFailure: true,
      allowTimeout: true,
      processGroup: true,
      outputFds: { stdout: capture.out.fd, stderr: capture.err.fd },
    });
  const systemdRun = o.useSystemd ? await systemdRunPath(o.systemd?.runDir, o.systemd?.systemdRun) : null;
  if (!systemdRun) {
    if (o.useSystemd)
      log.verbose(
        `systemd is not running or systemd-run is missing; running the ${o.operation} command of ${o.name} in a plain process group`,
      );
    return { r: await runOnce(shellArgv), scope: null };
  }
  const inScope = await runInScope(o, systemdRun, shellArgv, runOnce, capture.err.path);
  if (inScope) return inScope;
  capture.out.reset();
  capture.err.reset();
  return { r: await runOnce(shellArgv), scope: null };
}

/** The run inside a scope of the extension's slice; null when systemd-run could not start the scope. */
async function runInScope(
  o: HandlerCommandOptions,
  systemdRun: string,
  shellArgv: string[],
  runOnce: (argv: string[]) => Promise<RunResult>,
  stderrPath: string,
): Promise<{ r: RunResult; scope: string } | null> {
  const unit = scopeUnitName(o.extensionName ? `${o.name}.${o.extensionName}` : o.name);
  const argv = scopeArgv({
    systemdRun,
    unit,
    slice: extensionSliceName(o.name, o.extensionName),
    limits: o.sliceLimits,
    owner: o.name,
    command: shellArgv,
  });
  const first = await runOnce(argv).catch((e: unknown) => e as Error);
  const stderrNow = first instanceof Error ? '' : readHead(stderrPath);
  if (!(first instanceof Error) && (first.code === 0 || scopeStarted(stderrNow, unit))) {
    const scope = `${unit}.scope`;
    if (first.timedOut) await killScope(scope, o.systemd?.systemctl ?? 'systemctl');
    return { r: first, scope };
  }
  // systemd-run failed before the command started: not the extension's failure (upstream SystemdRunError).
  log.warn(
    `systemd-run could not start the scope ${unit}.scope (${scopeFailure(first, stderrNow)}); running the ${o.operation} command of ${o.name} without it`,
  );
  return null;
}

/** Why systemd-run did not start the scope: its error, or its exit code and last lines of stderr. */
function scopeFailure(first: RunResult | Error, stderr: string): string {
  if (first instanceof Error) return first.message;
  return `exit code ${first.code}${first.timedOut ? ', timed out' : ''}: ${stderr.trim().split('\n').slice(-2).join(' ')}`;
}

/** The shell's exit code; null when the command was killed at the timeout or the agent saw it die of a signal. */
function shellExitCode(r: RunResult): number | null {
  return r.timedOut || r.signal ? null : r.code;
}

/** For a failed run: its status code, the one-sentence reason that is logged, and the error that is reported. */
function failureOf(
  o: HandlerCommandOptions,
  r: RunResult,
  c: ClassifiedRun,
  timeoutMs: number,
  output: string,
): { code: number; reason: string; error: AgentError } | null {
  if (c.outcome === 'success') return null;
  const failed = {
    operation: o.operation,
    outcome: c.outcome,
    command: o.command,
    name: o.name,
    version: o.version,
    ...(o.extensionName !== undefined ? { extensionName: o.extensionName } : {}),
    exitCode: shellExitCode(r),
    signal: c.signal,
    timeoutSeconds: Math.round(timeoutMs / 100) / 10,
  };
  const reason = failureReason(failed, o.handlerDir, c.note);
  return { code: failureCode(o.operation, c.outcome), reason, error: commandError({ ...failed, reason, output }) };
}

/** Every run goes to CommandExecution.log with its output, and to the agent's log. */
function recordRun(o: HandlerCommandOptions, reason: string | null, output: string, durationMs: number, scope: string | null): void {
  const summary = reason ?? `the ${o.operation} command of ${o.name} ${o.version} (${o.command.trim()}) succeeded`;
  try {
    checkRealDirectory(o.logDir, dirname(o.logDir)); // the command may have replaced it with a link while it ran
    appendCommandLog(commandLogPath(o.logDir, o.extensionName), `${summary} [${durationMs} ms${scope ? ', ' + scope : ''}]\n${output}`);
    logDirTrouble.delete(o.logDir);
  } catch (e) {
    // The command ran; a log that cannot be written (a full Extension.LogDir) does not make it fail.
    warnOnce(o.logDir, `the command log of ${o.name} in ${o.logDir} cannot be written: ${describeError(e)}`);
  }
  if (reason !== null) log.warn(reason);
  else log.info(`${summary} in ${durationMs} ms`);
  telemetry.addEvent(
    extensionOperationEvent({ ...o, success: reason === null, message: reason === null ? output : `${reason}\n${output}`, durationMs }),
    { logEvent: false }, // the reason was logged just above
  );
}

/**
 * After a timeout in a scope: SIGKILL whatever is left in it, including processes that left the process group
 * (setsid, double fork), which the group kill cannot reach.
 */
async function killScope(scope: string, systemctl: string): Promise<void> {
  const r = await run([systemctl, 'kill', '--signal=SIGKILL', scope], { allowFailure: true, timeoutMs: 10_000 }).catch(
    (e: unknown) => e as Error,
  );
  if (r instanceof Error || (r.code !== 0 && !/not loaded|not found/i.test(r.stderr))) {
    log.warn(`could not kill the rest of ${scope}: ${r instanceof Error ? r.message : r.stderr.trim()}`);
  }
}

/** The first bytes of a capture file while it is still open (to look for systemd-run's "Running scope" line). */
function readHead(path: string): string {
  try {
    // the command runs as root and may have replaced the file with a link or a FIFO: never followed, never blocks
    return readHeadNoFollow(path, 4096).toString('utf8');
  } catch {
    return '';
  }
}
