// Makes sshd run with its new configuration and host keys (docs/protocol.md §4.4 step 12), bounded in time: through
// systemd when it is PID 1 (the profile's unit, started when it failed), else SIGHUP to the listening sshd (which
// re-executes itself); nothing when no sshd runs outside systemd.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { log } from '../log/logger.ts';
import { AgentError } from '../util/errors.ts';
import type { DistroProfile } from '../os/distro-profile.ts';
import { run } from '../os/exec.ts';

export interface ReloadOptions {
  /** default /proc */
  procDir?: string;
  /** present when systemd is PID 1 (sd_booted); default /run/systemd/system */
  systemdMarker?: string;
  timeoutMs?: number;
  /** the distro profile naming the ssh unit and its restart command */
  profile: DistroProfile;
}

/** systemd: reloaded; started: a failed or enabled-but-stopped unit was started; signal: SIGHUP without systemd */
export type ReloadOutcome = 'systemd' | 'started' | 'signal' | 'not-running';

function comm(procDir: string, pid: string): string | null {
  try {
    return readFileSync(join(procDir, pid, 'comm'), 'utf8').trim();
  } catch {
    return null;
  }
}

function parentPid(procDir: string, pid: string): string | null {
  try {
    // stat: "pid (comm) state ppid …"; comm may contain spaces and parentheses, so split after the last ')'.
    const stat = readFileSync(join(procDir, pid, 'stat'), 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] ?? null;
  } catch {
    return null;
  }
}

/** The listening sshd processes: named sshd, with a parent that is not an sshd (per-connection children are). */
export function findSshdListeners(procDir = '/proc'): number[] {
  let pids: string[];
  try {
    pids = readdirSync(procDir).filter((n) => /^\d+$/.test(n));
  } catch {
    return [];
  }
  return pids
    .filter((p) => comm(procDir, p) === 'sshd')
    .filter((p) => {
      const pp = parentPid(procDir, p);
      return pp === null || comm(procDir, pp) !== 'sshd';
    })
    .map(Number);
}

/**
 * Under systemd, the profile's ssh unit: reloaded (the profile's restart command) when it is active; reset and
 * started when it is not. A golden image's first boot needs the start: ssh.service runs before the agent made host
 * keys, fails ("sshd: no hostkeys available") and stays failed, so a reload alone would leave the VM unreachable.
 * A unit that cannot be started is an error; a unit the image disabled is left alone.
 */
async function reloadThroughSystemd(profile: DistroProfile, timeoutMs: number): Promise<ReloadOutcome> {
  const unit = profile.sshdService;
  if (unit === null) return 'not-running'; // Flatcar: sshd is socket-activated, each connection reads the keys anew
  const service = `${unit}.service`;
  const quiet = async (argv: string[]) => (await run(argv, { allowFailure: true, timeoutMs: 3000 }).catch(() => null))?.code === 0;
  if (await quiet(['systemctl', 'is-active', '--quiet', service])) {
    await run(profile.sshdRestart ?? ['systemctl', 'try-reload-or-restart', service], { timeoutMs });
    log.info(`sshd reloaded through systemd (${service})`);
    return 'systemd';
  }
  const failed = await quiet(['systemctl', 'is-failed', '--quiet', service]);
  if (!failed && !(await quiet(['systemctl', 'is-enabled', '--quiet', service]))) return 'not-running';
  if (failed) await run(['systemctl', 'reset-failed', service], { allowFailure: true, timeoutMs });
  const started = await run(['systemctl', 'start', service], { allowFailure: true, timeoutMs });
  if (started.code !== 0) {
    throw new AgentError('command', `sshd could not be started with the new host keys: systemctl start ${service} exited ${started.code}`, {
      unit: service,
      stderr: started.stderr.trim().slice(0, 500),
    });
  }
  log.info(`sshd started through systemd (${service}${failed ? ', it had failed before the host keys existed' : ''})`);
  return 'started';
}

export async function reloadSshd(opts: ReloadOptions): Promise<ReloadOutcome> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  if (existsSync(opts.systemdMarker ?? '/run/systemd/system')) return reloadThroughSystemd(opts.profile, timeoutMs);
  const pids = findSshdListeners(opts.procDir);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGHUP');
    } catch (e) {
      log.warn(`cannot signal sshd (pid ${pid}): ${(e as Error).message}`);
    }
  }
  if (pids.length > 0) log.info(`sshd reloaded with SIGHUP (pid ${pids.join(', ')})`);
  return pids.length > 0 ? 'signal' : 'not-running';
}
