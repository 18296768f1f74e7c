// The extension heartbeat file (docs/protocol.md §5.7, §10 item 23): `<base>/heartbeat.log`, a JSON array whose
// `[0].heartbeat` holds `status`, `code` and `formattedMessage`. Written by handlers whose manifest sets
// reportHeartbeat; a file not touched for 600 s means the handler is Unresponsive (code -1).
//
// API:
//   readHeartbeat(baseDir: string, now?: number): Heartbeat     throws AgentError('extension') when missing/malformed
//   heartbeatPath(baseDir: string): string
import type { Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { AgentError, describeError } from '../util/errors.ts';
import { readRegularFile } from '../os/safe-read.ts';

export const HEARTBEAT_FILE = 'heartbeat.log';
/** Older than this (seconds) the handler is reported Unresponsive (§5.7). */
export const HEARTBEAT_MAX_AGE_S = 600;
const MAX_HEARTBEAT_BYTES = 64 * 1024;

export interface Heartbeat {
  /** The handler status to report instead of the HandlerStatus file's (e.g. Ready, NotReady, Unresponsive). */
  readonly status: string;
  readonly code: number | string;
  /** formattedMessage.message; null when the heartbeat has none. */
  readonly message: string | null;
}

export const UNRESPONSIVE: Heartbeat = { status: 'Unresponsive', code: -1, message: 'Extension heartbeat is not responsive' };

export function heartbeatPath(baseDir: string): string {
  return join(baseDir, HEARTBEAT_FILE);
}

/**
 * The handler's heartbeat. Unresponsive when the file is older than 600 s (by mtime, against `now`); throws
 * AgentError('extension') with one sentence when the file is missing, unreadable or not the expected JSON.
 */
export function readHeartbeat(baseDir: string, now: number = Date.now()): Heartbeat {
  const path = heartbeatPath(baseDir);
  // The handler writes this file as root and could make it a link (to /etc/shadow) or a FIFO: it is opened without
  // following a link or blocking, must be a regular file inside Lib.Dir, and its size is checked before reading.
  let read: { data: Buffer; stats: Stats };
  try {
    read = readRegularFile(path, { maxBytes: MAX_HEARTBEAT_BYTES, within: dirname(baseDir) });
  } catch (e) {
    throw new AgentError('extension', `cannot read the heartbeat file ${path}: ${describeError(e)}`, { path }, e);
  }
  if (Math.trunc((now - read.stats.mtimeMs) / 1000) > HEARTBEAT_MAX_AGE_S) return UNRESPONSIVE;
  let data: unknown;
  try {
    data = JSON.parse(read.data.toString('utf8').replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new AgentError('extension', `the heartbeat file ${path} is not valid JSON: ${describeError(e)}`, { path });
  }
  const hb = Array.isArray(data) ? (data[0] as { heartbeat?: unknown } | null)?.heartbeat : undefined;
  if (typeof hb !== 'object' || hb === null || Array.isArray(hb)) {
    throw new AgentError(
      'extension',
      `the heartbeat file ${path} is malformed: it should be an array whose first element has a "heartbeat" object`,
      { path },
    );
  }
  const h = hb as Record<string, unknown>;
  if (typeof h.status !== 'string')
    throw new AgentError('extension', `the heartbeat file ${path} is malformed: heartbeat.status is missing`, { path });
  const fm = h.formattedMessage as Record<string, unknown> | null | undefined;
  const message = fm && typeof fm === 'object' && fm.message !== undefined && fm.message !== null ? String(fm.message) : null;
  const code = typeof h.code === 'number' || typeof h.code === 'string' ? h.code : 0;
  return { status: h.status, code, message };
}
