// waagent -daemon as ONE process (docs/protocol.md §7.1; the Python agent needs a daemon and an ExtHandler child):
// the pid file, provisioning, the resource disk beside it (never holding Ready back), then the goal-state /
// extension / status cycle and the periodic OS duties, each on its own period. SIGTERM ends the current step and
// exits cleanly; a restart resumes from the state on disk (the provisioned marker, handler state files).
import { monotonicNow } from '../util/clock.ts';
import { libDirOf, type Config } from '../config/index.ts';
import { describeError } from '../util/errors.ts';
import type { ExtensionsLoop } from '../extensions/loop.ts';
import { log } from '../log/logger.ts';
import type { DistroProfile } from '../os/distro-profile.ts';
import { rdmaEnabled } from '../os/rdma.ts';
import { consumeHypervEntropy } from '../os/hyperv-entropy.ts';
import { ensureResourceDisk } from '../os/resource-disk/index.ts';
import { applyScsiTimeoutConfig } from '../os/scsi-timeout.ts';
import { isAgentDisabled } from '../provisioning/provisioned-marker.ts';
import { runProvisioning, type ProvisionResult } from '../provisioning/provision.ts';
import { PeriodicTasks, type PeriodicTask } from '../util/periodic.ts';
import { OUR_VERSION } from '../util/version.ts';
import { runCycleLoop } from './cycle-loop.ts';
import { dhcpWatchApplies, machineDhcpWatchTask } from './dhcp-watch.ts';
import { firewallTask } from './firewall.ts';
import { heartbeatTasks } from './heartbeats.ts';
import { startupEventsTask } from './startup-events.ts';
import { hostnameMonitorTask } from './hostname-monitor.ts';
import { MonitorRole } from './monitor-role.ts';
import { collectLogs } from './log-collector.ts';
import { persistentNetTask } from './persistent-net.ts';
import { persistFirewallOptions, persistFirewallRules } from './persist-firewall.ts';
import { acquirePidFile } from './pid-file.ts';
import { rdmaTask } from './rdma-task.ts';
import { detectScvmm, SCVMM_EXIT_DELAY_MS } from './scvmm.ts';
import { StopSignal } from './stop-signal.ts';
import { networkErrorsTask, recordProvisioning, startTelemetry, telemetryTasks } from './telemetry.ts';

export interface DaemonDeps {
  openExtensionsLoop(config: Config, stop: StopSignal): Promise<ExtensionsLoop>;
  provision?: (config: Config, profile: DistroProfile) => Promise<ProvisionResult>;
  detectScvmm?: (config: Config) => Promise<boolean>;
}

export { cycleDelay, MAX_BACKOFF_MS } from './cycle-loop.ts';

export function periodicTasks(
  config: Config,
  profile: DistroProfile,
  loop: ExtensionsLoop,
  monitor: MonitorRole = new MonitorRole(libDirOf(config)),
): PeriodicTask[] {
  const tasks: PeriodicTask[] = [];
  if (config.int('OS.RootDeviceScsiTimeout') !== null) {
    tasks.push({
      name: 'SCSI timeout',
      periodMs: config.int('OS.RootDeviceScsiTimeoutPeriod') * 1000,
      run: async () => void applyScsiTimeoutConfig(config),
    });
  }
  if (config.bool('Provisioning.MonitorHostName')) tasks.push(hostnameMonitorTask(config, profile));
  if (profile.removePersistentNetRules) tasks.push(persistentNetTask(config));
  if (config.bool('OS.EnableFirewall')) {
    tasks.push(
      firewallTask(
        config,
        () => loop.wireServer(),
        (ws) => persistFirewallRules(persistFirewallOptions(config, profile, ws)),
      ),
    );
  }
  if (config.bool('Logs.Collect')) tasks.push(logCollectorTask(config, loop));
  if (dhcpWatchApplies(config)) tasks.push(machineDhcpWatchTask(config, profile));
  // RDMA (§8.4, §7.1 step 5): once provisioned, each time the goal state brings a different SharedConfig.
  if (rdmaEnabled(config)) tasks.push(rdmaTask(config));
  // upstream's monitor thread sends these whatever the configuration (no key switches them); once per VM, by the
  // process holding the monitor role (-daemon, or a -run-exthandlers running on its own)
  tasks.push(
    ...heartbeatTasks(
      () => loop.platform(),
      monotonicNow,
      () => monitor.claim(),
    ),
  );
  // upstream queues and sends telemetry whatever the configuration (docs/protocol.md §2.11); the start-up events
  // first, so that the first batch after the first goal state carries them
  tasks.push(startupEventsTask(config, profile, () => loop.platform()?.endpoints ?? null));
  tasks.push(networkErrorsTask(() => loop.platform()?.endpoints ?? null));
  tasks.push(...telemetryTasks(config, profile, () => loop.platform()));
  return tasks;
}

/** The periodic log collection (§7.1, Logs.Collect): the default set, at most this much, uploaded through the HostGAPlugin. */
export const PERIODIC_LOGS_MAX_BYTES = 16 * 1024 * 1024;

function logCollectorTask(config: Config, loop: ExtensionsLoop): PeriodicTask {
  return {
    name: 'log collector',
    periodMs: config.int('Logs.CollectPeriod') * 1000,
    firstAfterMs: config.int('Debug.LogCollectorInitialDelay') * 1000,
    async run() {
      const { zip } = collectLogs(config, false, PERIODIC_LOGS_MAX_BYTES);
      if (!(await loop.uploadLogs(zip))) log.verbose('the collected logs wait for the platform to be reached');
    },
  };
}

export async function runDaemon(config: Config, profile: DistroProfile, deps: DaemonDeps): Promise<number> {
  if (config.bool('OS.EnableFIPS')) process.env.OPENSSL_FIPS = '1';
  process.env._AZURE_GUEST_AGENT_DAEMON_VERSION_ = OUR_VERSION;
  const pid = acquirePidFile(config.str('Pid.File'));
  const stop = new StopSignal();
  stop.install();
  log.info(`waagent-ts ${OUR_VERSION} daemon started (pid ${process.pid})`);
  consumeHypervEntropy();
  let resourceDisk: Promise<void> = Promise.resolve();
  try {
    // upstream daemon/main.py: SCVMM first; once VMM's script runs, the agent waits 5 minutes and exits
    if (config.bool('DetectScvmmEnv') && (await (deps.detectScvmm ?? detectScvmm)(config))) {
      log.info('Exiting');
      await stop.wait(SCVMM_EXIT_DELAY_MS);
      return 0;
    }
    if (config.bool('ResourceDisk.Format') || config.bool('ResourceDisk.EnableSwap')) {
      // Beside provisioning, not before it (§7.1 has it first): a slow disk must not delay Ready.
      resourceDisk = ensureResourceDisk(config).then(
        (r) => log.info(`resource disk: ${JSON.stringify(r)}`),
        (e: unknown) => log.warn(`resource disk: ${describeError(e)}`),
      );
    }
    // §7.1: the daemon also logs to the console until provisioning is over (Logs.Console)
    if (config.bool('Logs.Console')) log.addConsole();
    startTelemetry(config);
    const provisioned = await (deps.provision ?? runProvisioning)(config, profile).finally(() => log.closeConsole());
    recordProvisioning(provisioned);
    if (provisioned.outcome === 'failed') log.error('provisioning failed; the daemon goes on with the extensions loop');
    if (stop.stopped) return 0;

    if (isAgentDisabled(config)) {
      log.info('disable_agent is present (ProvisionGuestAgent=false): the agent does nothing more until stopped');
      await stop.wait(Number.POSITIVE_INFINITY);
      return 0;
    }

    const loop = await deps.openExtensionsLoop(config, stop);
    const monitor = new MonitorRole(libDirOf(config));
    try {
      const tasks = new PeriodicTasks(periodicTasks(config, profile, loop, monitor));
      log.info(`periodic duties: ${tasks.names.join(', ') || 'none'}`);
      await runCycleLoop({ cycle: () => loop.cycle(), periodMs: () => loop.periodMs(), runDue: (stopped) => tasks.runDue(stopped), stop });
    } finally {
      monitor.release();
      await loop.close();
    }
    return 0;
  } finally {
    await resourceDisk;
    pid.release();
    stop.uninstall();
    log.info('daemon stopped');
  }
}
