// The plain values the status blob is built from (docs/protocol.md §5.11, §6.1). Extension status files are
// read into ExtensionStatus (src/extensions/status-file.ts); the lifecycle code adds the handler-level fields.

/** status.status values an extension may report (§5.11); anything else is reported as 'error'. */
export type ExtensionStatusValue = 'transitioning' | 'warning' | 'error' | 'success';
export const EXTENSION_STATUS_VALUES: readonly ExtensionStatusValue[] = ['transitioning', 'warning', 'error', 'success'];

export interface SubStatus {
  /** The extension's own text; null when absent. */
  readonly name: string | null;
  readonly status: ExtensionStatusValue;
  /** As the extension wrote it (a number, or a numeric string in some extensions). */
  readonly code: number | string;
  readonly message: string | null;
}

/** One extension's status as read from `<seq>.status` (or made up by the agent when it is missing or bad). */
export interface ExtensionStatus {
  /** Handler name (single-config) or extension name (multi-config). */
  readonly name: string;
  readonly sequenceNumber: number;
  readonly configurationAppliedTime: string | null;
  readonly operation: string | null;
  readonly status: ExtensionStatusValue;
  readonly code: number | string;
  readonly message: string | null;
  readonly substatus: readonly SubStatus[];
}

/** One handler as the lifecycle code knows it (its HandlerStatus file, §5.7) plus its extensions' statuses. */
export interface HandlerStatus {
  /** Publisher.Type */
  readonly name: string;
  readonly version: string;
  /** Ready | NotReady | Unresponsive | … */
  readonly status: string;
  readonly code: number;
  /** null: no formattedMessage is sent (§6.1). */
  readonly message: string | null;
  readonly isMultiConfig: boolean;
  /** Single-config: zero or one; multi-config: one per extension (each becomes its own entry, §6.1). */
  readonly extensions: readonly ExtensionStatus[];
}

/** guestAgentStatus.updateStatus (RSM / versioning only, §7.2). */
export interface AgentUpdateStatus {
  readonly expectedVersion: string;
  /** Success | Transitioning | Error */
  readonly status: string;
  readonly code: number;
  readonly message: string;
}

/** vmArtifactsAggregateStatus.goalStateAggregateStatus: how the last goal state went (§6.1). */
export interface GoalStateAggregateStatus {
  /** Success | Failed */
  readonly status: string;
  readonly code: number;
  readonly message: string;
  /** The incarnation, or the vmSettings inSvdSeqNo, as text. */
  readonly inSvdSeqNo: string;
  /** When the goal state was processed. */
  readonly timestamp: Date;
}

export interface SupportedFeature {
  readonly Key: string;
  readonly Value: string;
}
