// The WireServer rules kept across reboots, as upstream's PersistFirewallRulesHandler (ga/persist_firewall_rules.py,
// called by ExtHandler's _initialize_firewall once per start when OS.EnableFirewall=y, right after the live rules):
//
// - firewalld running (`firewall-cmd --state` prints "running"): the three rules as permanent direct passthroughs
//   (`firewall-cmd --permanent --direct --passthrough ipv4 -t security -A OUTPUT …`, ga/firewall_manager.py's
//   FirewallCmd), after removing the legacy inserted DNS rule of agents ≤ 2.7.0.6; firewalld puts them back at every
//   boot, so our own unit (and the Python agent's waagent-network-setup.py) is removed to keep out of its way.
// - otherwise, with systemd: `<service>-network-setup.service`, a oneshot before network-pre.target whose ExecStart
//   runs `-setup-firewall=<IP>`, rewritten (and enabled) when it is not enabled or its text differs from ours — so a
//   new WireServer address, a moved binary or the Python agent's unit (which runs its generated Python script) is
//   replaced at the next start. Upstream compares the version stamp and ExecStart; ours carries the address in
//   ExecStart, so comparing the whole text covers both.
// - neither: nothing (logged), as upstream.
//
// With OS.EnableFirewall=n upstream does nothing here (it neither sets up nor removes the unit); neither do we.
// -deprovision removes the unit and the script (src/deprovision/plan.ts).
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isSea } from 'node:sea';
import { libDirOf, type Config } from '../config/index.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';
import type { DistroProfile } from '../os/distro-profile.ts';
import { run, which } from '../os/exec.ts';
import { readFileNoFollow } from '../os/safe-read.ts';
import { AgentError, describeError } from '../util/errors.ts';
import { iptablesRules } from './firewall.ts';

const TIMEOUT_MS = 30_000;

/** The version upstream's persist_firewall_rules.py stamps on the unit (_UNIT_VERSION); it rewrites older ones. */
export const NETWORK_SETUP_UNIT_VERSION = '1.4';

/** upstream's BINARY_FILE_NAME: the Python script its unit runs (ours runs the executable itself). */
export const NETWORK_SETUP_SCRIPT = 'waagent-network-setup.py';

export interface NetworkSetupUnitOptions {
  binary: string;
  wireServer: string;
  /** passed on when it is not the distribution's default, so the boot-time run reads the same file */
  confPath: string | null;
}

/**
 * upstream's waagent-network-setup.service: a oneshot before network-pre.target that puts the WireServer rules back
 * at every boot, before any unprivileged process runs. Upstream's ExecStart runs a generated Python script that
 * calls the agent with -setup-firewall=<IP>; with one executable we call it directly.
 */
export function networkSetupUnit(o: NetworkSetupUnitOptions): string {
  const conf = o.confPath === null ? '' : ` -configuration-path:${o.confPath}`;
  return [
    `# This unit file (Version=${NETWORK_SETUP_UNIT_VERSION}) was created by the Azure VM Agent.`,
    '# Do not edit.',
    '[Unit]',
    'Description=Setup network rules for WALinuxAgent',
    'After=local-fs.target',
    'Before=network-pre.target',
    'Wants=network-pre.target',
    'DefaultDependencies=no',
    `ConditionFileIsExecutable=${o.binary}`,
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=${o.binary} -setup-firewall=${o.wireServer}${conf}`,
    'RemainAfterExit=yes',
    '',
    '[Install]',
    'WantedBy=network.target',
    '',
  ].join('\n');
}

/** Where the agent's units go: the profile's directory, /etc/systemd/system on RHEL image mode (read-only /usr). */
export function unitDirOf(profile: DistroProfile, ostreeMarker = '/run/ostree-booted'): string {
  return existsSync(ostreeMarker) ? '/etc/systemd/system' : profile.unitDir;
}

/** The executable the units run: this one when it is the single binary, else the profile's install path. */
export function agentBinaryOf(profile: DistroProfile): string {
  return isSea() ? process.execPath : profile.binaryPath;
}

/** The -configuration-path the units pass on: the file in use when it is not the distribution's default. */
export function unitConfPathOf(config: Config, profile: DistroProfile): string | null {
  return config.path !== null && config.path !== profile.confPath ? config.path : null;
}

// ---- firewalld (ga/firewall_manager.py FirewallCmd) ----

type RuleName = 'ACCEPT DNS' | 'ACCEPT' | 'DROP';
const RULE_NAMES: readonly RuleName[] = ['ACCEPT DNS', 'ACCEPT', 'DROP'];

/** The firewall-cmd argv for each rule with `option` (--passthrough, --query-passthrough, --remove-passthrough). */
export function firewalldRuleCommands(option: string, wireServer: string, uid = 0): Array<[RuleName, string[]]> {
  return iptablesRules(wireServer, uid).map((rule, i) => [
    RULE_NAMES[i]!,
    ['firewall-cmd', '--permanent', '--direct', option, 'ipv4', '-t', 'security', '-A', 'OUTPUT', ...rule],
  ]);
}

/** Agents ≤ 2.7.0.6 inserted (-I) the DNS rule; later ones append it: the inserted one must go. */
export function firewalldLegacyRuleCommand(option: string, wireServer: string): string[] {
  return ['firewall-cmd', '--permanent', '--direct', option, 'ipv4', '-t', 'security', '-I', 'OUTPUT', ...iptablesRules(wireServer)[0]!];
}

/** `firewall-cmd --query-passthrough`: exit 0 present, 1 absent, anything else an error. */
async function queryRule(argv: string[]): Promise<boolean> {
  const r = await run(argv, { allowFailure: true, timeoutMs: TIMEOUT_MS });
  if (r.code === 0) return true;
  if (r.code === 1) return false;
  throw new AgentError('command', `${argv.join(' ')} failed with exit code ${r.code}: ${r.stderr.trim()}`, { exitCode: r.code });
}

/** upstream's _is_firewall_service_running: `firewall-cmd --state` prints "running". */
export async function firewalldRunning(): Promise<boolean> {
  if (!(await which('firewall-cmd'))) {
    log.info('The firewalld service is not present on the system');
    return false;
  }
  const r = await run(['firewall-cmd', '--state'], { allowFailure: true, timeoutMs: TIMEOUT_MS });
  const state = r.stdout.trim();
  if (r.code === 0 && state === 'running') {
    log.info('The firewalld service is running');
    return true;
  }
  log.info(`The firewalld service is present, but not running: ${state || r.stderr.trim() || `exit code ${r.code}`}`);
  return false;
}

async function firewalldState(): Promise<string> {
  const r = await run(['firewall-cmd', '--permanent', '--direct', '--get-all-passthroughs'], { allowFailure: true, timeoutMs: TIMEOUT_MS });
  return r.code === 0 ? r.stdout.trim() : `Failed to get the current state of the firewall rules: ${r.stderr.trim()}`;
}

export type PersistOutcome =
  | 'firewalld-unchanged'
  | 'firewalld-added'
  | 'firewalld-reset'
  | 'unit-unchanged'
  | 'unit-written'
  | 'no-systemd';

/** The permanent passthroughs, checked and added (or reset when only some are there), as upstream's setup(). */
async function persistWithFirewalld(wireServer: string, uid: number): Promise<PersistOutcome> {
  const version = await run(['firewall-cmd', '--version'], { allowFailure: true, timeoutMs: TIMEOUT_MS });
  log.info(
    `Using firewall-cmd [version ${version.code === 0 ? version.stdout.trim() : 'unknown'}] to manage the persistent firewall rules`,
  );
  try {
    const legacy = firewalldLegacyRuleCommand('--query-passthrough', wireServer);
    if (await queryRule(legacy)) {
      log.info(`Found legacy firewall rule: ${legacy.join(' ')}`);
      const remove = firewalldLegacyRuleCommand('--remove-passthrough', wireServer);
      await run(remove, { timeoutMs: TIMEOUT_MS });
      log.info(`Removed legacy firewall rule: ${remove.join(' ')}`);
    }
  } catch (e) {
    log.error(`Unable to remove legacy firewall rule. Error: ${describeError(e)}`);
  }
  const present = new Set<RuleName>();
  for (const [name, argv] of firewalldRuleCommands('--query-passthrough', wireServer, uid)) if (await queryRule(argv)) present.add(name);
  let outcome: PersistOutcome;
  if (present.size === RULE_NAMES.length) {
    log.info(`The permanent firewall rules for Azure Fabric are already setup:\n${await firewalldState()}`);
    return 'firewalld-unchanged';
  }
  if (present.size > 0) {
    const missing = RULE_NAMES.filter((n) => !present.has(n));
    log.warn(`The permanent firewall rules for Azure Fabric are not setup correctly (missing: ${missing.join(', ')}), will reset them`);
    for (const [name, argv] of firewalldRuleCommands('--remove-passthrough', wireServer, uid))
      if (present.has(name)) await run(argv, { timeoutMs: TIMEOUT_MS });
    outcome = 'firewalld-reset';
  } else {
    outcome = 'firewalld-added';
  }
  // In order: the ACCEPTs before the DROP.
  for (const [, argv] of firewalldRuleCommands('--passthrough', wireServer, uid)) await run(argv, { timeoutMs: TIMEOUT_MS });
  log.info(`${outcome === 'firewalld-reset' ? 'Reset' : 'Created'} permanent firewall rules for Azure Fabric:\n${await firewalldState()}`);
  return outcome;
}

export interface PersistFirewallOptions {
  wireServer: string;
  binary: string;
  confPath: string | null;
  unitDir: string;
  /** `<agent service>-network-setup.service` */
  unitName: string;
  libDir: string;
  /** present when systemd is PID 1; default /run/systemd/system */
  systemdMarker?: string;
  /** the uid the ACCEPT rule names: the agent's own (root) */
  uid?: number;
}

function removeQuietly(path: string): void {
  try {
    if (existsSync(path)) {
      rmSync(path, { force: true });
      log.info(`removed ${path}`);
    }
  } catch (e) {
    log.info(`Unable to delete ${path}: ${describeError(e)}`);
  }
}

async function unitEnabled(name: string): Promise<boolean> {
  const r = await run(['systemctl', 'is-enabled', name], { allowFailure: true, timeoutMs: TIMEOUT_MS });
  if (r.code !== 0) log.verbose(`${name} not enabled. Command: systemctl is-enabled ${name}, ExitCode: ${r.code}\nStdout: ${r.stdout}`);
  return r.code === 0 && r.stdout.trim() === 'enabled';
}

function currentText(path: string): string | null {
  try {
    return readFileNoFollow(path, { maxBytes: 64 * 1024 }).toString('utf8');
  } catch {
    return null;
  }
}

/** The boot-time unit, rewritten and enabled unless it is enabled with our text already (upstream's _setup_network_setup_service). */
async function persistWithUnit(o: PersistFirewallOptions): Promise<PersistOutcome> {
  const path = join(o.unitDir, o.unitName);
  const wanted = networkSetupUnit({ binary: o.binary, wireServer: o.wireServer, confPath: o.confPath });
  const enabled = await unitEnabled(o.unitName);
  if (enabled && currentText(path) === wanted) {
    log.info(`Service: ${o.unitName} already enabled. No change needed.`);
    return 'unit-unchanged';
  }
  log.info(
    enabled
      ? `Unit file ${path} differs from the expected one (version ${NETWORK_SETUP_UNIT_VERSION}, -setup-firewall=${o.wireServer}), setting it up again`
      : `Service: ${o.unitName} not enabled. Adding it now`,
  );
  writeFileAtomic(path, wanted, { mode: 0o644, mkdir: true });
  const r = await run(['systemctl', 'enable', o.unitName], { allowFailure: true, timeoutMs: 60_000 });
  if (r.code !== 0) {
    removeQuietly(path);
    throw new AgentError(
      'command',
      `Unable to enable service: ${o.unitName}; deleting service file: ${path}. Command: systemctl enable ${o.unitName}, Exit-code: ${r.code}.\nstdout: ${r.stdout}\nstderr: ${r.stderr}`,
      { unit: o.unitName, exitCode: r.code },
    );
  }
  // The Python agent's unit ran this script; ours runs the executable, so the script has no further use.
  removeQuietly(join(o.libDir, NETWORK_SETUP_SCRIPT));
  log.info(`Successfully added and enabled the ${o.unitName}`);
  return 'unit-written';
}

/** upstream's PersistFirewallRulesHandler.setup(). */
export async function persistFirewallRules(o: PersistFirewallOptions): Promise<PersistOutcome> {
  if (await firewalldRunning()) {
    log.info('Firewalld.service is running, setting up permanent rules on the VM');
    const outcome = await persistWithFirewalld(o.wireServer, o.uid ?? 0);
    // firewalld restores the rules at boot: a unit of ours (or the Python agent's) would only get in its way.
    removeQuietly(join(o.unitDir, o.unitName));
    removeQuietly(join(o.libDir, NETWORK_SETUP_SCRIPT));
    return outcome;
  }
  const unitPath = join(o.unitDir, o.unitName);
  if (!existsSync(o.systemdMarker ?? '/run/systemd/system')) {
    log.info(`Did not detect systemd, will not set ${unitPath}`);
    return 'no-systemd';
  }
  log.info(`Firewalld service not running/unavailable, trying to set up ${unitPath}`);
  return persistWithUnit(o);
}

/** The options for this configuration and distribution. */
export function persistFirewallOptions(config: Config, profile: DistroProfile, wireServer: string): PersistFirewallOptions {
  return {
    wireServer,
    binary: agentBinaryOf(profile),
    confPath: unitConfPathOf(config, profile),
    unitDir: unitDirOf(profile),
    unitName: `${profile.agentService}-network-setup.service`,
    libDir: libDirOf(config),
  };
}
