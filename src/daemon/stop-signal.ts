// SIGTERM / SIGINT for the daemon: they set a flag the loop checks between steps and wake any wait, so the step
// running now finishes (a handler command, a file write) and the daemon then exits cleanly (§7.1).
import { log } from '../log/logger.ts';

export class StopSignal {
  #stopped = false;
  #wake: (() => void) | null = null;
  readonly #handler = (signal: NodeJS.Signals) => {
    if (!this.#stopped) log.info(`${signal} received: stopping after the current step`);
    this.stop();
  };

  get stopped(): boolean {
    return this.#stopped;
  }

  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }

  install(): void {
    process.on('SIGTERM', this.#handler);
    process.on('SIGINT', this.#handler);
  }

  uninstall(): void {
    process.off('SIGTERM', this.#handler);
    process.off('SIGINT', this.#handler);
  }

  /** Resolves after ms, or at once when stopped. */
  wait(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(done, Math.min(ms, 2 ** 31 - 1)) : null;
      const self = this;
      function done() {
        if (timer) clearTimeout(timer);
        self.#wake = null;
        resolve();
      }
      this.#wake = done;
    });
  }
}
