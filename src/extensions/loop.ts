// The goal-state / extensions / status cycle (docs/protocol.md §7.1 "ExtHandler main loop") as one object that
// -run-exthandlers and the daemon both drive: fetch the goal state (WireServer + Fast Track vmSettings), process
// extensions on a new extensions goal state id, build and upload the status blob every cycle. The platform
// session is opened on the first cycle and opened again after a failure, so a WireServer that is down when the
// loop starts, or goes away for days, only makes cycles fail until it is back.
import { hostname } from 'node:os';
import { libDirOf, type Config } from '../config/index.ts';
import { describeError } from '../errors.ts';
import type { StatusUploadBlob } from '../fabric/documents/index.ts';
import { HostPluginClient, type HttpClient } from '../fabric/index.ts';
import { openPlatformSession, type PlatformSession, type SessionOptions } from '../fabric/session.ts';
import { GoalStateHistory } from '../history/history.ts';
import { log } from '../log/logger.ts';
import type { DistroProfile } from '../os/distro-profile.ts';
import { agentSupportedFeatures, buildAggregateStatus, formatAggregateStatus } from '../status/aggregate.ts';
import { uploadStatus } from '../status/upload.ts';
import { RemoteAccessHandler, redactRemoteAccess } from '../provisioning/remote-access.ts';
import { COMPAT_AGENT_VERSION } from '../version.ts';
import { clearFastTrackState, readFastTrackTicks, saveFastTrackState } from './fast-track-state.ts';
import { InitialGoalState } from './initial-goal-state.ts';
import { createLifecyclePorts } from './lifecycle/adapters.ts';
import { ExtHandlerCycle, type FetchedGoalState, type StatusReport } from './lifecycle/cycle.ts';
import { ExtensionsProcessor } from './lifecycle/process.ts';
import { collectHandlerStatuses } from './lifecycle/report.ts';
import { fromExtensionsConfig, fromVmSettings, type ExtensionsGoalState } from './lifecycle/source.ts';
import { layoutRoots } from './package/index.ts';
import { missingCertificates } from './fast-track-certs.ts';
import { cloudInitGate } from './wait-for-cloud-init.ts';

export interface ExtensionsLoop {
  /** One cycle; true when the goal state was fetched. Never throws. */
  cycle(): Promise<boolean>;
  /** The WireServer address (host, no port) once a session is open. */
  wireServer(): string | null;
  /** How long to wait before the next cycle: Extensions.InitialGoalStatePeriod until the first goal state converged, then Extensions.GoalStatePeriod (§7.1). */
  periodMs(): number;
  /** PUT the zip of the periodic log collection through the HostGAPlugin; false until the platform was reached. */
  uploadLogs(zip: Uint8Array): Promise<boolean>;
  close(): Promise<void>;
}

export interface ExtensionsLoopOptions {
  /** the configuration file handed to extensions (AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS & co. live elsewhere) */
  configPath: string;
  /** the machine's distro profile: its id and version go into the status blob */
  profile: DistroProfile;
  /** how the platform session is opened (its lease files come from the profile) */
  session?: Omit<SessionOptions, 'leaseGlobs'>;
  /**
   * RemoteAccess (JIT) accounts on this machine (§2.9), default on. Off for code that runs the loop where it must not
   * manage the machine's users: the in-process tests that run on the test host itself.
   */
  remoteAccess?: boolean;
}

/** The features this agent supports in RequiredFeatures (§5.1). */
function supportedFeatures(config: Config): string[] {
  const f = ['MultipleExtensionsPerHandler'];
  if (versioningGovernance(config)) f.push('VersioningGovernance');
  return f;
}

function versioningGovernance(config: Config): boolean {
  return config.bool('AutoUpdate.UpdateToLatestVersion') && config.bool('Debug.EnableGAVersioning');
}

export function openExtensionsLoop(config: Config, opts: ExtensionsLoopOptions): ExtensionsLoop {
  let session: PlatformSession | null = null;
  let cycle: ExtHandlerCycle | null = null;
  let hostPlugin: HostPluginClient | null = null;
  const initial = new InitialGoalState(config, libDirOf(config));
  return {
    async cycle() {
      if (!cycle) {
        try {
          session = await openPlatformSession(config, { ...opts.session, leaseGlobs: opts.profile.leaseGlobs });
          hostPlugin = hostPluginOf(session);
          cycle = buildCycle(session, hostPlugin, opts.configPath, opts.profile, initial, opts.remoteAccess ?? true);
        } catch (e) {
          log.warn(`the platform cannot be reached: ${describeError(e)}`);
          await session?.close();
          session = null;
          return false;
        }
      }
      return cycle.iterate();
    },
    wireServer() {
      return session ? session.endpoints.wireServer.replace(/:\d+$/, '') : null;
    },
    periodMs: () => initial.periodMs(),
    async uploadLogs(zip) {
      if (!hostPlugin) return false;
      await hostPlugin.putVmAgentLog(zip, COMPAT_AGENT_VERSION);
      return true;
    },
    async close() {
      await session?.close();
    },
  };
}

function hostPluginOf(session: PlatformSession): HostPluginClient {
  const { http, endpoints, fetcher } = session;
  return new HostPluginClient({
    http,
    endpoints,
    context: () => fetcher.context(),
    refresh: async () => {
      await fetcher.fetch(true);
    },
  });
}

function buildCycle(
  session: PlatformSession,
  hostPlugin: HostPluginClient,
  configPath: string,
  profile: DistroProfile,
  initial: InitialGoalState,
  manageRemoteAccess: boolean,
): ExtHandlerCycle {
  const { config, http, endpoints, fetcher, libDir, transport } = session;
  const roots = layoutRoots(config);
  const history = new GoalStateHistory({ libDir });
  const extensionsEnabled = config.bool('Extensions.Enabled');
  const fastTrackEnabled = config.bool('Debug.EnableFastTrack');
  let fastTrackSupported = false;
  /** The raw vmSettings of the last Fast Track goal state received (for VmSettings.json in the history). */
  let lastVmSettings: { etag: string; text: string } | null = null;
  /**
   * §3.4: a Fabric goal state older than the last Fast Track one is outdated and not executed: checked for the first
   * goal state when Fast Track is disabled (the last one is in fast_track.json), and when the HostGAPlugin stops
   * supporting vmSettings.
   */
  let lastFastTrackTicks: bigint | null = readFastTrackTicks(libDir);
  let outdatedBefore: bigint | null = fastTrackEnabled ? null : lastFastTrackTicks;
  const remoteAccess = new RemoteAccessHandler(config, { transportKeyPem: transport.keyPem, transportCertPem: transport.certPem });
  /** The RemoteAccess document of a new incarnation, processed after the status report (§7.1 step 7). */
  let remoteAccessPending: { xml: string | null } | null = null;
  const waitForCloudInit = cloudInitGate(config);
  const ports = createLifecyclePorts({
    roots,
    download: { http, hostPlugin },
    wireServerAddress: endpoints.wireServer.replace(/:\d+$/, ''),
    useSystemd: config.bool('CGroups.Enabled'),
    onManifest: (name, xml) => history.save(`${name}.manifest.xml`, xml),
  });
  const processor = new ExtensionsProcessor({
    ports,
    extensionsEnabled,
    supportedFeatures: supportedFeatures(config),
    honourOnHold: config.bool('EnableOverProvisioning'),
    configPath,
  });
  const { distro } = profile;

  /** §10 item 14: certificates a Fast Track goal state names but the last full goal state did not bring. */
  const refreshForCertificates = async (gs: ExtensionsGoalState): Promise<void> => {
    const missing = missingCertificates(gs.handlers, libDir);
    if (missing.length === 0) return;
    log.info(`the Fast Track goal state ${gs.id} names certificates not downloaded yet (${missing.join(', ')}): refreshing the goal state`);
    await fetcher.fetch(true);
    const still = missingCertificates(gs.handlers, libDir);
    if (still.length > 0) log.warn(`after a full refresh these certificates are still missing: ${still.join(', ')}; their protected settings cannot be decrypted`);
  };

  const fetch = async (): Promise<FetchedGoalState> => {
    const { goalState, changed } = await fetcher.fetch();
    let fabric: ExtensionsGoalState | null = null;
    if (changed) {
      fabric = fromExtensionsConfig(goalState.incarnation, goalState.extensionsConfig);
      if (fabric.artifactsProfileUrl && config.bool('EnableOverProvisioning')) {
        fabric = { ...fabric, onHold: await artifactsProfileOnHold(http, hostPlugin, fabric.artifactsProfileUrl) };
      }
      remoteAccessPending = { xml: goalState.remoteAccessXml };
    }
    let vmSettings: ExtensionsGoalState | null = null;
    if (fastTrackEnabled) {
      try {
        const r = await hostPlugin.vmSettings();
        if (r.kind === 'not-supported' && fastTrackSupported) {
          log.warn('the HostGAPlugin stopped supporting vmSettings; a pending Fast Track goal state will not be executed');
          outdatedBefore = lastFastTrackTicks;
        }
        fastTrackSupported = r.kind !== 'not-supported';
        if (r.kind === 'updated') {
          vmSettings = fromVmSettings(r.etag, r.vmSettings);
          if (vmSettings.source === 'FastTrack') await refreshForCertificates(vmSettings);
          if (vmSettings.source === 'FastTrack') {
            lastVmSettings = { etag: r.etag, text: r.text };
            lastFastTrackTicks = vmSettings.createdOnTicks;
            saveFastTrackState(libDir, vmSettings.createdOnTicks);
          } else {
            clearFastTrackState(libDir);
          }
        }
      } catch (e) {
        log.warn(`vmSettings could not be fetched from the HostGAPlugin: ${describeError(e)}`);
      }
    }
    if (fabric && outdatedBefore !== null) {
      if (fabric.createdOnTicks < outdatedBefore) {
        log.info(`the Fabric goal state ${fabric.id} is older than the most recent Fast Track goal state; it is not executed`);
        fabric = null;
        clearFastTrackState(libDir);
      }
      outdatedBefore = null;
    }
    return { fabric, vmSettings, fabricStatusBlob: goalState.extensionsConfig?.statusUploadBlob ?? null };
  };

  const report = async (s: StatusReport): Promise<void> => {
    const handlers = await collectHandlerStatuses(s.handlers, { roots, extensionsEnabled });
    const doc = buildAggregateStatus({
      agentVersion: COMPAT_AGENT_VERSION,
      handlers,
      goalState: s.goalState,
      os: { computerName: hostname(), osName: distro.id, osVersion: distro.version },
      supportedFeatures: agentSupportedFeatures({ fastTrack: fastTrackSupported, versioningGovernance: versioningGovernance(config) }),
      now: new Date(),
    });
    initial.onStatus(handlers);
    const json = formatAggregateStatus(doc);
    history.saveStatus(json);
    const outcome = await uploadStatus(json, {
      http,
      hostPlugin,
      blob: s.blob,
      refreshBlob: async (): Promise<StatusUploadBlob> => {
        const { goalState } = await fetcher.fetch(true);
        return goalState.extensionsConfig?.statusUploadBlob ?? { url: null, type: 'BlockBlob' };
      },
      onHostPluginGone: async () => {
        await fetcher.fetch(true);
      },
    });
    if (outcome.uploaded) log.verbose(`status uploaded through ${outcome.channel}`);
    await processRemoteAccess();
  };

  /** After the status report: JIT accounts can take a while (§7.1 step 7). Never throws. */
  const processRemoteAccess = async (): Promise<void> => {
    const pending = remoteAccessPending;
    remoteAccessPending = null;
    if (!pending || !manageRemoteAccess) return;
    try {
      await remoteAccess.apply(pending.xml);
    } catch (e) {
      log.error(`the remote access users could not be processed: ${describeError(e)}`);
    }
  };

  return new ExtHandlerCycle({
    fetch,
    process: async (gs) => {
      await waitForCloudInit();
      return processor.process(gs);
    },
    report,
    onNewGoalState: (gs) => {
      initial.onNewGoalState();
      const cur = fetcher.current;
      const fastTrack = gs.source === 'FastTrack' && lastVmSettings !== null && gs.id === `etag_${lastVmSettings.etag}` ? lastVmSettings : null;
      // §7.3: <incarnation>[-<etag>]
      history.beginGoalState(fastTrack ? `${cur?.incarnation ?? gs.inSvdSeqNo}-${fastTrack.etag}` : gs.inSvdSeqNo);
      if (cur) {
        history.save('GoalState.xml', cur.goalStateXml);
        if (cur.extensionsConfigXml) history.save('ExtensionsConfig.xml', cur.extensionsConfigXml);
        history.save('SharedConfig.xml', cur.sharedConfigXml);
        if (cur.remoteAccessXml) history.save('RemoteAccess.xml', redactRemoteAccess(cur.remoteAccessXml));
      }
      if (fastTrack) history.save('VmSettings.json', fastTrack.text);
    },
  });
}

/** §5.1: the InVMArtifactsProfileBlob's onHold (direct, then through the HostGAPlugin); any problem → not on hold. */
async function artifactsProfileOnHold(http: HttpClient, hostPlugin: HostPluginClient, url: string): Promise<boolean> {
  let text: string;
  try {
    text = (await http.request({ url, target: 'external', maxAttempts: 2, maxBodyBytes: 1024 * 1024 })).text();
  } catch {
    try {
      text = (await hostPlugin.extensionArtifact(url, { maxBytes: 1024 * 1024 })).toString('utf8');
    } catch (e) {
      log.warn(`the artifacts profile could not be downloaded (${describeError(e)}); not on hold`);
      return false;
    }
  }
  try {
    const v = (JSON.parse(text) as { onHold?: unknown } | null)?.onHold;
    return v === true || (typeof v === 'string' && v.toLowerCase() === 'true');
  } catch {
    log.warn('the artifacts profile is not valid JSON; not on hold');
    return false;
  }
}
