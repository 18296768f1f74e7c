// The goal-state / extensions / status cycle (azure-protocol.md §7.1 "ExtHandler main loop") as one object that
// -run-exthandlers and the daemon both drive: fetch the goal state (WireServer + Fast Track vmSettings), process
// extensions on a new extensions goal state id, build and upload the status blob every cycle. The platform
// session is opened on the first cycle and opened again after a failure, so a WireServer that is down when the
// loop starts, or goes away for days, only makes cycles fail until it is back.
import { hostname } from 'node:os';
import type { Config } from '../config/index.ts';
import { describeError } from '../errors.ts';
import type { StatusUploadBlob } from '../fabric/documents/index.ts';
import { HostPluginClient, type HttpClient } from '../fabric/index.ts';
import { openPlatformSession, type PlatformSession, type SessionOptions } from '../fabric/session.ts';
import { GoalStateHistory } from '../history/history.ts';
import { log } from '../log/logger.ts';
import { detectDistro } from '../os/distro.ts';
import { agentSupportedFeatures, buildAggregateStatus, formatAggregateStatus } from '../status/aggregate.ts';
import { uploadStatus } from '../status/upload.ts';
import { COMPAT_AGENT_VERSION } from '../version.ts';
import { createLifecyclePorts } from './lifecycle/adapters.ts';
import { ExtHandlerCycle, type FetchedGoalState, type StatusReport } from './lifecycle/cycle.ts';
import { ExtensionsProcessor } from './lifecycle/process.ts';
import { collectHandlerStatuses } from './lifecycle/report.ts';
import { fromExtensionsConfig, fromVmSettings, type ExtensionsGoalState } from './lifecycle/source.ts';
import { layoutRoots } from './package/index.ts';

export interface ExtensionsLoop {
  /** One cycle; true when the goal state was fetched. Never throws. */
  cycle(): Promise<boolean>;
  /** The WireServer address (host, no port) once a session is open. */
  wireServer(): string | null;
  close(): Promise<void>;
}

export interface ExtensionsLoopOptions {
  /** the configuration file handed to extensions (AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS & co. live elsewhere) */
  configPath: string;
  session?: SessionOptions;
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
  return {
    async cycle() {
      if (!cycle) {
        try {
          session = await openPlatformSession(config, opts.session);
          cycle = buildCycle(session, opts.configPath);
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
    async close() {
      await session?.close();
    },
  };
}

function buildCycle(session: PlatformSession, configPath: string): ExtHandlerCycle {
  const { config, http, endpoints, fetcher, libDir } = session;
  const hostPlugin = new HostPluginClient({
    http,
    endpoints,
    context: () => fetcher.context(),
    refresh: async () => {
      await fetcher.fetch(true);
    },
  });
  const roots = layoutRoots(config);
  const history = new GoalStateHistory({ libDir });
  const extensionsEnabled = config.bool('Extensions.Enabled');
  const fastTrackEnabled = config.bool('Debug.EnableFastTrack');
  let fastTrackSupported = false;
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
  const distro = detectDistro();

  const fetch = async (): Promise<FetchedGoalState> => {
    const { goalState, changed } = await fetcher.fetch();
    let fabric: ExtensionsGoalState | null = null;
    if (changed) {
      fabric = fromExtensionsConfig(goalState.incarnation, goalState.extensionsConfig);
      if (fabric.artifactsProfileUrl && config.bool('EnableOverProvisioning')) {
        fabric = { ...fabric, onHold: await artifactsProfileOnHold(http, hostPlugin, fabric.artifactsProfileUrl) };
      }
    }
    let vmSettings: ExtensionsGoalState | null = null;
    if (fastTrackEnabled) {
      try {
        const r = await hostPlugin.vmSettings();
        fastTrackSupported = r.kind !== 'not-supported';
        if (r.kind === 'updated') vmSettings = fromVmSettings(r.etag, r.vmSettings);
      } catch (e) {
        log.warn(`vmSettings could not be fetched from the HostGAPlugin: ${describeError(e)}`);
      }
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
  };

  return new ExtHandlerCycle({
    fetch,
    process: (gs) => processor.process(gs),
    report,
    onNewGoalState: (gs) => {
      history.beginGoalState(gs.source === 'FastTrack' ? gs.id : gs.inSvdSeqNo);
      const cur = fetcher.current;
      if (cur) {
        history.save('GoalState.xml', cur.goalStateXml);
        if (cur.extensionsConfigXml) history.save('ExtensionsConfig.xml', cur.extensionsConfigXml);
        history.save('SharedConfig.xml', cur.sharedConfigXml);
      }
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
