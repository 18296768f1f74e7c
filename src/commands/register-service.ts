// -register-service: installs the agent's systemd unit and enables it. The unit text is generated here (the binary
// carries no data files); init/systemd/ holds the same text for image builders, and a test keeps the two equal.
// Flatcar: the unit goes to /etc/systemd/system (/usr is read-only) and is ordered after systemd-sysext.service,
// which merges the system extension that provides /usr/sbin/waagent (docs/peers.md §6).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Invocation } from './invocation.ts';
import { libDirOf, type Config } from '../config/index.ts';
import { readPersistedEndpoint } from '../fabric/discovery/persisted.ts';
import { parseAuthority, wireServerOverride, WIRESERVER_IP } from '../fabric/endpoints.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';
import { DEPROVISIONED_MARKER } from '../deprovision/plan.ts';
import { agentBinaryOf, networkSetupUnit, unitConfPathOf, unitDirOf } from '../daemon/persist-firewall.ts';
import type { DistroProfile } from '../os/distro-profile.ts';
import { run } from '../os/exec.ts';

export interface UnitOptions {
  binary: string;
  confPath: string;
  /** the profile's agentSysext: the unit waits for systemd-sysext.service and runs on Azure's OEM id only (Flatcar) */
  sysext: boolean;
  /** the profile's sshdService, wanted beside the agent (init/systemd/waagent.service names upstream's sshd) */
  sshdService: string | null;
}

export function systemdUnit(o: UnitOptions): string {
  const unit = o.sysext
    ? [
        '[Unit]',
        'Description=Azure Linux VM Agent (waagent-ts)',
        'After=systemd-sysext.service network-online.target sshd-keygen.service',
        'Wants=network-online.target sshd-keygen.service',
        'ConditionKernelCommandLine=flatcar.oem.id=azure',
      ]
    : [
        '[Unit]',
        'Description=Azure Linux VM Agent (waagent-ts)',
        'After=network-online.target cloud-init.service',
        `Wants=network-online.target ${o.sshdService === null ? '' : `${o.sshdService}.service `}sshd-keygen.service`,
      ];
  return [
    ...unit,
    `ConditionFileIsExecutable=${o.binary}`,
    `ConditionPathExists=${o.confPath}`,
    // -deprovision leaves this in /run: the agent stays stopped until the machine boots again
    `ConditionPathExists=!${DEPROVISIONED_MARKER}`,
    '',
    '[Service]',
    'Type=simple',
    // as upstream's unit: the agent and its extensions' scopes under one slice (systemd makes it when it has no file)
    'Slice=azure.slice',
    `ExecStart=${o.binary} -daemon`,
    'Restart=always',
    'RestartSec=5s',
    'CPUAccounting=yes',
    'MemoryAccounting=yes',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** The WireServer address the boot-time rules name: the configured override, the last detected one, else 168.63.129.16. */
export function firewallAddress(config: Config): string {
  const override = wireServerOverride(config);
  if (override !== null) return parseAuthority(override, 'Protocol.WireServerEndpoint').host;
  return readPersistedEndpoint(libDirOf(config)) ?? WIRESERVER_IP;
}

export interface RegisterServiceOptions {
  /** default: this executable when it is the single binary, else the profile's install path */
  binary?: string;
  unitDir?: string;
  /** present when systemd is PID 1; default /run/systemd/system */
  systemdMarker?: string;
  output?: NodeJS.WritableStream;
}

export async function registerServiceCommand(
  config: Config,
  _inv: Invocation,
  profile: DistroProfile,
  opts: RegisterServiceOptions = {},
): Promise<number> {
  const out = opts.output ?? process.stdout;
  const binary = opts.binary ?? agentBinaryOf(profile);
  // RHEL image mode (bootc/ostree) has a read-only /usr as well (RedhatOSUtil.get_systemd_unit_file_install_path).
  const unitDir = opts.unitDir ?? unitDirOf(profile);
  const name = `${profile.agentService}.service`;
  const path = join(unitDir, name);
  const confPath = config.path ?? profile.confPath;
  const text = systemdUnit({ binary, confPath, sysext: profile.agentSysext, sshdService: profile.sshdService });
  writeFileAtomic(path, text, { mode: 0o644, mkdir: true });
  log.info(`register-service: wrote ${path}`);
  const units = [{ name, path }];
  // OS.EnableFirewall: the rules must be back at boot before the agent (and anything else) runs. The daemon writes
  // this unit at each start too, as upstream's does (src/daemon/persist-firewall.ts); -register-service writes it
  // beside the agent's own unit so that the very first boot of an image has it.
  if (config.bool('OS.EnableFirewall')) {
    const fwName = `${profile.agentService}-network-setup.service`;
    const fwPath = join(unitDir, fwName);
    const fwConf = unitConfPathOf(config, profile);
    writeFileAtomic(fwPath, networkSetupUnit({ binary, wireServer: firewallAddress(config), confPath: fwConf }), {
      mode: 0o644,
      mkdir: true,
    });
    log.info(`register-service: wrote ${fwPath}`);
    units.push({ name: fwName, path: fwPath });
  }
  const paths = units.map((u) => u.path).join(' and ');
  if (existsSync(opts.systemdMarker ?? '/run/systemd/system')) {
    await run(['systemctl', 'daemon-reload'], { timeoutMs: 60_000 });
    for (const u of units) await run(['systemctl', 'enable', u.name], { timeoutMs: 60_000 });
    out.write(`installed and enabled ${paths}\n`);
  } else {
    out.write(`installed ${paths}; systemd is not running, so ${units.length > 1 ? 'they were' : 'it was'} not enabled\n`);
  }
  return 0;
}
