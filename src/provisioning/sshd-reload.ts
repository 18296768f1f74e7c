// Makes a running sshd read its new configuration (docs/protocol.md §4.4 step 12), bounded in time: through
// systemd when it is PID 1, else SIGHUP to the listening sshd (which re-executes itself). Nothing when it is not running.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { log } from '../log/logger.ts';
import { run } from '../os/exec.ts';

export interface ReloadOptions {
  /** default /proc */
  procDir?: string;
  /** present when systemd is PID 1 (sd_booted); default /run/systemd/system */
  systemdMarker?: string;
  timeoutMs?: number;
}

export type ReloadOutcome = 'systemd' | 'signal' | 'not-running';

const UNITS = ['ssh.service', 'sshd.service']; // Debian/Ubuntu name the unit ssh, the others sshd

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

export async function reloadSshd(opts: ReloadOptions = {}): Promise<ReloadOutcome> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  if (existsSync(opts.systemdMarker ?? '/run/systemd/system')) {
    for (const unit of UNITS) {
      const active = await run(['systemctl', 'is-active', '--quiet', unit], { allowFailure: true, timeoutMs: 3000 }).catch(() => null);
      if (active?.code !== 0) continue;
      await run(['systemctl', '--job-mode=ignore-dependencies', 'try-reload-or-restart', unit], { timeoutMs });
      log.info(`sshd reloaded through systemd (${unit})`);
      return 'systemd';
    }
    return 'not-running';
  }
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
