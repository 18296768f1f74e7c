// The status blob (docs/protocol.md §6): building the document and uploading it every cycle.
export * from './types.ts';
export { agentSupportedFeatures, buildAggregateStatus, formatAggregateStatus, statusTimestamp, type AggregateStatusDocument, type AggregateStatusInput, type OsInfo } from './aggregate.ts';
export { uploadStatus, type UploadOutcome, type UploadStatusOptions } from './upload.ts';
