// One iteration of the ExtHandler loop (docs/protocol.md §7.1): fetch the goal state, process extensions when the
// extensions goal state id is new, and report status — ALWAYS, also when the fetch or the processing failed
// (§10 item 9: a stale status blob makes CRP think the agent is dead). Nothing here throws.
import type { StatusUploadBlob } from '../../fabric/documents/index.ts';
import { describeError } from '../../util/errors.ts';
import { log } from '../../log/logger.ts';
import type { GoalStateOutcome, ProcessResult, ReportedHandler } from './process.ts';
import { ExtensionsGoalStateSelector, type ExtensionsGoalState } from './source.ts';

export interface FetchedGoalState {
  /** The WireServer's extensions goal state when its incarnation changed (or on the first fetch), else null. */
  fabric: ExtensionsGoalState | null;
  /** A Fast Track vmSettings newly received, else null. */
  vmSettings: ExtensionsGoalState | null;
  /** The WireServer goal state's status blob (used when the selected goal state names none). */
  fabricStatusBlob: StatusUploadBlob | null;
}

export interface StatusReport {
  handlers: readonly ReportedHandler[];
  /** null until a goal state was processed. */
  goalState: GoalStateOutcome | null;
  blob: StatusUploadBlob;
  /** The current extensions goal state, or null before the first fetch. */
  current: ExtensionsGoalState | null;
}

export interface CycleDeps {
  fetch(): Promise<FetchedGoalState>;
  process(gs: ExtensionsGoalState): Promise<ProcessResult>;
  report(status: StatusReport): Promise<void>;
  /** A new extensions goal state is about to be processed (goal-state history). */
  onNewGoalState?(gs: ExtensionsGoalState): void;
}

export class ExtHandlerCycle {
  readonly #d: CycleDeps;
  readonly #selector = new ExtensionsGoalStateSelector();
  #processedId: string | null = null;
  #outcome: GoalStateOutcome | null = null;
  #handlers: readonly ReportedHandler[] = [];
  #blob: StatusUploadBlob = { url: null, type: 'BlockBlob' };

  constructor(deps: CycleDeps) {
    this.#d = deps;
  }

  /** The id of the last extensions goal state processed. */
  get processedId(): string | null {
    return this.#processedId;
  }

  /** True when the goal state was fetched (and processed, when new). */
  async iterate(): Promise<boolean> {
    let fetched = true;
    try {
      await this.#goalState();
    } catch (e) {
      fetched = false;
      log.error(`this cycle's goal state could not be processed: ${describeError(e)}`);
    }
    try {
      await this.#d.report({ handlers: this.#handlers, goalState: this.#outcome, blob: this.#blob, current: this.#selector.current });
    } catch (e) {
      log.error(`the status could not be reported: ${describeError(e)}`);
    }
    return fetched;
  }

  async #goalState(): Promise<void> {
    const fetched = await this.#d.fetch();
    const gs = this.#selector.select(fetched.fabric, fetched.vmSettings);
    if (!gs) return;
    const blob = gs.statusUploadBlob.url !== null ? gs.statusUploadBlob : fetched.fabricStatusBlob;
    if (blob) this.#blob = blob;
    if (gs.id === this.#processedId) return;
    // Marked processed before running: a goal state that makes the agent fail is not retried in a loop (§7.1: a
    // new extensions goal state id triggers processing once); its errors are in the status.
    this.#processedId = gs.id;
    this.#d.onNewGoalState?.(gs);
    const r = await this.#d.process(gs);
    this.#handlers = r.handlers;
    if (r.outcome) this.#outcome = r.outcome;
  }
}
