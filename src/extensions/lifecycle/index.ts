// The handler lifecycle (docs/protocol.md §5.9) and one iteration of the ExtHandler loop (§7.1): the public face.
export { ExtensionsProcessor, sortItems, DEPENDENCY_POLL_MS, DEPENDENCY_TIMEOUT_MS } from './process.ts';
export type { GoalStateOutcome, ProcessResult, ProcessorOptions, ReportedHandler } from './process.ts';
export { ExtensionsGoalStateSelector, fromExtensionsConfig, fromVmSettings, type ExtensionsGoalState } from './source.ts';
export { ExtHandlerCycle, type CycleDeps, type FetchedGoalState, type StatusReport } from './cycle.ts';
export { createLifecyclePorts, type AdapterOptions } from './adapters.ts';
export { collectHandlerStatuses, type CollectOptions } from './report.ts';
export { CODE } from './codes.ts';
export type * from './ports.ts';
