// The goal-state / extensions / status cycle (docs/protocol.md §7.1 "ExtHandler main loop") as one object that
// -run-exthandlers and the daemon both drive: fetch the goal state (WireServer + Fast Track vmSettings), process
// extensions on a new extensions goal state id, build and upload the status blob every cycle. The platform
// session is opened on the first cycle and opened again after a failure, so a WireServer that is down when the
// loop starts, or goes away for days, only makes cycles fail until it is back.
import { hostname } from 'node:os';
import { libDirOf, type Config } from '../config/index.ts';
import { describeError } from '../util/errors.ts';
import type { StatusUploadBlob } from '../fabric/documents/index.ts';
import { HostPluginClient, type FullGoalState, type HttpClient, type PlatformEndpoints } from '../fabric/index.ts';
import { openPlatformSession, type PlatformSession, type SessionOptions } from '../fabric/session.ts';
import { GoalStateHistory } from '../history/history.ts';
import { log } from '../log/logger.ts';
import type { Distro } from '../os/distro.ts';
import type { DistroProfile } from '../os/distro-profile.ts';
import { agentSupportedFeatures, buildAggregateStatus, formatAggregateStatus } from '../status/aggregate.ts';
import { uploadStatus } from '../status/upload.ts';
import { RemoteAccessHandler, redactRemoteAccess } from './remote-access.ts';
import { COMPAT_AGENT_VERSION } from '../util/version.ts';
import { clearFastTrackState, readFastTrackTicks, saveFastTrackState } from './fast-track-state.ts';
import { InitialGoalState } from './initial-goal-state.ts';
import { createLifecyclePorts } from './lifecycle/adapters.ts';
import { ExtHandlerCycle, type FetchedGoalState, type StatusReport } from './lifecycle/cycle.ts';
import { ExtensionsProcessor } from './lifecycle/process.ts';
import { loadExtensionPolicy } from './policy.ts';
import { collectHandlerStatuses } from './lifecycle/report.ts';
import { fromExtensionsConfig, fromVmSettings, type ExtensionsGoalState } from './lifecycle/source.ts';
import { layoutRoots, type LayoutRoots } from './package/index.ts';
import { missingCertificates } from './fast-track-certs.ts';
import { holdBackForCertificates } from './certificate-gate.ts';
import { cloudInitGate } from './wait-for-cloud-init.ts';
import { telemetry } from '../telemetry/recorder.ts';
import { GoalStateEvents } from './goal-state-events.ts';

export interface ExtensionsLoop {
  /** One cycle; true when the goal state was fetched. Never throws. */
  cycle(): Promise<boolean>;
  /** The WireServer address (host, no port) once a session is open. */
  wireServer(): string | null;
  /** How long to wait before the next cycle: Extensions.InitialGoalStatePeriod until the first goal state converged, then Extensions.GoalStatePeriod (§7.1). */
  periodMs(): number;
  /** The open session's HTTP client, endpoints and HostGAPlugin client (the daemon's heartbeats); null until the platform was reached. */
  platform(): { http: HttpClient; endpoints: PlatformEndpoints; hostPlugin: HostPluginClient } | null;
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

/** upstream _GAVersioningGovernanceFeature.supported: what the agent advertises to CRP. */
export function versioningGovernance(config: Config): boolean {
  return config.bool('AutoUpdate.UpdateToLatestVersion') && config.bool('Debug.EnableGAVersioning');
}

export function openExtensionsLoop(config: Config, opts: ExtensionsLoopOptions): ExtensionsLoop {
  let session: PlatformSession | null = null;
  let cycle: ExtHandlerCycle | null = null;
  let hostPlugin: HostPluginClient | null = null;
  const initial = new InitialGoalState(config, libDirOf(config));
  const events = new GoalStateEvents();
  return {
    async cycle() {
      if (!cycle) {
        try {
          session = await openPlatformSession(config, { ...opts.session, leaseGlobs: opts.profile.leaseGlobs });
          hostPlugin = hostPluginOf(session);
          const stop = opts.session?.stop;
          cycle = buildCycle(
            session,
            hostPlugin,
            opts.configPath,
            opts.profile,
            initial,
            opts.remoteAccess ?? true,
            () => stop?.stopped === true,
            events,
          );
        } catch (e) {
          log.warn(`the platform cannot be reached: ${describeError(e)}`);
          events.fetchFailed(e);
          await session?.close();
          session = null;
          return false;
        }
      }
      const ok = await cycle.iterate();
      recordVmIdentity(session);
      return ok;
    },
    wireServer() {
      return session ? session.endpoints.wireServer.replace(/:\d+$/, '') : null;
    },
    platform() {
      return session && hostPlugin ? { http: session.http, endpoints: session.endpoints, hostPlugin } : null;
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

/** The telemetry events' VM parameters come from the latest goal state (upstream's AgentGlobals and VM info). */
function recordVmIdentity(session: PlatformSession | null): void {
  const g = session?.fetcher.current;
  if (!g) return;
  telemetry.setVm({ containerId: g.containerId, tenantName: g.deploymentName, roleName: g.roleName, roleInstanceName: g.roleInstanceId });
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
  stopping: () => boolean,
  events: GoalStateEvents,
): ExtHandlerCycle {
  const { config, http, fetcher, libDir } = session;
  const roots = layoutRoots(config);
  const history = new GoalStateHistory({ libDir });
  const extensionsEnabled = config.bool('Extensions.Enabled');
  const fastTrack = fastTrackState(config, libDir);
  const remoteAccess = remoteAccessAfterReport(session, manageRemoteAccess);
  const waitForCloudInit = cloudInitGate(config);
  const processor = extensionsProcessor(session, hostPlugin, { roots, history, extensionsEnabled, configPath, stopping });
  const { distro } = profile;

  const fetch = async (): Promise<FetchedGoalState> => {
    const { goalState, changed } = await fetcher.fetch();
    let fabric: ExtensionsGoalState | null = null;
    if (changed) {
      events.newIncarnation(goalState.incarnation);
      fabric = await fabricGoalState(goalState, config, http, hostPlugin);
      remoteAccess.expect(goalState.remoteAccessXml);
    }
    let vmSettings = fastTrack.enabled ? await fetchVmSettings(fastTrack, hostPlugin, session, events) : null;
    if (fabric) fabric = unlessOutdated(fastTrack, fabric, libDir);
    const certificatesError = fetcher.current?.certificatesError ?? null;
    if (certificatesError !== null) {
      if (fabric) fabric = holdBackForCertificates(fabric, libDir, certificatesError);
      if (vmSettings) vmSettings = holdBackForCertificates(vmSettings, libDir, certificatesError);
    }
    return {
      fabric,
      vmSettings,
      fabricStatusBlob: goalState.extensionsConfig?.statusUploadBlob ?? null,
      certificatesSummary: certificatesSummary(fetcher.current),
    };
  };

  return new ExtHandlerCycle({
    events,
    onHold: (gs) => gs.onHold && config.bool('EnableOverProvisioning'),
    fetch,
    process: async (gs) => {
      await waitForCloudInit();
      return processor.process(gs);
    },
    report: async (s) => {
      await reportStatus(s, {
        session,
        hostPlugin,
        roots,
        extensionsEnabled,
        fastTrackSupported: fastTrack.supported,
        initial,
        history,
        distro,
        events,
      });
      await remoteAccess.apply();
    },
    onNewGoalState: (gs) => {
      initial.onNewGoalState();
      saveToHistory(history, fetcher.current, gs, fastTrack.lastVmSettings);
    },
  });
}

/** What the cycle keeps of Fast Track (§3.4) from one iteration to the next. */
interface FastTrackState {
  /** Debug.EnableFastTrack */
  enabled: boolean;
  /** The HostGAPlugin supported vmSettings at the last fetch. */
  supported: boolean;
  /** The raw vmSettings of the last Fast Track goal state received (for VmSettings.json in the history). */
  lastVmSettings: { etag: string; text: string } | null;
  lastTicks: bigint | null;
  /**
   * §3.4: a Fabric goal state older than the last Fast Track one is outdated and not executed: checked for the first
   * goal state when Fast Track is disabled (the last one is in fast_track.json), and when the HostGAPlugin stops
   * supporting vmSettings.
   */
  outdatedBefore: bigint | null;
}

function fastTrackState(config: Config, libDir: string): FastTrackState {
  const enabled = config.bool('Debug.EnableFastTrack');
  const lastTicks = readFastTrackTicks(libDir);
  return { enabled, supported: false, lastVmSettings: null, lastTicks, outdatedBefore: enabled ? null : lastTicks };
}

/** The extensions goal state of a new incarnation; on hold when its artifacts profile says so and that counts (§5.1). */
async function fabricGoalState(
  goalState: FullGoalState,
  config: Config,
  http: HttpClient,
  hostPlugin: HostPluginClient,
): Promise<ExtensionsGoalState> {
  const fabric = fromExtensionsConfig(goalState.incarnation, goalState.extensionsConfig);
  if (!fabric.artifactsProfileUrl || !config.bool('EnableOverProvisioning')) return fabric;
  return { ...fabric, onHold: await artifactsProfileOnHold(http, hostPlugin, fabric.artifactsProfileUrl) };
}

/** §3.4: the vmSettings when the HostGAPlugin has new ones, or null; a failure is logged, never thrown. */
async function fetchVmSettings(
  ft: FastTrackState,
  hostPlugin: HostPluginClient,
  session: PlatformSession,
  events: GoalStateEvents,
): Promise<ExtensionsGoalState | null> {
  let vmSettings: ExtensionsGoalState | null = null;
  try {
    const r = await hostPlugin.vmSettings();
    if (r.kind === 'not-supported' && ft.supported) {
      log.warn('the HostGAPlugin stopped supporting vmSettings; a pending Fast Track goal state will not be executed');
      ft.outdatedBefore = ft.lastTicks;
    }
    ft.supported = r.kind !== 'not-supported';
    if (r.kind === 'updated') {
      events.newVmSettings(r.correlationId, r.etag, r.vmSettings.source);
      vmSettings = fromVmSettings(r.etag, r.vmSettings);
      if (vmSettings.source === 'Fabric') events.vmSettingsFromFabric();
      if (vmSettings.source === 'FastTrack') await refreshForCertificates(vmSettings, session);
      if (vmSettings.source === 'FastTrack') {
        ft.lastVmSettings = { etag: r.etag, text: r.text };
        ft.lastTicks = vmSettings.createdOnTicks;
        saveFastTrackState(session.libDir, vmSettings.createdOnTicks);
      } else {
        clearFastTrackState(session.libDir);
      }
    }
  } catch (e) {
    log.warn(`vmSettings could not be fetched from the HostGAPlugin: ${describeError(e)}`);
  }
  return vmSettings;
}

/** §10 item 14: certificates a Fast Track goal state names but the last full goal state did not bring. */
async function refreshForCertificates(gs: ExtensionsGoalState, session: PlatformSession): Promise<void> {
  const missing = missingCertificates(gs.handlers, session.libDir);
  if (missing.length === 0) return;
  log.info(`the Fast Track goal state ${gs.id} names certificates not downloaded yet (${missing.join(', ')}): refreshing the goal state`);
  await session.fetcher.fetch(true);
  const still = missingCertificates(gs.handlers, session.libDir);
  if (still.length > 0)
    log.warn(
      `after a full refresh these certificates are still missing: ${still.join(', ')}; their protected settings cannot be decrypted`,
    );
}

/** The Fabric goal state, or null when it is older than the last Fast Track one (§3.4; checked once, see outdatedBefore). */
function unlessOutdated(ft: FastTrackState, fabric: ExtensionsGoalState, libDir: string): ExtensionsGoalState | null {
  if (ft.outdatedBefore === null) return fabric;
  const outdated = fabric.createdOnTicks < ft.outdatedBefore;
  ft.outdatedBefore = null;
  if (!outdated) return fabric;
  log.info(`the Fabric goal state ${fabric.id} is older than the most recent Fast Track goal state; it is not executed`);
  clearFastTrackState(libDir);
  return null;
}

function extensionsProcessor(
  session: PlatformSession,
  hostPlugin: HostPluginClient,
  o: { roots: LayoutRoots; history: GoalStateHistory; extensionsEnabled: boolean; configPath: string; stopping: () => boolean },
): ExtensionsProcessor {
  const { config, http, endpoints } = session;
  const ports = createLifecyclePorts({
    roots: o.roots,
    download: { http, hostPlugin },
    wireServerAddress: endpoints.wireServer.replace(/:\d+$/, ''),
    useSystemd: config.bool('CGroups.Enabled'),
    signatureValidation: config.bool('Debug.EnableSignatureValidation'),
    onManifest: (name, xml) => o.history.save(`${name}.manifest.xml`, xml),
  });
  const policySource = { enabled: config.bool('Debug.EnableExtensionPolicy'), path: config.str('Policy.PolicyFilePath') };
  return new ExtensionsProcessor({
    ports,
    extensionsEnabled: o.extensionsEnabled,
    supportedFeatures: supportedFeatures(config),
    honourOnHold: config.bool('EnableOverProvisioning'),
    configPath: o.configPath,
    stopping: o.stopping,
    loadPolicy: () => loadExtensionPolicy(policySource),
    policyFilePath: policySource.path,
    onPolicy: (text) => o.history.save('waagent_policy.json', text),
  });
}

interface ReportDeps {
  session: PlatformSession;
  hostPlugin: HostPluginClient;
  roots: LayoutRoots;
  extensionsEnabled: boolean;
  fastTrackSupported: boolean;
  initial: InitialGoalState;
  history: GoalStateHistory;
  distro: Distro;
  events: GoalStateEvents;
}

/** The status blob of §6.1 from the handlers' status files, kept in the history and uploaded (§6.2). */
async function reportStatus(s: StatusReport, d: ReportDeps): Promise<void> {
  const { config, http, fetcher } = d.session;
  const handlers = await collectHandlerStatuses(s.handlers, { roots: d.roots, extensionsEnabled: d.extensionsEnabled });
  const doc = buildAggregateStatus({
    agentVersion: COMPAT_AGENT_VERSION,
    handlers,
    goalState: s.goalState,
    os: { computerName: hostname(), osName: d.distro.id, osVersion: d.distro.version },
    supportedFeatures: agentSupportedFeatures({ fastTrack: d.fastTrackSupported, versioningGovernance: versioningGovernance(config) }),
    now: new Date(),
  });
  d.initial.onStatus(handlers);
  const json = formatAggregateStatus(doc);
  d.history.saveStatus(json);
  const outcome = await uploadStatus(json, {
    http,
    hostPlugin: d.hostPlugin,
    blob: s.blob,
    refreshBlob: async (): Promise<StatusUploadBlob> => {
      const { goalState } = await fetcher.fetch(true);
      return goalState.extensionsConfig?.statusUploadBlob ?? { url: null, type: 'BlockBlob' };
    },
    onHostPluginGone: async () => {
      await fetcher.fetch(true);
    },
    onStatusEvent: (message, isSuccess) => d.events.statusUploadEvent(message, isSuccess),
  });
  if (outcome.uploaded) log.verbose(`status uploaded through ${outcome.channel}`);
}

/** upstream's certs.summary in its events: [{'thumbprint': '…', 'hasPrivateKey': True}, …] (Python's repr). */
function certificatesSummary(cur: FullGoalState | null): string {
  const items = (cur?.certificates ?? []).map(
    (c) => `{'thumbprint': '${c.thumbprint}', 'hasPrivateKey': ${c.hasPrivateKey ? 'True' : 'False'}}`,
  );
  return `[${items.join(', ')}]`;
}

/** RemoteAccess (JIT) accounts (§2.9): the document of a new incarnation, applied after the status report (§7.1 step 7). */
function remoteAccessAfterReport(session: PlatformSession, manage: boolean): { expect(xml: string | null): void; apply(): Promise<void> } {
  let remoteAccess: RemoteAccessHandler | null = null; // one for the session: it remembers what it cleaned up
  const handler = async () => {
    const transport = await session.transport;
    remoteAccess ??= new RemoteAccessHandler(session.config, { transportKeyPem: transport.keyPem, transportCertPem: transport.certPem });
    return remoteAccess;
  };
  let pending: { xml: string | null } | null = null;
  return {
    expect(xml) {
      pending = { xml };
    },
    /** JIT accounts can take a while, hence after the report. Never throws. */
    async apply() {
      const p = pending;
      pending = null;
      if (!p || !manage) return;
      try {
        await (await handler()).apply(p.xml);
      } catch (e) {
        log.error(`the remote access users could not be processed: ${describeError(e)}`);
      }
    },
  };
}

/** §7.3: the documents of a new goal state into the history, under <incarnation>[-<etag>]. */
function saveToHistory(
  history: GoalStateHistory,
  cur: FullGoalState | null,
  gs: ExtensionsGoalState,
  lastVmSettings: FastTrackState['lastVmSettings'],
): void {
  const fastTrack = gs.source === 'FastTrack' && lastVmSettings !== null && gs.id === `etag_${lastVmSettings.etag}` ? lastVmSettings : null;
  history.beginGoalState(fastTrack ? `${cur?.incarnation ?? gs.inSvdSeqNo}-${fastTrack.etag}` : gs.inSvdSeqNo);
  if (cur) {
    history.save('GoalState.xml', cur.goalStateXml);
    if (cur.extensionsConfigXml) history.save('ExtensionsConfig.xml', cur.extensionsConfigXml);
    history.save('SharedConfig.xml', cur.sharedConfigXml);
    if (cur.remoteAccessXml) history.save('RemoteAccess.xml', redactRemoteAccess(cur.remoteAccessXml));
  }
  if (fastTrack) history.save('VmSettings.json', fastTrack.text);
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
