// /var/log/azure/<Handler>/CommandExecution[_<ext>].log: one entry per handler command the agent ran
// (docs/protocol.md §5.8), head-truncated so that the file stays under 10 MB.
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { timestamp } from '../log/logger.ts';
import { redact } from '../log/redact.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';

export const COMMAND_LOG_MAX_BYTES = 10 * 1024 * 1024;

export function commandLogPath(logDir: string, extensionName?: string): string {
  return join(logDir, extensionName ? `CommandExecution_${extensionName}.log` : 'CommandExecution.log');
}

/** Appends `text` (one entry, redacted) after dropping the oldest whole lines that would take the file past `max`. */
export function appendCommandLog(path: string, text: string, max = COMMAND_LOG_MAX_BYTES): void {
  const entry = Buffer.from(`${timestamp()} ${redact(text).replace(/\n*$/, '')}\n`);
  let size = 0;
  try {
    size = lstatSync(path).size;
  } catch {
    /* no log yet */
  }
  if (size + entry.length <= max) {
    // O_NOFOLLOW: a link planted under the log's name is refused, never appended through (as root).
    const fd = openSync(
      path,
      constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK,
      0o600,
    );
    try {
      refuseIfNotRegular(fd, path);
      writeSync(fd, entry);
    } finally {
      closeSync(fd);
    }
    return;
  }
  const keep = Math.max(0, Math.min(size, max - entry.length));
  const buf = Buffer.alloc(keep);
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    refuseIfNotRegular(fd, path);
    readSync(fd, buf, 0, keep, size - keep);
  } finally {
    closeSync(fd);
  }
  const nl = buf.indexOf(10);
  const kept = nl < 0 ? Buffer.alloc(0) : buf.subarray(nl + 1);
  writeFileAtomic(path, Buffer.concat([kept, entry.subarray(Math.max(0, entry.length - max))]), { mode: 0o600 });
}

/** A FIFO, socket or device planted under the log's name is never written to or read (the open did not block: O_NONBLOCK). */
function refuseIfNotRegular(fd: number, path: string): void {
  if (!fstatSync(fd).isFile()) throw new Error(`${path} is not a regular file; the agent does not write to it`);
}
