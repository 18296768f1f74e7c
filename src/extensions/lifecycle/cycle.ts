// One iteration of the ExtHandler loop (docs/protocol.md §7.1): fetch the goal state, process extensions when the
// extensions goal state id is new, and report status — ALWAYS, also when the fetch or the processing failed
// (§10 item 9: a stale status blob makes CRP think the agent is dead). Nothing here throws.
import type { StatusUploadBlob } from '../../fabric/documents/index.ts';
import { describeError } from '../../util/errors.ts';
import { log } from '../../log/logger.ts';
import { GoalStateEvents } from '../goal-state-events.ts';
import { CODE } from './codes.ts';
import type { GoalStateOutcome, ProcessResult, ReportedHandler } from './process.ts';
import { ExtensionsGoalStateSelector, type ExtensionsGoalState } from './source.ts';

export interface FetchedGoalState {
  /** The WireServer's extensions goal state when its incarnation changed (or on the first fetch), else null. */
  fabric: ExtensionsGoalState | null;
  /** A Fast Track vmSettings newly received, else null. */
  vmSettings: ExtensionsGoalState | null;
  /** The WireServer goal state's status blob (used when the selected goal state names none). */
  fabricStatusBlob: StatusUploadBlob | null;
  /** The goal state's certificates as upstream summarises them (for the "recovered" telemetry event). */
  certificatesSummary?: string;
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
  /** The telemetry events of the cycle (default: upstream's, through the agent's recorder). */
  events?: GoalStateEvents;
  /** Whether `process` will leave this goal state on hold (default: its onHold flag); no "started" event then. */
  onHold?(gs: ExtensionsGoalState): boolean;
}

export class ExtHandlerCycle {
  readonly #d: CycleDeps;
  readonly #selector = new ExtensionsGoalStateSelector();
  #processedId: string | null = null;
  #outcome: GoalStateOutcome | null = null;
  #handlers: readonly ReportedHandler[] = [];
  #blob: StatusUploadBlob = { url: null, type: 'BlockBlob' };
  readonly #events: GoalStateEvents;

  constructor(deps: CycleDeps) {
    this.#d = deps;
    this.#events = deps.events ?? new GoalStateEvents();
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
      this.#events.statusReported();
    } catch (e) {
      log.error(`the status could not be reported: ${describeError(e)}`);
      this.#events.statusFailed(e);
    }
    return fetched;
  }

  async #goalState(): Promise<void> {
    let fetched: FetchedGoalState;
    try {
      fetched = await this.#d.fetch();
    } catch (e) {
      this.#events.fetchFailed(e);
      throw e;
    }
    const gs = this.#selector.select(fetched.fabric, fetched.vmSettings);
    this.#events.fetched((gs ?? this.#selector.current)?.id ?? null, fetched.certificatesSummary ?? '[]');
    if (!gs) return;
    const blob = gs.statusUploadBlob.url !== null ? gs.statusUploadBlob : fetched.fabricStatusBlob;
    if (blob) this.#blob = blob;
    if (gs.id === this.#processedId) return;
    // Marked processed before running: a goal state that makes the agent fail is not retried in a loop (§7.1: a
    // new extensions goal state id triggers processing once); its errors are in the status.
    this.#processedId = gs.id;
    this.#d.onNewGoalState?.(gs);
    const started = performance.now();
    // on hold: upstream returns before its "started" event (exthandlers.py run, _extensions_on_hold)
    if (!(this.#d.onHold?.(gs) ?? gs.onHold)) this.#events.processingStarted(gs);
    let r: ProcessResult;
    try {
      r = await this.#d.process(gs);
    } catch (e) {
      this.#events.processingDone(gs, performance.now() - started, e);
      throw e;
    }
    if (r.outcome) {
      if (r.outcome.status === 'Failed') {
        if (r.outcome.code === CODE.unsupportedFeatures) this.#events.unsupportedFeatures(r.outcome.message);
        else this.#events.processingError(r.outcome.message);
      }
      this.#events.processingDone(gs, performance.now() - started, null);
    }
    this.#handlers = r.handlers;
    if (r.outcome) this.#outcome = r.outcome;
  }
}
