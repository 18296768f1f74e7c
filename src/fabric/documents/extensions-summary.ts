// The extensions goal state summary shared by ExtensionsConfig (docs/protocol.md §5.1) and
// vmSettings (§3.4). The extensions engineer extends these types; keep the two parsers in step.

export type StatusBlobType = 'BlockBlob' | 'PageBlob';

export interface StatusUploadBlob {
  /** null when the goal state carries no status blob. */
  readonly url: string | null;
  /** BlockBlob when missing or not one of the two known types (§10 item 10). */
  readonly type: StatusBlobType;
}

export interface GaFamily {
  readonly name: string;
  readonly version: string | null;
  readonly fromVersion: string | null;
  readonly isVersionFromRSM: boolean;
  readonly isVMEnabledForRSMUpgrades: boolean;
  readonly uris: readonly string[];
}

/** One settings object for one extension (single-config: named after the handler). */
export interface ExtensionSettings {
  readonly name: string;
  readonly seqNo: number;
  /** enabled | disabled (multi-config may disable one extension of a handler). */
  readonly state: string;
  /** 0 when there are no dependencies. */
  readonly dependencyLevel: number;
  /** An object; null when absent (§10 item 15: keep null, do not empty). */
  readonly publicSettings: unknown;
  readonly protectedSettings: string | null;
  readonly certificateThumbprint: string | null;
}

export interface ExtensionHandler {
  /** Publisher.Type */
  readonly name: string;
  readonly version: string;
  /** enabled | disabled | uninstall */
  readonly state: string;
  /** location, failover location, additional locations; non-empty ones only (§5.1). */
  readonly manifestUris: readonly string[];
  readonly autoUpgrade: boolean;
  readonly runAsStartupTask: boolean;
  readonly isJson: boolean;
  readonly useExactVersion: boolean;
  readonly encodedSignature: string | null;
  readonly isMultiConfig: boolean;
  readonly settings: readonly ExtensionSettings[];
  /**
   * Why the goal state for this handler is unusable (one sentence), or null. An invalid handler is
   * kept so that an error status is reported for it instead of CRP waiting 90 minutes (§10 item 17).
   */
  readonly invalidReason: string | null;
}

export interface GoalStateMetadata {
  readonly activityId: string;
  readonly correlationId: string;
  /** 100 ns ticks since 0001-01-01T00:00:00Z, exact (too large for a double). */
  readonly createdOnTicks: bigint;
  readonly createdOn: Date;
  readonly inSvdSeqNo: number | null;
}

export const GUID_ZERO = '00000000-0000-0000-0000-000000000000';

// Milliseconds from 0001-01-01T00:00:00Z to the Unix epoch.
const EPOCH_OFFSET_MS = 62_135_596_800_000n;

/** Ticks (100 ns since 0001-01-01 UTC) → Date, to the millisecond. */
export function ticksToDate(ticks: bigint): Date {
  return new Date(Number(ticks / 10_000n - EPOCH_OFFSET_MS));
}

/** Ticks from a string, integer or bigint; 0 (0001-01-01) when missing or not an integer. */
export function toTicks(v: unknown): bigint {
  if (typeof v === 'bigint') return v >= 0n ? v : 0n;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'string' && /^\s*\d+\s*$/.test(v)) return BigInt(v.trim());
  return 0n;
}

/** An id (activity / correlation); GUID_ZERO when missing or empty. */
export function toId(v: unknown): string {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : GUID_ZERO;
}

export function toStatusBlobType(v: unknown): StatusBlobType {
  return typeof v === 'string' && v.trim().toLowerCase() === 'pageblob' ? 'PageBlob' : 'BlockBlob';
}
