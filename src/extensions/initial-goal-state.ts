// The initial goal state (docs/protocol.md §7.1): until all extensions of the first goal state reach a terminal
// state the loop polls every Extensions.InitialGoalStatePeriod; then it writes <lib>/initial_goal_state (the
// extensions summary) and switches to Extensions.GoalStatePeriod. A new goal state that arrives before the first
// one converged also completes it, as upstream does. The file survives restarts: with it present, the loop starts
// on the regular period.
import { OPERATION } from '../telemetry/event.ts';
import { telemetry } from '../telemetry/recorder.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import { describeError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';
import type { HandlerStatus } from '../status/types.ts';

export const INITIAL_GOAL_STATE_FILE = 'initial_goal_state';

/** Terminal statuses: an extension's success / error, or the handler's Ready / NotReady when it has none. */
const TERMINAL = new Set(['success', 'error', 'Ready', 'NotReady']);

export interface ExtensionsSummary {
  /** (name, status) sorted by name: the extension's status when there is one, else the handler's. */
  entries: Array<[string, string]>;
  converged: boolean;
}

export function summarizeExtensions(handlers: readonly HandlerStatus[]): ExtensionsSummary {
  const entries: Array<[string, string]> = [];
  for (const h of handlers) {
    if (h.extensions.length === 0) entries.push([h.name, h.status]);
    for (const e of h.extensions) entries.push([e.name, e.status]);
  }
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { entries, converged: entries.every(([, s]) => TERMINAL.has(s)) };
}

/** The summary as the Python agent writes it (str of a list of tuples), e.g. `[('A.B', 'success')]`. */
export function formatSummary(s: ExtensionsSummary): string {
  const q = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return `[${s.entries.map(([n, st]) => `(${q(n)}, ${q(st)})`).join(', ')}]`;
}

export class InitialGoalState {
  readonly #file: string;
  readonly #initialMs: number;
  readonly #regularMs: number;
  #pending: boolean;
  /** The last summary reported; null before the first report after a new goal state. */
  #last: ExtensionsSummary | null = null;
  #processed = false;

  constructor(config: Config, libDir: string) {
    this.#file = join(libDir, INITIAL_GOAL_STATE_FILE);
    this.#regularMs = config.int('Extensions.GoalStatePeriod') * 1000;
    this.#initialMs = config.int('Extensions.InitialGoalStatePeriod') * 1000;
    // Extensions disabled: nothing will converge, so the regular period from the start.
    this.#pending = config.bool('Extensions.Enabled') && !existsSync(this.#file);
  }

  /** The period until the next cycle. */
  periodMs(): number {
    return this.#pending ? this.#initialMs : this.#regularMs;
  }

  get pending(): boolean {
    return this.#pending;
  }

  /** A new extensions goal state is about to be processed. */
  onNewGoalState(): void {
    if (this.#last && !this.#last.converged) {
      const message = `A new goal state was received, but not all the extensions in the previous goal state have completed: ${formatSummary(this.#last)}`;
      log.warn(message);
      // upstream ga/update.py _process_goal_state
      telemetry.addEvent({ op: OPERATION.goalState, isSuccess: false, message }, { logEvent: false });
      if (this.#pending) this.#complete(this.#last);
    }
    this.#last = null;
    this.#processed = true;
  }

  /** The handler statuses reported this cycle. */
  onStatus(handlers: readonly HandlerStatus[]): void {
    if (!this.#processed) return;
    const s = summarizeExtensions(handlers);
    const text = formatSummary(s);
    if (this.#last && formatSummary(this.#last) === text) return;
    this.#last = s;
    // upstream ga/update.py _report_extensions_summary: each change of the summary is a GoalState event
    log.info(`extension status: ${text}`);
    telemetry.addEvent({ op: OPERATION.goalState, isSuccess: true, message: `Extension status: ${text}` });
    if (!s.converged) return;
    log.info(`all extensions in the goal state have reached a terminal state: ${text}`);
    telemetry.addEvent({
      op: OPERATION.goalState,
      isSuccess: true,
      message: `All extensions in the goal state have reached a terminal state: ${text}`,
    });
    if (this.#pending) this.#complete(s);
  }

  #complete(s: ExtensionsSummary): void {
    try {
      writeFileAtomic(this.#file, formatSummary(s), { mode: 0o644, mkdir: true });
    } catch (e) {
      log.warn(`cannot write ${this.#file}: ${describeError(e)}`);
    }
    this.#pending = false;
    if (this.#initialMs !== this.#regularMs)
      log.info(`initial goal state completed, switched the goal state period to ${this.#regularMs / 1000} s`);
  }
}
