// The telemetry events upstream's ExtHandler sends once at start (ga/update.py run(), docs/protocol.md §2.11), once the
// first goal state gave the events their container id: ProtocolEndpoint when the WireServer is not at its known address,
// OSInfo (distribution, service, architecture, systemd, LIS drivers, logrotate), OpenSsl (the openssl command's version
// and pkey support: the certificates fall back to it) and ConfigurationChange for each
// setting upstream reports as changed from its default (_emit_changes_in_default_configuration). They go into the
// normal batches. Not sent, as they do not apply: AgentUpgrade (no self-update), Restart (upstream's sentinel file of
// a crashed Python agent), the cgroup events; Firewall's set-up messages come from the firewall task as log lines.
import { existsSync } from 'node:fs';
import { machine } from 'node:os';
import { join } from 'node:path';
import { type Config, type ConfigKey, type IntKey, specOf } from '../config/index.ts';
import { versioningGovernance } from '../extensions/loop.ts';
import type { PlatformEndpoints } from '../fabric/endpoints.ts';
import { log } from '../log/logger.ts';
import type { Distro } from '../os/distro.ts';
import type { DistroProfile } from '../os/distro-profile.ts';
import { versionAtLeast } from '../os/distro-profile.ts';
import { run } from '../os/exec.ts';
import { OPERATION } from '../telemetry/event.ts';
import { telemetry, type TelemetryRecorder } from '../telemetry/recorder.ts';
import { describeError } from '../util/errors.ts';
import type { PeriodicTask } from '../util/periodic.ts';
import { COMPAT_AGENT_VERSION } from '../util/version.ts';
import { WIRESERVER_IP } from '../util/wireserver-ip.ts';

/** How often the task looks again while the platform has not been reached (no goal state, no container id yet). */
export const STARTUP_EVENTS_RETRY_MS = 60_000;

/** upstream osutil/factory.py: the name of the OSUtil class the Python agent picks for this distribution. */
export function osUtilName(d: Pick<Distro, 'id' | 'version'>): string {
  const v = d.version;
  switch (d.id) {
    case 'ubuntu':
      if (['12.04', '12.10'].includes(v)) return 'Ubuntu12OSUtil';
      if (['14.04', '14.10'].includes(v)) return 'Ubuntu14OSUtil';
      if (['16.04', '16.10', '17.04'].includes(v)) return 'Ubuntu16OSUtil';
      return versionAtLeast(v, [18, 4]) && !versionAtLeast(v, [24, 5]) ? 'Ubuntu18OSUtil' : 'UbuntuOSUtil';
    case 'flatcar':
    case 'coreos':
      return 'CoreOSUtil';
    case 'sles':
    case 'sle-micro':
    case 'sle_hpc':
    case 'suse':
    case 'opensuse':
    case 'opensuse-leap':
      return 'SUSEOSUtil';
    case 'debian':
      return v.includes('sid') || versionAtLeast(v, [7, 1]) ? 'DebianOSModernUtil' : 'DebianOSBaseUtil';
    case 'rhel':
    case 'redhat':
    case 'centos':
    case 'oracle':
    case 'ol':
    case 'almalinux':
    case 'cloudlinux':
    case 'rocky':
      if (!versionAtLeast(v, [7])) return 'Redhat6xOSUtil';
      return versionAtLeast(v, [8, 6]) ? 'RedhatOSModernUtil' : 'RedhatOSUtil';
    case 'mariner':
    case 'azurelinux':
      return 'MarinerOSUtil';
    case 'fedora':
      return 'FedoraOSUtil';
    default:
      return 'DefaultOSUtil';
  }
}

/** The OSInfo fields upstream gathers with commands; looked up once per start. */
export interface HostFacts {
  systemd: boolean;
  systemdVersion: string;
  lisDrivers: string;
  logrotate: string;
}

async function firstLine(argv: string[]): Promise<{ ok: boolean; line: string }> {
  try {
    const r = await run(argv, { timeoutMs: 10_000, allowFailure: true, maxOutput: 64 * 1024 });
    return { ok: r.code === 0, line: r.stdout.split('\n')[0]!.trim() };
  } catch {
    return { ok: false, line: '' };
  }
}

/** upstream systemd.is_systemd / get_version, version.get_lis_version and has_logrotate. */
export async function hostFacts(root = '/'): Promise<HostFacts> {
  const systemd = existsSync(join(root, 'run/systemd/system'));
  const sd = await firstLine(['systemctl', '--version']);
  const lis = await firstLine(['modinfo', '-F', 'version', 'hv_vmbus']);
  const lr = await firstLine(['logrotate', '--version']);
  return {
    systemd,
    systemdVersion: sd.ok ? sd.line : 'unknown',
    // modinfo prints nothing when hv_vmbus is built into the kernel
    lisDrivers: lis.ok ? lis.line || 'Absent' : 'Failed',
    logrotate: lr.ok ? lr.line : 'Absent',
  };
}

export interface StartupNote {
  isSuccess: boolean;
  message: string;
}

/** What upstream's `'<command>' failed: <code> (<stderr>)` CommandError says. */
function commandFailed(argv: string[], code: number, stderr: string): string {
  return `'${argv[0]}' failed: ${code} (${stderr.trimEnd()})`;
}

/**
 * upstream _log_openssl_info: the `openssl version` line, or why it could not be had, and whether `openssl help pkey`
 * works (the certificates' openssl fallback, src/fabric/openssl-fallback.ts, uses the command).
 */
export async function openSslNotes(): Promise<StartupNote[]> {
  const notes: StartupNote[] = [];
  const tryRun = async (argv: string[]): Promise<{ ok: true; stdout: string } | { ok: false; why: string }> => {
    try {
      const r = await run(argv, { timeoutMs: 10_000, allowFailure: true, maxOutput: 64 * 1024 });
      return r.code === 0 ? { ok: true, stdout: r.stdout } : { ok: false, why: commandFailed(argv, r.code, r.stderr) };
    } catch (e) {
      return { ok: false, why: describeError(e) };
    }
  };
  const v = await tryRun(['openssl', 'version']);
  notes.push(
    v.ok
      ? { isSuccess: true, message: `OpenSSL version: ${v.stdout}` }
      : { isSuccess: false, message: `Failed to get OpenSSL version: ${v.why}` },
  );
  const pkey = await tryRun(['openssl', 'help', 'pkey']);
  if (!pkey.ok) notes.push({ isSuccess: false, message: `OpenSSL does not support the pkey command: ${pkey.why}` });
  return notes;
}

/** upstream's OSInfo message, field for field; "Python" names the runtime this agent has instead. */
export function osInfoMessage(profile: DistroProfile, facts: HostFacts, arch = machine()): string {
  const py = (s: boolean) => (s ? 'True' : 'False');
  return (
    `Distro: ${profile.distro.id}-${profile.distro.version}; ` +
    `OSUtil: ${osUtilName(profile.distro)}; ` +
    `AgentService: ${profile.agentService}; ` +
    `Python: none (Node.js ${process.versions.node}); ` +
    `Arch: ${arch}; ` +
    `systemd: ${py(facts.systemd)}; ` +
    `systemd_version: ${facts.systemdVersion}; ` +
    `LISDrivers: ${facts.lisDrivers}; ` +
    `logrotate: ${facts.logrotate};`
  );
}

/** upstream _emit_changes_in_default_configuration: the messages, in its order. */
export function configurationChanges(config: Config): string[] {
  const out: string[] = [];
  const intChanged = (key: IntKey, name: string = key, message = '') => {
    const def = specOf(key as ConfigKey).default;
    const current = config.int(key);
    if (def !== current) out.push(`${name} changed from its default: ${def}. New value: ${current}. ${message}`);
  };
  const opDisabled = (name: string, value: boolean) => {
    if (!value) out.push(`${name} is set to False, not processing the operation`);
  };
  const periodNote =
    'Changing this value affects how often extensions are processed and status for the VM is reported. Too small a value may report the VM as unresponsive';
  intChanged('Extensions.GoalStatePeriod', undefined, periodNote);
  intChanged('Extensions.InitialGoalStatePeriod', undefined, periodNote);
  opDisabled('OS.EnableFirewall', config.bool('OS.EnableFirewall'));
  opDisabled('Extensions.Enabled', config.bool('Extensions.Enabled'));
  opDisabled('AutoUpdate.Enabled', config.bool('AutoUpdate.Enabled'));
  opDisabled('AutoUpdate.UpdateToLatestVersion', config.bool('AutoUpdate.UpdateToLatestVersion'));
  if (config.isPresent('AutoUpdate.Enabled') && config.bool('AutoUpdate.Enabled') !== config.bool('AutoUpdate.UpdateToLatestVersion'))
    out.push(
      "AutoUpdate.Enabled property is **Deprecated** now but it's set to different value from AutoUpdate.UpdateToLatestVersion. Please consider removing it if added by mistake",
    );
  if (config.bool('OS.EnableFirewall')) intChanged('OS.EnableFirewallPeriod');
  if (config.bool('AutoUpdate.Enabled')) intChanged('Autoupdate.Frequency');
  // (upstream's Debug.EnableFastTrack check can never fire: it only looks when fast track is on)
  if (config.str('Lib.Dir') !== '/var/lib/waagent') out.push(`lib dir is in an unexpected location: ${config.str('Lib.Dir')}`);
  if (!versioningGovernance(config)) out.push(`Agent : ${COMPAT_AGENT_VERSION} doesn't support GA Versioning`);
  return out;
}

/** upstream: the message when the WireServer is not at 168.63.129.16, or null. */
export function protocolEndpointMessage(endpoints: PlatformEndpoints): string | null {
  const host = endpoints.wireServer.replace(/:\d+$/, '');
  return host === WIRESERVER_IP ? null : `Protocol endpoint (${host}) is not known wireserver ip: ${WIRESERVER_IP}`;
}

/**
 * The start-up events, queued once per process as soon as a goal state has been fetched (upstream sends them right
 * after its first goal state, so that they carry the container id).
 */
export function startupEventsTask(
  config: Config,
  profile: DistroProfile,
  endpoints: () => PlatformEndpoints | null,
  events: TelemetryRecorder = telemetry,
  facts: () => Promise<HostFacts> = () => hostFacts(),
  openssl: () => Promise<StartupNote[]> = openSslNotes,
): PeriodicTask {
  let done = false;
  return {
    name: 'start-up telemetry',
    periodMs: STARTUP_EVENTS_RETRY_MS,
    async run() {
      const ep = endpoints();
      if (done || !ep || events.vm.containerId === '') return;
      done = true;
      const endpointMsg = protocolEndpointMessage(ep);
      if (endpointMsg) {
        log.info(endpointMsg);
        events.addEvent({ op: OPERATION.protocolEndpoint, isSuccess: true, message: endpointMsg });
      }
      const osInfo = osInfoMessage(profile, await facts());
      log.info(osInfo);
      events.addEvent({ op: OPERATION.osInfo, isSuccess: true, message: osInfo });
      for (const n of await openssl()) {
        log.info(n.message);
        events.addEvent({ op: OPERATION.openSsl, ...n }, { logEvent: false });
      }
      for (const msg of configurationChanges(config)) {
        log.info(`******** ${msg} ********`);
        events.addEvent({ op: OPERATION.configurationChange, isSuccess: true, message: msg });
      }
    },
  };
}
