// Which document is the extensions goal state (docs/protocol.md §2.10, §3.4): ExtensionsConfig from the
// WireServer (id incarnation_<N>) or vmSettings from the HostGAPlugin (Fast Track, id etag_<ETag>).
import {
  GUID_ZERO,
  type ExtensionHandler,
  type ExtensionsConfig,
  type StatusUploadBlob,
  type VmSettings,
} from '../../fabric/documents/index.ts';
import { log } from '../../log/logger.ts';

export interface ExtensionsGoalState {
  /** incarnation_<N> or etag_<ETag>; a new id triggers extension processing. */
  id: string;
  source: 'Fabric' | 'FastTrack';
  /** Where it came from: the WireServer (ExtensionsConfig) or the HostGAPlugin (vmSettings). */
  channel: 'WireServer' | 'HostGAPlugin';
  /** The goal state's activity and correlation ids (GUID_ZERO when absent), for the telemetry events. */
  activityId: string;
  correlationId: string;
  /** What goalStateAggregateStatus.inSvdSeqNo reports: the incarnation, or vmSettings' inSvdSeqNo (§6.1). */
  inSvdSeqNo: string;
  createdOnTicks: bigint;
  handlers: readonly ExtensionHandler[];
  requiredFeatures: readonly string[];
  statusUploadBlob: StatusUploadBlob;
  /** vmSettings onHold; for Fabric, resolved from InVMArtifactsProfileBlob by the caller (§5.1). */
  onHold: boolean;
  /** Fabric only: the artifacts profile whose onHold flag applies. */
  artifactsProfileUrl: string | null;
}

export function fromExtensionsConfig(incarnation: string, ec: ExtensionsConfig | null): ExtensionsGoalState {
  return {
    id: `incarnation_${incarnation}`,
    source: 'Fabric',
    channel: 'WireServer',
    activityId: ec?.metadata.activityId ?? GUID_ZERO,
    correlationId: ec?.metadata.correlationId ?? GUID_ZERO,
    inSvdSeqNo: incarnation,
    createdOnTicks: ec?.metadata.createdOnTicks ?? 0n,
    handlers: ec?.handlers ?? [],
    requiredFeatures: ec?.requiredFeatures ?? [],
    statusUploadBlob: ec?.statusUploadBlob ?? { url: null, type: 'BlockBlob' },
    onHold: false,
    artifactsProfileUrl: ec?.inVmArtifactsProfileUrl ?? null,
  };
}

export function fromVmSettings(etag: string, vm: VmSettings): ExtensionsGoalState {
  return {
    id: `etag_${etag}`,
    // A vmSettings document whose source is Fabric only mirrors ExtensionsConfig: the selector ignores it.
    source: vm.source === 'Fabric' ? 'Fabric' : 'FastTrack',
    channel: 'HostGAPlugin',
    activityId: vm.metadata.activityId,
    correlationId: vm.metadata.correlationId,
    inSvdSeqNo: String(vm.metadata.inSvdSeqNo ?? 0),
    createdOnTicks: vm.metadata.createdOnTicks,
    handlers: vm.handlers,
    requiredFeatures: vm.requiredFeatures,
    statusUploadBlob: vm.statusUploadBlob,
    onHold: vm.onHold,
    artifactsProfileUrl: null,
  };
}

/**
 * Keeps the current extensions goal state across loop iterations and applies the selection rule: on a new
 * incarnation the newer (by created-on ticks) of ExtensionsConfig and the last Fast Track vmSettings; when only
 * vmSettings changed, vmSettings; never an older goal state than the current one.
 */
export class ExtensionsGoalStateSelector {
  #current: ExtensionsGoalState | null = null;
  #lastFastTrack: ExtensionsGoalState | null = null;

  get current(): ExtensionsGoalState | null {
    return this.#current;
  }

  /**
   * `fabric`: the WireServer's goal state when its incarnation changed (else null). `vmSettings`: a vmSettings
   * document newly received (else null). A vmSettings whose source is Fabric is ignored (§2.10).
   */
  select(fabric: ExtensionsGoalState | null, vmSettings: ExtensionsGoalState | null): ExtensionsGoalState | null {
    if (vmSettings && vmSettings.source === 'FastTrack') this.#lastFastTrack = vmSettings;
    let candidate: ExtensionsGoalState | null = null;
    if (fabric) {
      const ft = this.#lastFastTrack;
      candidate = ft && ft.createdOnTicks > fabric.createdOnTicks ? ft : fabric;
    } else if (vmSettings && vmSettings.source === 'FastTrack') {
      candidate = vmSettings;
    }
    const cur = this.#current;
    if (candidate && cur && candidate.id !== cur.id && candidate.createdOnTicks < cur.createdOnTicks) {
      log.info(`ignoring the extensions goal state ${candidate.id}: it is older than the current ${cur.id}`);
      candidate = null;
    }
    if (candidate) this.#current = candidate;
    return this.#current;
  }
}
