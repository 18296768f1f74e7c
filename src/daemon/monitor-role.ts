// The heartbeats and health observations of upstream's monitor thread go out once per VM, whichever process runs the
// goal-state loop: -daemon (the loop in-process), or -run-exthandlers on its own. Both may run at once (an operator
// starting -run-exthandlers beside the service), so the role is held through a file naming the holder's pid,
// `<Lib.Dir>/waagent-monitor.pid`: a process sends only while the file names it; a file naming a dead process, or one
// that is not waagent, is taken over, so the role passes on when its holder stops. The holder checks the file at each
// run, so two processes that took a stale file at the same instant overlap for one period at most.
import { openSync, readFileSync, closeSync, writeSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { log } from '../log/logger.ts';
import { describeError } from '../util/errors.ts';
import { isAlive, isWaagent } from './pid-file.ts';

export const MONITOR_PID_FILE = 'waagent-monitor.pid';

export class MonitorRole {
  readonly path: string;
  readonly #procDir: string;
  readonly #pid: number;
  /** What the last claim found (null before the first): the change is logged, not every check. */
  #held: boolean | null = null;

  constructor(libDir: string, opts: { procDir?: string; pid?: number } = {}) {
    this.path = join(libDir, MONITOR_PID_FILE);
    this.#procDir = opts.procDir ?? '/proc';
    this.#pid = opts.pid ?? process.pid;
  }

  #holder(): number | null {
    try {
      const pid = Number.parseInt(readFileSync(this.path, 'utf8').trim(), 10);
      return Number.isInteger(pid) && pid > 0 ? pid : null;
    } catch {
      return null;
    }
  }

  /** Whether this process holds the role now, taking it when it is free or its holder is gone. */
  claim(): boolean {
    const holder = this.#holder();
    if (holder === this.#pid) return this.#note(true);
    if (holder !== null && isAlive(holder) && isWaagent(holder, this.#procDir)) return this.#note(false, holder);
    try {
      // free (absent), stale or unreadable: out of the way first
      unlinkSync(this.path);
    } catch {
      /* absent, or someone else removed it first */
    }
    try {
      // O_EXCL: of two processes taking a free role at once, one creates the file, the other sees it exists.
      const fd = openSync(this.path, 'wx', 0o644);
      try {
        writeSync(fd, `${this.#pid}\n`);
      } finally {
        closeSync(fd);
      }
      return this.#note(true);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return this.#note(this.#holder() === this.#pid, this.#holder());
      log.warn(`cannot take the monitor role (${this.path}): ${describeError(e)}`);
      return this.#note(false);
    }
  }

  #note(held: boolean, other?: number | null): boolean {
    if (held !== this.#held) {
      if (held) log.info(`this process (pid ${this.#pid}) sends the heartbeats and health observations (${this.path})`);
      else log.info(`the heartbeats and health observations are sent by pid ${other ?? '?'}, not by this process`);
    }
    this.#held = held;
    return held;
  }

  /** Gives the role up (at exit) when this process holds it. */
  release(): void {
    try {
      if (this.#holder() === this.#pid) unlinkSync(this.path);
    } catch {
      /* gone already */
    }
    this.#held = false;
  }
}
