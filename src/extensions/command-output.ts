// Where a handler command's stdout/stderr go (docs/protocol.md §5.8): straight into files that the command's process
// writes itself, so a daemon it starts in the background can keep its inherited stdout without holding up the agent
// or dying of SIGPIPE. The agent keeps each file under a size cap (head and tail kept, the middle dropped) and builds
// the short "[stdout]…[stderr]…" message of the handler status from the first bytes of each.
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, rmSync, writeFileSync, constants as fsc } from 'node:fs';
import { log } from '../log/logger.ts';
import { redact } from '../log/redact.ts';
import { describeError } from '../util/errors.ts';

/** Longest status/telemetry message built from a command's output (upstream TELEMETRY_MESSAGE_MAX_LEN). */
export const MESSAGE_MAX_CHARS = 3200;

/** Default cap of each output file; spec is silent, upstream has none (its temp files grow unbounded). */
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;

/**
 * The §5.8 message: `[stdout]\n<out>\n\n[stderr]\n<err>`, at most `maxLen` characters in all. When both do not fit,
 * each stream keeps its last characters, and a stream shorter than its half gives the rest to the other
 * (upstream format_stdout_stderr, made strict about the total).
 */
export function formatOutput(stdout: string, stderr: string, maxLen = MESSAGE_MAX_CHARS): string {
  const frame = (o: string, e: string) => `[stdout]\n${o}\n\n[stderr]\n${e}`;
  const budget = maxLen - frame('', '').length;
  if (budget <= 0) return '';
  if (stdout.length + stderr.length <= budget) return frame(stdout, stderr);
  const each = Math.floor(budget / 2);
  const tail = (s: string, n: number) => (n <= 0 ? '' : s.slice(-n));
  if (stdout.length < each) return frame(stdout, tail(stderr, budget - stdout.length));
  if (stderr.length < each) return frame(tail(stdout, budget - stderr.length), stderr);
  return frame(tail(stdout, each), tail(stderr, each));
}

function readAt(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.alloc(Math.max(0, length));
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** Where one stream of a command goes while it runs, and what is kept of it. */
export interface StreamCapture {
  readonly path: string;
  readonly fd: number;
  reset(): void;
  enforceCap(): void;
  finish(): { head: string; truncated: boolean; droppedBytes: number };
}

/**
 * A stream whose file could not be made (a full or read-only Extension.LogDir, issue 11 finding 10): the command
 * still runs, writing to /dev/null, and its status message says why its output was not kept.
 */
export class DiscardedCapture implements StreamCapture {
  readonly path: string;
  readonly fd: number;
  readonly #why: string;

  constructor(path: string, why: string) {
    this.path = path;
    this.#why = why;
    this.fd = openSync('/dev/null', fsc.O_WRONLY);
  }

  reset(): void {}
  enforceCap(): void {}
  finish(): { head: string; truncated: boolean; droppedBytes: number } {
    closeSync(this.fd);
    return { head: `(the output was not kept: ${this.#why})`, truncated: false, droppedBytes: 0 };
  }
}

/** One captured stream: a file opened for appending (so a truncation by the agent makes the writer start over). */
export class OutputCapture implements StreamCapture {
  readonly path: string;
  readonly fd: number;
  readonly #headBytes: number;
  readonly #tailBytes: number;
  #head: Buffer | null = null;
  /** The last bytes seen before the latest truncation (the tail so far). */
  #pendingTail: Buffer = Buffer.alloc(0);
  #dropped = 0;
  #closed = false;

  constructor(path: string, maxBytes = DEFAULT_MAX_OUTPUT_BYTES) {
    this.path = path;
    this.#headBytes = Math.ceil(maxBytes / 2);
    this.#tailBytes = Math.floor(maxBytes / 2);
    // A new file, not the old one truncated: a daemon an earlier run left behind may still append to the old one.
    rmSync(path, { force: true });
    // O_EXCL: a link planted under the name after the removal is refused, never written through.
    this.fd = openSync(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_EXCL | fsc.O_APPEND, 0o600);
  }

  /** Starts over (used when a run is repeated without the systemd scope). */
  reset(): void {
    ftruncateSync(this.fd, 0);
    this.#head = null;
    this.#pendingTail = Buffer.alloc(0);
    this.#dropped = 0;
  }

  /** Called periodically while the command runs: when the file is over the cap, keep head and tail, empty it. */
  enforceCap(): void {
    const size = fstatSync(this.fd).size;
    if (size <= this.#headBytes + this.#tailBytes) return;
    let from = 0;
    if (this.#head === null) {
      this.#head = readAt(this.fd, this.#headBytes, 0);
      from = this.#head.length;
    }
    const tail = readAt(this.fd, Math.min(this.#tailBytes, size - from), size - Math.min(this.#tailBytes, size - from));
    this.#dropped += this.#pendingTail.length + (size - from - tail.length);
    this.#pendingTail = tail;
    ftruncateSync(this.fd, 0);
  }

  /**
   * Ends the capture: applies the cap once more, rewrites a truncated file as head + marker + tail, and returns the
   * first MESSAGE_MAX_CHARS bytes (decoded, secrets redacted) for the status message.
   */
  finish(): { head: string; truncated: boolean; droppedBytes: number } {
    if (this.#closed) throw new Error('output capture finished twice');
    this.#closed = true;
    this.enforceCap();
    const size = fstatSync(this.fd).size;
    const rest = readAt(this.fd, size, 0);
    closeSync(this.fd);
    let first: Buffer;
    if (this.#head === null) {
      first = rest.subarray(0, MESSAGE_MAX_CHARS);
    } else {
      const all = Buffer.concat([this.#pendingTail, rest]);
      const tail = all.subarray(Math.max(0, all.length - this.#tailBytes));
      this.#dropped += all.length - tail.length;
      const marker = Buffer.from(`\n... [${this.#dropped} bytes of output omitted] ...\n`);
      rmSync(this.path, { force: true }); // same reason: leave a background writer its own (now unlinked) file
      try {
        writeFileSync(this.path, Buffer.concat([this.#head, marker, tail]), { mode: 0o600, flag: 'wx' });
      } catch (e) {
        // A full log dir costs the file, never the run: the message below is built from memory.
        log.warn(`the output file ${this.path} could not be written: ${describeError(e)}`);
      }
      first = this.#head.subarray(0, MESSAGE_MAX_CHARS);
    }
    return { head: redact(new TextDecoder('utf-8').decode(first)), truncated: this.#head !== null, droppedBytes: this.#dropped };
  }
}
