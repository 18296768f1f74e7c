// Log lines in the Python agent's format (docs/protocol.md §7.3):
//   <UTC YYYY-MM-DDTHH:MM:SS.ffffffZ> <LEVEL> <thread> [<prefix>] <message>
// non-ASCII backslash-escaped, secrets redacted.
import { appendFileSync, closeSync, constants as fsConstants, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { redact } from './redact.ts';

export type Level = 'VERBOSE' | 'INFO' | 'WARNING' | 'ERROR';
const RANK: Record<Level, number> = { VERBOSE: 0, INFO: 1, WARNING: 2, ERROR: 3 };

export interface LogSink {
  write(line: string, level?: Level): void;
}

class FileSink implements LogSink {
  readonly path: string;
  #broken = false;
  constructor(path: string) {
    this.path = path;
  }
  write(line: string): void {
    if (this.#broken) return;
    try {
      appendFileSync(this.path, line + '\n', { mode: 0o644 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        try {
          mkdirSync(dirname(this.path), { recursive: true });
          appendFileSync(this.path, line + '\n', { mode: 0o644 });
          return;
        } catch {
          /* fall through */
        }
      }
      // A log that cannot be written must not stop the agent; say so once.
      this.#broken = true;
      process.stderr.write(`waagent: cannot write the log file ${this.path}: ${(e as Error).message}\n`);
    }
  }
}

/**
 * The console (Logs.Console, docs/protocol.md §7.1: the daemon logs to /dev/console until provisioned). Opened
 * non-blocking: a slow serial console drops a line rather than holding provisioning back.
 */
class ConsoleSink implements LogSink {
  readonly path: string;
  #fd: number | null = null;
  #broken = false;
  constructor(path: string) {
    this.path = path;
  }
  write(line: string): void {
    if (this.#broken) return;
    try {
      this.#fd ??= openSync(this.path, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY | fsConstants.O_APPEND);
      writeSync(this.#fd, line + '\n');
    } catch (e) {
      // EAGAIN: the console is busy, this line is dropped; anything else: no console, stop trying
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') this.#broken = true;
    }
  }
  close(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }
}

class StreamSink implements LogSink {
  readonly #fd: 1 | 2;
  constructor(fd: 1 | 2) {
    this.#fd = fd;
  }
  write(line: string): void {
    (this.#fd === 1 ? process.stdout : process.stderr).write(line + '\n');
  }
}

/** The journal's priority for each level (sd-daemon(3) `<N>` prefixes). */
const JOURNAL_PRIORITY: Record<Level, number> = { VERBOSE: 7, INFO: 6, WARNING: 4, ERROR: 3 };

/**
 * stderr when it is connected to the systemd journal (a service's standard error): one `<N>`-prefixed line per
 * entry without our timestamp (the journal keeps its own), so `journalctl -u <unit> -p warning` filters by level.
 */
class JournalSink implements LogSink {
  write(line: string, level: Level = 'INFO'): void {
    // the line starts "<timestamp> <LEVEL> "; the journal has the time, keep the rest
    const rest = line.slice(line.indexOf(' ') + 1);
    process.stderr.write(`<${JOURNAL_PRIORITY[level]}>${rest}\n`);
  }
}

/**
 * True when stderr is the journal stream systemd gave this service: JOURNAL_STREAM names its device and inode
 * (systemd.exec(5)), and they must match fd 2, or stderr was redirected elsewhere after systemd started us.
 */
export function stderrIsJournal(env: NodeJS.ProcessEnv, stderr: { dev: number; ino: number } | null): boolean {
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!m || !stderr) return false;
  return Number(m[1]) === stderr.dev && Number(m[2]) === stderr.ino;
}

export function timestamp(d: Date = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function escapeNonAscii(s: string): string {
  return s.replace(/[^\x09\x0a\x20-\x7e]/g, (c) => {
    const cp = c.codePointAt(0)!;
    if (cp <= 0xff) return '\\x' + cp.toString(16).padStart(2, '0');
    if (cp <= 0xffff) return '\\u' + cp.toString(16).padStart(4, '0');
    return '\\U' + cp.toString(16).padStart(8, '0');
  });
}

export class Logger {
  #sinks: Array<{ sink: LogSink; min: Level }> = [];
  thread = 'Daemon';
  prefix = '';

  addFile(path: string, min: Level = 'INFO'): void {
    this.#sinks.push({ sink: new FileSink(path), min });
  }
  addConsole(path = '/dev/console', min: Level = 'INFO'): void {
    this.#sinks.push({ sink: new ConsoleSink(path), min });
  }
  /** Stops logging to the console (the daemon, once provisioning is over). */
  closeConsole(): void {
    for (const { sink } of this.#sinks) if (sink instanceof ConsoleSink) sink.close();
    this.#sinks = this.#sinks.filter(({ sink }) => !(sink instanceof ConsoleSink));
  }
  /** Logs to the systemd journal through stderr, with journal priorities (see stderrIsJournal). */
  addJournal(min: Level = 'INFO'): void {
    this.#sinks.push({ sink: new JournalSink(), min });
  }
  addStderr(min: Level = 'INFO'): void {
    this.#sinks.push({ sink: new StreamSink(2), min });
  }
  addSink(sink: LogSink, min: Level = 'INFO'): void {
    this.#sinks.push({ sink, min });
  }
  reset(): void {
    this.#sinks = [];
  }
  /** Stops writing the log file at `path` (e.g. before -deprovision deletes it, so no write re-creates it). */
  closeFile(path: string): void {
    this.#sinks = this.#sinks.filter(({ sink }) => !(sink instanceof FileSink && sink.path === path));
  }

  log(level: Level, msg: string): void {
    // no sink takes this level (VERBOSE unless Logs.Verbose): nothing to redact or format
    if (!this.#sinks.some(({ min }) => RANK[level] >= RANK[min])) return;
    const body = escapeNonAscii(redact(msg));
    const line = `${timestamp()} ${level} ${this.thread} ${this.prefix ? this.prefix + ' ' : ''}${body}`;
    for (const { sink, min } of this.#sinks) if (RANK[level] >= RANK[min]) sink.write(line, level);
  }
  verbose(msg: string): void {
    this.log('VERBOSE', msg);
  }
  info(msg: string): void {
    this.log('INFO', msg);
  }
  warn(msg: string): void {
    this.log('WARNING', msg);
  }
  error(msg: string): void {
    this.log('ERROR', msg);
  }
}

/** The process-wide logger. Commands configure its sinks once, from the configuration. */
export const log = new Logger();
