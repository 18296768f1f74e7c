// Handler state on disk (docs/protocol.md §5.7): config/HandlerState, config/<ext>.HandlerState (multi-config),
// config/HandlerStatus, and the "installed version" of a handler. Writes are atomic (a crash never leaves a
// half-written state file that would read as a different state); the text has no trailing newline, as the
// Python agent writes it, so either agent can read the other's files. They are read without following a link or
// blocking on a FIFO, and must be the agent's own (src/os/safe-read.ts): the handler's commands run as root beside
// them. A refused file is an AgentError('extension') naming it.
//
// API:
//   readHandlerState(layout): HandlerState           missing -> NotInstalled
//   writeHandlerState(layout, state: HandlerState): void
//   readExtensionState(layout, extName): ExtensionState      missing -> disabled
//   writeExtensionState(layout, extName, state: ExtensionState): void
//   readHandlerStatus(layout): HandlerStatusRecord | null     missing or not JSON -> null
//   writeHandlerStatus(layout, status: HandlerStatusRecord): void
//   findInstalledVersion(libDir: string, name: string): string | null
//   compareVersions(a: string, b: string): number
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AgentError, describeError } from '../../util/errors.ts';
import { log } from '../../log/logger.ts';
import { writeFileAtomicIfChanged } from '../../os/atomic-file.ts';
import { checkRealDirectory, readTextNoFollow } from '../../os/safe-read.ts';
import type { HandlerLayout } from './layout.ts';
import { pythonJsonDumps } from '../../util/python-json.ts';

export type HandlerState = 'NotInstalled' | 'Installed' | 'Enabled' | 'FailedUpgrade';
export type ExtensionState = 'enabled' | 'disabled';

export interface HandlerStatusRecord {
  name: string;
  version: string;
  /** Ready | NotReady (Unresponsive and Installing are computed when reporting, not stored). */
  status: string;
  code: number;
  message: string;
  supportsMultiConfig: boolean;
  /**
   * upstream develop's `signature_validated` (its record that the package signature was validated); read so that a
   * handler installed by that agent counts as validated, never written (2.15 warns about unknown properties).
   */
  signatureValidated?: boolean;
}

const STATES: readonly HandlerState[] = ['NotInstalled', 'Installed', 'Enabled', 'FailedUpgrade'];
const VERSION = /^\d+(\.\d+)*$/;

/** HandlerState, <ext>.HandlerState and HandlerStatus are a few hundred bytes; anything this large was not written by the agent. */
export const MAX_STATE_FILE_BYTES = 64 * 1024;

/**
 * A state file the agent wrote in config/, read without following a link (the handler's commands run as root in
 * that directory and could replace it with a link to /etc/shadow or a FIFO): a regular file of the agent's own
 * uid inside Lib.Dir, at most 64 KiB. null when missing; any refusal is an AgentError with the one sentence.
 */
function readText(libDir: string, path: string): string | null {
  try {
    return readTextNoFollow(path, { maxBytes: MAX_STATE_FILE_BYTES, within: libDir, owner: process.geteuid?.() ?? 0 });
  } catch (e) {
    throw new AgentError('extension', `the state file cannot be used: ${describeError(e)}`, { path }, e);
  }
}

function writeState(layout: HandlerLayout, path: string, text: string): void {
  checkRealDirectory(layout.configDir, dirname(layout.baseDir));
  // config/ is created 0700 by the package installer; create it the same way if a caller got here first.
  mkdirSync(layout.configDir, { recursive: true, mode: 0o700 });
  writeFileAtomicIfChanged(path, text, { mode: 0o600 }); // the same state again (a re-enable) writes nothing
}

/**
 * An empty file reads as NotInstalled (it can only come from an interrupted non-atomic write by another agent);
 * any other unknown text reads as Installed, which is how the Python agent treats it (not NotInstalled, not
 * FailedUpgrade, so no reinstall).
 */
export function readHandlerState(layout: HandlerLayout): HandlerState {
  const text = readText(dirname(layout.baseDir), layout.handlerStateFile);
  if (text === null) return 'NotInstalled';
  const s = text.trim();
  if ((STATES as readonly string[]).includes(s)) return s as HandlerState;
  if (s === '') return 'NotInstalled';
  log.warn(`${layout.handlerStateFile} holds the unknown handler state "${s.slice(0, 40)}"; treating it as Installed`);
  return 'Installed';
}

export function writeHandlerState(layout: HandlerLayout, state: HandlerState): void {
  writeState(layout, layout.handlerStateFile, state);
}

export function readExtensionState(layout: HandlerLayout, extName: string): ExtensionState {
  const text = readText(dirname(layout.baseDir), layout.extensionStateFile(extName));
  return text !== null && text.trim().toLowerCase() === 'enabled' ? 'enabled' : 'disabled';
}

export function writeExtensionState(layout: HandlerLayout, extName: string, state: ExtensionState): void {
  writeState(layout, layout.extensionStateFile(extName), state);
}

/**
 * The saved handler status; null when missing or not valid JSON. A file the agent refuses to read (a link, a FIFO,
 * another owner, too large) throws AgentError('extension') with the sentence: the caller reports it, never its bytes.
 */
export function readHandlerStatus(layout: HandlerLayout): HandlerStatusRecord | null {
  const text = readText(dirname(layout.baseDir), layout.handlerStatusFile);
  if (text === null) return null;
  let d: unknown;
  try {
    d = JSON.parse(text);
  } catch (e) {
    log.warn(`${layout.handlerStatusFile} is not valid JSON (${describeError(e)}); ignoring it`);
    return null;
  }
  if (typeof d !== 'object' || d === null || typeof (d as { status?: unknown }).status !== 'string') {
    log.warn(`${layout.handlerStatusFile} has no "status"; ignoring it`);
    return null;
  }
  const r = d as Record<string, unknown>;
  return {
    name: typeof r.name === 'string' ? r.name : layout.name,
    version: typeof r.version === 'string' ? r.version : layout.version,
    status: r.status as string,
    code: typeof r.code === 'number' ? r.code : 0,
    message: typeof r.message === 'string' ? r.message : '',
    supportsMultiConfig: r.supports_multi_config === true,
    ...(r.signature_validated === true ? { signatureValidated: true } : {}),
  };
}

/** The Python agent's field names and order (ExtHandlerStatus), so a downgrade can read it. */
export function writeHandlerStatus(layout: HandlerLayout, s: HandlerStatusRecord): void {
  const text = pythonJsonDumps({
    name: s.name,
    version: s.version,
    status: s.status,
    code: s.code,
    message: s.message,
    supports_multi_config: s.supportsMultiConfig,
    extension_status: null,
  });
  writeState(layout, layout.handlerStatusFile, text);
}

/** Dotted numeric versions compared component by component; a prefix sorts first ("1.0" < "1.0.0"). */
export function compareVersions(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/**
 * §5.7: the highest `<lib>/<Name>-<ver>` directory whose HandlerState exists and is neither NotInstalled nor
 * FailedUpgrade; null when there is none.
 */
export function findInstalledVersion(libDir: string, name: string): string | null {
  let names: string[];
  try {
    names = readdirSync(libDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new AgentError('io', `cannot list ${libDir}: ${describeError(e)}`, { path: libDir }, e);
  }
  let best: string | null = null;
  for (const entry of names) {
    if (!entry.startsWith(`${name}-`)) continue;
    const version = entry.slice(name.length + 1);
    if (!VERSION.test(version)) continue;
    const dir = join(libDir, entry);
    try {
      if (!statSync(dir).isDirectory()) continue;
    } catch {
      continue;
    }
    let state: string | null;
    try {
      state = readText(libDir, join(dir, 'config', 'HandlerState'));
    } catch {
      continue;
    }
    if (state === null || ['NotInstalled', 'FailedUpgrade', ''].includes(state.trim())) continue;
    if (best === null || compareVersions(version, best) > 0) best = version;
  }
  return best;
}
