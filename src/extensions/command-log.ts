// /var/log/azure/<Handler>/CommandExecution[_<ext>].log: one entry per handler command the agent ran
// (docs/protocol.md §5.8), head-truncated so that the file stays under 10 MB.
import { appendFileSync, openSync, readSync, closeSync, statSync } from 'node:fs';
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
    size = statSync(path).size;
  } catch {
    /* no log yet */
  }
  if (size + entry.length <= max) {
    appendFileSync(path, entry, { mode: 0o600 });
    return;
  }
  const keep = Math.max(0, Math.min(size, max - entry.length));
  const buf = Buffer.alloc(keep);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, buf, 0, keep, size - keep);
  } finally {
    closeSync(fd);
  }
  const nl = buf.indexOf(10);
  const kept = nl < 0 ? Buffer.alloc(0) : buf.subarray(nl + 1);
  writeFileAtomic(path, Buffer.concat([kept, entry.subarray(Math.max(0, entry.length - max))]), { mode: 0o600 });
}
