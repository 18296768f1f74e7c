// The goal-state cycle's telemetry, as upstream 2.15 sends it (ga/update.py _try_update_goal_state and
// _report_status, ga/exthandlers.py run and report_ext_handlers_status, common/protocol/goal_state.py update,
// common/protocol/wire.py upload_status_blob), with upstream's operation names and messages and its bounds on
// repeated failures:
//   - FetchGoalState: the first 3 consecutive fetch errors at once, then one every 6 hours while it keeps failing,
//     and "recovered" once it works again;
//   - GoalState: each new WireServer incarnation and each new vmSettings;
//   - ExtensionProcessing: each new extensions goal state, started and completed/failed with its duration;
//     GoalStateUnsupportedFeatures when it needs a feature we lack;
//   - ReportStatus (fallback to the direct upload, the direct upload failing): only when the outcome changes
//     (the recorder's event status), and each message at most once per 15 minutes; "Failed to report vm agent status" (ExtensionProcessing) at most once per
//     15 minutes for the same error (upstream sends it every cycle; bounded here as the issue asks), and
//     ReportStatusExtended after 15 minutes of failures, again every 15 minutes while they go on (upstream ErrorState).
import { monotonicNow } from '../util/clock.ts';
import { log } from '../log/logger.ts';
import { OPERATION } from '../telemetry/event.ts';
import { telemetry as defaultRecorder, type TelemetryRecorder } from '../telemetry/recorder.ts';
import { describeError } from '../util/errors.ts';
import type { ExtensionsGoalState } from './lifecycle/source.ts';
import { ticksToDate } from '../fabric/documents/index.ts';

/** upstream _try_update_goal_state max_errors_to_log */
export const FETCH_ERRORS_REPORTED_AT_ONCE = 3;
export const FETCH_ERROR_REPORT_PERIOD_MS = 6 * 3600_000;
/** upstream errorstate.ERROR_STATE_DELTA_DEFAULT */
export const REPORT_STATUS_ERROR_STATE_MS = 15 * 60_000;

/** Python's str(timedelta) for whole minutes below a day: H:MM:SS. */
function pythonTimedelta(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

export class GoalStateEvents {
  readonly #rec: TelemetryRecorder;
  readonly #now: () => number;
  #fetchErrors = 0;
  #nextFetchErrorReport = 0;
  /** upstream ErrorState of report_ext_handlers_status: when the current run of status failures began. */
  #statusFailingSince: number | null = null;

  constructor(recorder: TelemetryRecorder = defaultRecorder, now: () => number = monotonicNow) {
    this.#rec = recorder;
    this.#now = now;
  }

  /** upstream event.error: logged at ERROR, then sent without the extra `Event:` line. */
  #error(op: string, message: string): void {
    log.error(message);
    this.#rec.addEvent({ op, isSuccess: false, message }, { logEvent: false });
  }

  /** upstream event.info: logged, then sent. */
  #info(op: string, message: string): void {
    log.info(message);
    this.#rec.addEvent({ op, isSuccess: true, message });
  }

  fetchFailed(e: unknown): void {
    this.#fetchErrors++;
    this.#rec.noteGoalStateError();
    if (this.#fetchErrors <= FETCH_ERRORS_REPORTED_AT_ONCE) {
      this.#nextFetchErrorReport = this.#now();
      this.#error(OPERATION.fetchGoalState, `Error fetching the goal state: ${describeError(e)}`);
    } else if (this.#now() >= this.#nextFetchErrorReport) {
      this.#nextFetchErrorReport = this.#now() + FETCH_ERROR_REPORT_PERIOD_MS;
      this.#error(OPERATION.fetchGoalState, `Fetching the goal state is still failing: ${describeError(e)}`);
    }
  }

  /** The goal state was fetched; `id` is the current extensions goal state's, `certificates` the summary of its certificates. */
  fetched(id: string | null, certificates: string): void {
    if (this.#fetchErrors === 0) return;
    this.#info(
      OPERATION.fetchGoalState,
      `Fetching the goal state recovered from previous errors. Fetched ${id ?? 'no extensions goal state'} (certificates: ${certificates})`,
    );
    this.#fetchErrors = 0;
  }

  newIncarnation(incarnation: string): void {
    this.#info(OPERATION.goalState, `Fetched a new incarnation for the WireServer goal state [incarnation ${incarnation}]`);
  }

  newVmSettings(correlationId: string, etag: string, source: string): void {
    this.#info(
      OPERATION.goalState,
      `Fetched new vmSettings [HostGAPlugin correlation ID: ${correlationId} eTag: ${etag} source: ${source}]`,
    );
  }

  vmSettingsFromFabric(): void {
    this.#info(OPERATION.goalState, 'The vmSettings originated via Fabric; will ignore them.');
  }

  processingStarted(gs: ExtensionsGoalState): void {
    const created = ticksToDate(gs.createdOnTicks).toISOString();
    this.#info(
      OPERATION.extensionProcessing,
      `ProcessExtensionsGoalState started [${gs.id} channel: ${gs.channel} source: ${gs.source} activity: ${gs.activityId} correlation ${gs.correlationId} created: ${created}]`,
    );
  }

  /** `error` is null when the processing ran to its end (handler failures are their own events and statuses). */
  processingDone(gs: ExtensionsGoalState, durationMs: number, error: unknown): void {
    const ms = Math.round(durationMs);
    const ok = error === null || error === undefined;
    const message = ok
      ? `ProcessExtensionsGoalState completed [${gs.id} ${ms} ms]\n`
      : `ProcessExtensionsGoalState failed [${gs.id} ${ms} ms]\nError processing extensions:${describeError(error)}`;
    if (ok) log.info(message.trimEnd());
    else log.error(message);
    this.#rec.addEvent({ op: OPERATION.extensionProcessing, isSuccess: ok, message, durationMs: ms }, { logEvent: false });
  }

  /** upstream __process_and_handle_extensions: an unexpected error, already logged, in the goal state's aggregate status. */
  processingError(message: string): void {
    this.#rec.addEvent({ op: OPERATION.extensionProcessing, isSuccess: false, message }, { logEvent: false });
  }

  unsupportedFeatures(message: string): void {
    this.#rec.addEvent({ op: OPERATION.goalStateUnsupportedFeatures, isSuccess: false, message }, { logEvent: false });
  }

  /** From the status upload (upstream report_status_event): the HostGAPlugin failed and the direct route is tried, or that failed too. */
  statusUploadEvent(message: string, isSuccess: boolean): void {
    // upstream sends these when the outcome changes (the recorder's event status); when both routes fail every
    // cycle the two alternate, so each is also held to once per 15 minutes
    this.#rec.addPeriodic(REPORT_STATUS_ERROR_STATE_MS, { op: OPERATION.reportStatus, isSuccess, message }, { logEvent: !isSuccess });
  }

  statusReported(): void {
    this.#statusFailingSince = null;
  }

  statusFailed(e: unknown): void {
    const now = this.#now();
    this.#statusFailingSince ??= now;
    this.#rec.addPeriodic(REPORT_STATUS_ERROR_STATE_MS, {
      op: OPERATION.extensionProcessing,
      isSuccess: false,
      message: `Failed to report vm agent status: ${describeError(e)}`,
    });
    if (now - this.#statusFailingSince >= REPORT_STATUS_ERROR_STATE_MS) {
      this.#rec.addEvent({
        op: OPERATION.reportStatusExtended,
        isSuccess: false,
        message: `Failed to report vm agent status for more than ${pythonTimedelta(REPORT_STATUS_ERROR_STATE_MS)}`,
      });
      // upstream resets its ErrorState: the next failure starts a new 15 minutes
      this.#statusFailingSince = null;
    }
  }
}
