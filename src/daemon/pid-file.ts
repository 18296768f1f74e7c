// The daemon's pid file (docs/protocol.md §7.1, Pid.File): one daemon at a time. A pid file naming a live
// waagent process refuses the start; a stale one (dead pid, or a pid reused by another program) is replaced.
import { readFileSync, unlinkSync } from 'node:fs';
import { AgentError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether pid runs waagent (ours or the Python agent): its command line names it. */
export function isWaagent(pid: number, procDir: string): boolean {
  try {
    return /waagent/i.test(readFileSync(`${procDir}/${pid}/cmdline`, 'latin1'));
  } catch {
    return false;
  }
}

export interface PidFile {
  path: string;
  release(): void;
}

export function acquirePidFile(path: string, procDir = '/proc'): PidFile {
  let text = '';
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch {
    /* none yet */
  }
  const other = Number.parseInt(text, 10);
  if (Number.isInteger(other) && other > 0 && other !== process.pid && isAlive(other) && isWaagent(other, procDir)) {
    throw new AgentError('command', `another waagent daemon is running (pid ${other}, from ${path})`, { path, pid: other });
  }
  if (text) log.info(`replacing the stale pid file ${path} (pid ${text} is not a running waagent)`);
  writeFileAtomic(path, `${process.pid}\n`, { mode: 0o644, mkdir: true });
  return {
    path,
    release() {
      try {
        if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
      } catch {
        /* gone already */
      }
    },
  };
}
