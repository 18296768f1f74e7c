// SIGTERM / SIGINT for the daemon: they set a flag the loop checks between steps and wake every wait (the loop's,
// and the HTTP client's retry back-off, see SessionOptions.stop), so the step running now finishes (a handler
// command, a file write) and the daemon then exits cleanly (§7.1).
import { log } from '../log/logger.ts';

export class StopSignal {
  #stopped = false;
  readonly #wakers = new Set<() => void>();
  readonly #handler = (signal: NodeJS.Signals) => {
    if (!this.#stopped) log.info(`${signal} received: stopping after the current step`);
    this.stop();
  };

  get stopped(): boolean {
    return this.#stopped;
  }

  stop(): void {
    this.#stopped = true;
    for (const wake of [...this.#wakers]) wake();
  }

  install(): void {
    process.on('SIGTERM', this.#handler);
    process.on('SIGINT', this.#handler);
  }

  uninstall(): void {
    process.off('SIGTERM', this.#handler);
    process.off('SIGINT', this.#handler);
  }

  /** Resolves after ms (Infinity: only when stopped), or at once when stopped. Any number of waits at a time. */
  wait(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      // An endless wait still needs a live timer: signal handlers alone do not keep Node's event loop running,
      // and the process would end at once, leaving its pid file behind.
      const timer = Number.isFinite(ms) ? setTimeout(done, Math.min(ms, 2 ** 31 - 1)) : setInterval(() => {}, 2 ** 30);
      const wakers = this.#wakers;
      function done() {
        clearTimeout(timer);
        wakers.delete(done);
        resolve();
      }
      wakers.add(done);
    });
  }
}
