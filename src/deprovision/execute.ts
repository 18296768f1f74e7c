// Runs a deprovision plan's actions (docs/protocol.md §8.1). A failed action is logged and the rest still run:
// a half-cleaned image is worse than one with a single leftover, and the caller reports the failures.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import { AgentError, describeError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';
import { setDhcpHostname } from '../os/dhcp-hostname.ts';
import type { DistroProfile } from '../os/distro-profile.ts';
import { run, which } from '../os/exec.ts';
import { setHostname } from '../provisioning/hostname.ts';
import { deleteRootPassword } from '../provisioning/root-password.ts';
import { lookupUser, readUidMin } from '../os/user.ts';
import { emptyDirs, removeFiles } from './files.ts';
import { DEPROVISIONED_MARKER, describeAction, type DeprovisionAction } from './plan.ts';

export interface ExecuteOptions {
  /** present when systemd is PID 1; default /run/systemd/system */
  systemdMarker?: string;
  /** default DEPROVISIONED_MARKER */
  deprovisionedMarker?: string;
}

async function stopService(unit: string, opts: ExecuteOptions): Promise<void> {
  const systemd = existsSync(opts.systemdMarker ?? '/run/systemd/system');
  // first the marker that keeps the unit from starting again until the next boot, then the stop
  if (systemd)
    writeFileAtomic(opts.deprovisionedMarker ?? DEPROVISIONED_MARKER, 'deprovisioned; the agent starts again at the next boot\n', {
      mode: 0o644,
      mkdir: true,
    });
  const argv = systemd ? ['systemctl', 'stop', unit] : (await which('service')) ? ['service', unit, 'stop'] : null;
  if (argv === null) return;
  // Not running, or not installed: nothing to stop (the Python agent ignores the outcome too).
  const r = await run(argv, { allowFailure: true, timeoutMs: 60_000 });
  if (r.code !== 0) log.info(`${argv.join(' ')} exited with code ${r.code}; continuing`);
}

/** The sudoers drop-in without the user's rules (lines whose first word is the name). */
export function withoutSudoersUser(text: string, user: string): string {
  const kept = text.split('\n').filter((l) => l.trim().split(/\s+/)[0] !== user);
  return kept.join('\n');
}

async function deleteUser(config: Config, name: string): Promise<void> {
  const user = await lookupUser(name);
  if (user !== null) {
    const uidMin = readUidMin();
    if (user.uid < uidMin) {
      throw new AgentError('provisioning', `refusing to delete the system user ${name} (uid ${user.uid} is below UID_MIN ${uidMin})`, {
        user: name,
      });
    }
    // userdel refuses without a utmp file on some distros
    await run(['touch', '/var/run/utmp'], { allowFailure: true, timeoutMs: 5000 });
    await run(['userdel', '-f', '-r', name], { timeoutMs: 60_000 });
  } else {
    log.warn(`the user ${name} does not exist; only its sudo rule is removed`);
  }
  const sudoers = join(config.str('OS.SudoersDir'), 'waagent');
  let text: string;
  try {
    text = readFileSync(sudoers, 'utf8');
  } catch {
    return;
  }
  const next = withoutSudoersUser(text, name);
  if (next !== text) writeFileAtomic(sudoers, next, { mode: 0o440 });
}

async function runAction(config: Config, profile: DistroProfile, a: DeprovisionAction, opts: ExecuteOptions): Promise<void> {
  switch (a.kind) {
    case 'stop-service':
      return stopService(a.unit, opts);
    case 'remove-files':
      for (const p of removeFiles(a.globs)) log.verbose(`removed ${p}`);
      return;
    case 'empty-dirs':
      for (const p of emptyDirs(a.dirs)) log.verbose(`removed ${p}`);
      return;
    case 'reset-hostname':
      await setHostname(a.hostname, { profile, systemdMarker: opts.systemdMarker });
      setDhcpHostname(profile.dhcpHostname, a.dhcpHostname);
      return;
    case 'lock-root':
      return deleteRootPassword(config);
    case 'delete-user':
      return deleteUser(config, a.user);
  }
}

/** Runs every action; returns the failures as one sentence each (empty when all went well). */
export async function executePlan(
  config: Config,
  profile: DistroProfile,
  actions: readonly DeprovisionAction[],
  opts: ExecuteOptions = {},
): Promise<string[]> {
  const failures: string[] = [];
  for (const a of actions) {
    const what = describeAction(a);
    log.info(`deprovision: ${what}`);
    try {
      await runAction(config, profile, a, opts);
    } catch (e) {
      const msg = `cannot ${what}: ${describeError(e)}`;
      log.error(msg);
      failures.push(msg);
    }
  }
  return failures;
}
