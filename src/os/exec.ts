// The one place that runs system commands. Every external tool goes through run(), which logs a
// failure the same way and turns it into an AgentError of kind 'command'.
import { spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import { AgentError } from '../util/errors.ts';
import { log } from '../log/logger.ts';

export interface RunOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** Largest stdout/stderr kept (bytes each); the rest is dropped. */
  maxOutput?: number;
  /** Do not throw on a non-zero exit; the caller looks at `code`. */
  allowFailure?: boolean;
  /**
   * Run in a process group of its own and kill the whole group on timeout: for scripts whose children
   * (e.g. a `sleep`) would otherwise outlive the kill and keep the output pipes, and so the call, open.
   */
  processGroup?: boolean;
  /**
   * Send the child's stdout/stderr straight to these open file descriptors instead of capturing them (the result's
   * stdout/stderr are then empty). A background process the child leaves behind may keep writing to them without
   * holding up the call, and without dying of SIGPIPE later as it would on a pipe we stopped reading.
   */
  outputFds?: { stdout: number; stderr: number };
  /** On timeout resolve with `timedOut: true` (after killing) instead of rejecting. */
  allowTimeout?: boolean;
  /** The child's nice value (set right after it starts; -20..19): background work that must not slow the rest. */
  niceness?: number;
}

export interface RunResult {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Killed because timeoutMs passed (only seen with allowTimeout). */
  timedOut: boolean;
  /** The child's pid; with processGroup also its process group and session id. */
  pid: number;
}

/** After a timeout kill, how long to wait for the output pipes to close before giving up on them: a grandchild that
 * left the process group (setsid, daemon) may hold them open forever. */
const PIPE_GRACE_MS = 500;

export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new AgentError('command', 'empty command line');
  const max = opts.maxOutput ?? 1024 * 1024;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', opts.outputFds?.stdout ?? 'pipe', opts.outputFds?.stderr ?? 'pipe'],
      detached: opts.processGroup === true,
    });
    if (opts.niceness !== undefined && child.pid !== undefined) {
      try {
        setPriority(child.pid, opts.niceness);
      } catch (e) {
        log.verbose(`cannot set the priority of ${cmd}: ${(e as Error).message}`);
      }
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    child.stdout?.on('data', (b: Buffer) => {
      if (outLen < max) out.push(b.subarray(0, max - outLen));
      outLen += b.length;
    });
    child.stderr?.on('data', (b: Buffer) => {
      if (errLen < max) err.push(b.subarray(0, max - errLen));
      errLen += b.length;
    });
    let timedOut = false;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            if (opts.processGroup && child.pid !== undefined) {
              try {
                process.kill(-child.pid, 'SIGKILL');
              } catch {
                child.kill('SIGKILL');
              }
            } else child.kill('SIGKILL');
            setTimeout(() => {
              child.stdout?.destroy();
              child.stderr?.destroy();
            }, PIPE_GRACE_MS).unref();
          }, opts.timeoutMs);
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      const msg = e.code === 'ENOENT' ? `the command ${cmd} was not found` : `the command ${cmd} could not be started: ${e.message}`;
      log.verbose(msg);
      reject(new AgentError('command', msg, { command: argv.join(' ') }, e));
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const result: RunResult = {
        code: code ?? -1,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
        pid: child.pid ?? -1,
      };
      if (timedOut && opts.allowTimeout) return resolve(result);
      if (timedOut) {
        const msg = `the command ${argv.join(' ')} timed out after ${opts.timeoutMs} ms`;
        log.warn(msg);
        return reject(new AgentError('command', msg, { command: argv.join(' '), timeoutMs: opts.timeoutMs }));
      }
      if (result.code !== 0 && !opts.allowFailure) {
        const detail = (result.stderr || result.stdout).trim().split('\n').slice(-3).join(' ');
        const msg = `the command ${argv.join(' ')} failed with exit code ${result.code}${detail ? ': ' + detail : ''}`;
        log.warn(msg);
        return reject(new AgentError('command', msg, { command: argv.join(' '), exitCode: result.code }));
      }
      resolve(result);
    });
  });
}

/** Finds an executable on PATH (or the given candidates); null when absent. */
export async function which(
  name: string,
  extraDirs: readonly string[] = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'],
): Promise<string | null> {
  const { access, constants } = await import('node:fs/promises');
  if (name.includes('/')) {
    try {
      await access(name, constants.X_OK);
      return name;
    } catch {
      return null;
    }
  }
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...extraDirs];
  for (const d of dirs) {
    try {
      await access(`${d}/${name}`, constants.X_OK);
      return `${d}/${name}`;
    } catch {
      /* next */
    }
  }
  return null;
}

/**
 * Starts a process that outlives us (-start runs -daemon this way): its own session, stdio on /dev/null unless
 * `logFd` is given, not waited for. Returns its pid.
 */
export function spawnDetached(argv: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; logFd?: number } = {}): number {
  const [cmd, ...args] = argv;
  if (!cmd) throw new AgentError('command', 'empty command line');
  const out = opts.logFd ?? 'ignore';
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', out, out], env: opts.env ?? process.env, cwd: opts.cwd ?? '/' });
  if (child.pid === undefined) throw new AgentError('command', `cannot start ${cmd}`, { command: argv.join(' ') });
  child.unref();
  return child.pid;
}
