// The runner of the daemon's periodic duties (docs/protocol.md §7.1 "Env" and "Monitor" threads, §8.5–§8.7), run
// one at a time in the daemon's single process: each task has a period and runs when due. A task that throws is
// logged and retried at its next period; a task never holds up the others for longer than its own run. Here, below
// os, so that a duty's task can be built wherever its parts live; the duties themselves are in src/daemon/.
import { describeError } from './errors.ts';
import { log } from '../log/logger.ts';
import { monotonicNow } from './clock.ts';

export interface PeriodicTask {
  name: string;
  periodMs: number;
  /** The first run comes this long after start (default: at once). */
  firstAfterMs?: number;
  run(): Promise<void>;
}

export class PeriodicTasks {
  readonly #tasks: Array<{ task: PeriodicTask; due: number; failures: number }> = [];
  readonly #now: () => number;

  constructor(tasks: PeriodicTask[], now: () => number = monotonicNow) {
    this.#now = now;
    for (const task of tasks) this.#tasks.push({ task, due: now() + (task.firstAfterMs ?? 0), failures: 0 });
  }

  get names(): string[] {
    return this.#tasks.map((t) => t.task.name);
  }

  /** Runs every task that is due; returns the time until the next one is due (ms). */
  async runDue(stopped: () => boolean = () => false): Promise<number> {
    for (const t of this.#tasks) {
      if (stopped()) break;
      if (this.#now() < t.due) continue;
      try {
        await t.task.run();
        t.failures = 0;
      } catch (e) {
        t.failures++;
        // the same error every 30 s would flood the log: say it the first time and then every 10th
        if (t.failures === 1 || t.failures % 10 === 0) log.warn(`${t.task.name}: ${describeError(e)} (failure ${t.failures})`);
      }
      t.due = this.#now() + t.task.periodMs;
    }
    return this.nextDueIn();
  }

  nextDueIn(): number {
    if (this.#tasks.length === 0) return Number.POSITIVE_INFINITY;
    return Math.max(0, Math.min(...this.#tasks.map((t) => t.due)) - this.#now());
  }
}
