// The markers in Lib.Dir that record the outcome of provisioning (docs/protocol.md §4.4 steps 1, 13, 14; §7.3):
// `provisioned` holds the VM id provisioning ran for; `disable_agent` (empty) stops the agent after provisioning.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { libDirOf, type Config } from '../config/index.ts';
import { AgentError } from '../util/errors.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';
import { vmIdsMatch } from './vm-id.ts';

export type ProvisionedState = 'none' | 'same-vm' | 'other-vm';

export function provisionedMarkerPath(config: Config): string {
  return join(libDirOf(config, 'the provisioning markers have no place'), 'provisioned');
}

export function disableAgentPath(config: Config): string {
  return join(libDirOf(config, 'the provisioning markers have no place'), 'disable_agent');
}

/** The VM id stored in the marker, '' for an empty marker (older agents), null when there is none. */
export function readProvisionedMarker(config: Config): string | null {
  try {
    return readFileSync(provisionedMarkerPath(config), 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new AgentError('provisioning', `cannot read ${provisionedMarkerPath(config)}: ${(e as Error).message}`, {}, e);
  }
}

/**
 * Whether this VM was provisioned already; a marker for another id means the image was captured without
 * deprovisioning. As upstream, an empty marker (older agents) and an unreadable VM id ('') count as this VM's: the
 * Python agent clears the old VM's state only when both ids are known and differ.
 */
export function provisionedState(config: Config, vmId: string): ProvisionedState {
  const stored = readProvisionedMarker(config);
  if (stored === null) return 'none';
  return vmId === '' || stored === '' || vmIdsMatch(stored, vmId) ? 'same-vm' : 'other-vm';
}

/**
 * Writes the marker. `readyPending` first records that Ready is still to be reported
 * (<Lib.Dir>/provisioned.ready-pending): an agent killed between the marker and the Ready report would otherwise,
 * once restarted, find the marker, skip provisioning and never report Ready (upstream has that gap: §4.4 step 1
 * sends no report for the same VM). clearReadyPending removes it once Ready was reported.
 */
export function writeProvisionedMarker(
  config: Config,
  vmId: string,
  opts: { readyPending?: boolean; hostKeysPending?: readonly string[] } = {},
): void {
  if (opts.readyPending) writeFileAtomic(readyPendingPath(config), vmId.trim(), { mode: 0o600, mkdir: true });
  if (opts.hostKeysPending?.length) {
    writeFileAtomic(hostKeysPendingPath(config), `${opts.hostKeysPending.join('\n')}\n`, { mode: 0o600, mkdir: true });
  }
  writeFileAtomic(provisionedMarkerPath(config), vmId.trim(), { mode: 0o644, mkdir: true });
}

function readyPendingPath(config: Config): string {
  return join(libDirOf(config, 'the provisioning markers have no place'), 'provisioned.ready-pending');
}

/**
 * <Lib.Dir>/provisioned.hostkeys-pending: the host key types still being generated when Ready was sent (with `auto`,
 * rsa: host-keys.ts); removed once they are in place, and finished by the next start when the agent was stopped first.
 */
function hostKeysPendingPath(config: Config): string {
  return join(libDirOf(config, 'the provisioning markers have no place'), 'provisioned.hostkeys-pending');
}

/** The host key types a provisioning left to make (only known type names; anything else in the file is ignored). */
export function pendingHostKeyTypes(config: Config): string[] {
  try {
    return readFileSync(hostKeysPendingPath(config), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((t) => ['rsa', 'dsa', 'ecdsa', 'ed25519'].includes(t));
  } catch {
    return [];
  }
}

export function clearHostKeysPending(config: Config): void {
  rmSync(hostKeysPendingPath(config), { force: true });
}

/** Whether a provisioning finished its work but was stopped before the Ready report reached the platform. */
export function isReadyPending(config: Config): boolean {
  return existsSync(readyPendingPath(config));
}

export function clearReadyPending(config: Config): void {
  rmSync(readyPendingPath(config), { force: true });
}

/** ProvisionGuestAgent=false (§4.2): an empty disable_agent file; true removes nothing (the Python agent neither). */
export function writeDisableAgent(config: Config): void {
  writeFileAtomic(disableAgentPath(config), '', { mode: 0o644, mkdir: true });
}

export function isAgentDisabled(config: Config): boolean {
  return existsSync(disableAgentPath(config));
}
