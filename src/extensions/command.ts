// Running one extension handler command (install/enable/disable/uninstall/update) the way the platform expects
// (docs/protocol.md §5.8, §5.10, §10 item 20): the HandlerManifest command, leading `/` stripped and joined to the
// handler dir, through /bin/sh in the handler dir, in a session of its own whose whole process group is SIGKILLed at
// the operation's timeout; stdout/stderr written to files in the handler's log dir; inside a systemd scope of the
// extension slice when systemd runs, and as a plain process group otherwise.
//
// The run returns when the command's own process exits (or at the timeout). Processes it leaves in the background
// are deliberately not killed after a normal exit: enable commands commonly start their daemon that way, and upstream
// leaves them too.
import { accessSync, constants as fsc, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { constants as osc } from 'node:os';
import { join } from 'node:path';
import { AgentError } from '../errors.ts';
import { log } from '../log/logger.ts';
import { run, type RunResult } from '../os/exec.ts';
import { appendCommandLog, commandLogPath } from './command-log.ts';
import { DEFAULT_MAX_OUTPUT_BYTES, OutputCapture, formatOutput } from './command-output.ts';
import { extensionSliceName, scopeArgv, scopeStarted, scopeUnitName, systemdRunPath, type SliceLimits } from './command-scope.ts';
import { commandError, failureCode, type CommandOutcome } from './command-outcome.ts';
import { OPERATIONS, type Operation } from './handler-operations.ts';

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

function classify(r: RunResult, scriptPath: string, handlerDir: string): { outcome: CommandOutcome; signal: string | null; note: string } {
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
    if (noexec) return { outcome: 'not-executable', signal: null, note: `${noexec} is mounted with the noexec flag, which prevents running extensions` };
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

function describe(o: HandlerCommandOptions, outcome: CommandOutcome, r: RunResult, signal: string | null, note: string, seconds: number): string {
  const what = `the ${o.operation} command of ${o.name}${o.extensionName ? '.' + o.extensionName : ''} ${o.version}`;
  const cmd = o.command.trim();
  switch (outcome) {
    case 'timeout':
      return `${what} (${cmd}) did not finish within ${seconds} seconds and was killed`;
    case 'signal':
      return `${what} (${cmd}) was killed by ${signal}${r.signal ? '' : ` (exit code ${r.code})`}`;
    case 'not-found':
      return `${what} (${cmd}) does not exist in ${o.handlerDir} (exit code 127)`;
    case 'not-executable':
      return `${what} (${cmd}) cannot be executed: ${note} (exit code 126)`;
    default:
      return `${what} (${cmd}) failed with exit code ${r.code}`;
  }
}

export async function runHandlerCommand(o: HandlerCommandOptions): Promise<HandlerCommandResult> {
  const rel = o.command.trim().replace(/^\/+/, '');
  if (rel === '') {
    throw new AgentError('extension', `the HandlerManifest of ${o.name} ${o.version} has no ${o.operation} command`, {
      handler: o.name,
      operation: o.operation,
    });
  }
  // The first word is the script, relative to the handler dir (§10 item 20: publishers write "/bin/enable.sh").
  const scriptPath = join(o.handlerDir, rel.split(/\s+/)[0]!);
  const shellCommand = shellQuote(o.handlerDir + '/') + rel;
  const timeoutMs = o.timeoutMs ?? OPERATIONS[o.operation].timeoutSeconds * 1000;
  const seconds = Math.round(timeoutMs / 100) / 10;

  mkdirSync(o.logDir, { recursive: true, mode: 0o700 });
  const base = `CommandExecution${o.extensionName ? '_' + o.extensionName : ''}.${o.operation}`;
  const out = new OutputCapture(join(o.logDir, `${base}.stdout`), o.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES);
  const err = new OutputCapture(join(o.logDir, `${base}.stderr`), o.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES);
  const capTimer = setInterval(() => {
    try {
      out.enforceCap();
      err.enforceCap();
    } catch (e) {
      log.verbose(`cannot check the output size of the ${o.operation} command of ${o.name}: ${(e as Error).message}`);
    }
  }, CAP_CHECK_MS);
  capTimer.unref();

  const shellArgv = ['/bin/sh', '-c', shellCommand];
  const runOnce = (argv: string[]) =>
    run(argv, {
      cwd: o.handlerDir,
      env: o.env,
      timeoutMs,
      allowFailure: true,
      allowTimeout: true,
      processGroup: true,
      outputFds: { stdout: out.fd, stderr: err.fd },
    });

  const started = Date.now();
  let scope: string | null = null;
  let r: RunResult;
  try {
    const systemdRun = o.useSystemd ? await systemdRunPath(o.systemd?.runDir, o.systemd?.systemdRun) : null;
    if (systemdRun) {
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
      const stderrNow = first instanceof Error ? '' : readHead(err.path);
      if (!(first instanceof Error) && (first.code === 0 || scopeStarted(stderrNow, unit))) {
        scope = `${unit}.scope`;
        r = first;
      } else {
        // systemd-run failed before the command started: not the extension's failure (upstream SystemdRunError).
        const why = first instanceof Error ? first.message : `exit code ${first.code}${first.timedOut ? ', timed out' : ''}: ${stderrNow.trim().split('\n').slice(-2).join(' ')}`;
        log.warn(`systemd-run could not start the scope ${unit}.scope (${why}); running the ${o.operation} command of ${o.name} without it`);
        out.reset();
        err.reset();
        r = await runOnce(shellArgv);
      }
    } else {
      if (o.useSystemd) log.verbose(`systemd is not running or systemd-run is missing; running the ${o.operation} command of ${o.name} in a plain process group`);
      r = await runOnce(shellArgv);
    }
    if (scope && r.timedOut) await killScope(scope, o.systemd?.systemctl ?? 'systemctl');
  } catch (e) {
    out.finish();
    err.finish();
    throw e;
  } finally {
    clearInterval(capTimer);
  }
  const durationMs = Date.now() - started;
  const so = out.finish();
  const se = err.finish();
  const message = formatOutput(so.head, se.head);

  const { outcome, signal, note } = classify(r, scriptPath, o.handlerDir);
  const exitCode = r.timedOut || r.signal ? null : r.code;
  const errorCode = outcome === 'success' ? 0 : failureCode(o.operation, outcome);
  const sentence = outcome === 'success' ? '' : describe(o, outcome, r, signal, note, seconds);
  const error =
    outcome === 'success'
      ? null
      : commandError({
          operation: o.operation,
          outcome,
          command: o.command,
          name: o.name,
          version: o.version,
          ...(o.extensionName !== undefined ? { extensionName: o.extensionName } : {}),
          exitCode,
          signal,
          timeoutSeconds: seconds,
          reason: sentence,
          output: message,
        });

  const summary = outcome === 'success' ? `the ${o.operation} command of ${o.name} ${o.version} (${o.command.trim()}) succeeded` : sentence;
  appendCommandLog(commandLogPath(o.logDir, o.extensionName), `${summary} [${durationMs} ms${scope ? ', ' + scope : ''}]\n${message}`);
  if (error) log.warn(sentence);
  else log.info(`${summary} in ${durationMs} ms`);

  return {
    operation: o.operation,
    outcome,
    exitCode,
    signal,
    timedOut: r.timedOut,
    stdout: so.head,
    stderr: se.head,
    message,
    durationMs,
    errorCode,
    error,
    scope,
    stdoutPath: out.path,
    stderrPath: err.path,
    pid: r.pid,
  };
}

/**
 * After a timeout in a scope: SIGKILL whatever is left in it, including processes that left the process group
 * (setsid, double fork), which the group kill cannot reach.
 */
async function killScope(scope: string, systemctl: string): Promise<void> {
  const r = await run([systemctl, 'kill', '--signal=SIGKILL', scope], { allowFailure: true, timeoutMs: 10_000 }).catch((e: unknown) => e as Error);
  if (r instanceof Error || (r.code !== 0 && !/not loaded|not found/i.test(r.stderr))) {
    log.warn(`could not kill the rest of ${scope}: ${r instanceof Error ? r.message : r.stderr.trim()}`);
  }
}

/** The first bytes of a capture file while it is still open (to look for systemd-run's "Running scope" line). */
function readHead(path: string): string {
  try {
    return readFileSync(path).subarray(0, 4096).toString('utf8');
  } catch {
    return '';
  }
}
