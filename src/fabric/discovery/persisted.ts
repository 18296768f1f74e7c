// <Lib.Dir>/WireServerEndpoint (docs/protocol.md §1.2): the address found by the daemon's last detection.
import { readFileSync, unlinkSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { writeFileAtomic } from '../../os/atomic-file.ts';
import { log } from '../../log/logger.ts';

export const ENDPOINT_FILE = 'WireServerEndpoint';

/** The persisted address, or null when the file is missing, empty or not an IPv4 address. */
export function readPersistedEndpoint(libDir: string): string | null {
  let text: string;
  try {
    text = readFileSync(`${libDir}/${ENDPOINT_FILE}`, 'utf8').trim();
  } catch {
    return null;
  }
  if (!text) return null;
  if (!isIPv4(text)) {
    log.warn(`${libDir}/${ENDPOINT_FILE} holds ${JSON.stringify(text.slice(0, 64))}, not an IPv4 address; ignoring it`);
    return null;
  }
  return text;
}

export function writePersistedEndpoint(libDir: string, endpoint: string): void {
  writeFileAtomic(`${libDir}/${ENDPOINT_FILE}`, endpoint, { mode: 0o644, mkdir: true });
}

/** The daemon clears it on every start so detection runs once per start (§1.2). */
export function clearPersistedEndpoint(libDir: string): void {
  try {
    unlinkSync(`${libDir}/${ENDPOINT_FILE}`);
  } catch {
    /* already gone */
  }
}
