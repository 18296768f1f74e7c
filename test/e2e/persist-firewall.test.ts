// The WireServer rules kept across reboots by the built daemon at each start with OS.EnableFirewall=y, as upstream's
// PersistFirewallRulesHandler: with firewalld running, permanent direct passthroughs through `firewall-cmd` (a stub on
// PATH here that records its argv and keeps the passthroughs in a file, answering --state with "running"); without
// it and with systemd, <service>-network-setup.service written and enabled (a stub systemctl that records its argv;
// /run/systemd/system made in the sandbox's private /run), its text checked against the real unit.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { networkSetupUnit } from '../../src/daemon/persist-firewall.ts';
import { detectProfile } from '../../src/os/distro-profile.ts';
import { createSandbox, WAAGENT, type Sandbox } from '../sandbox/sandbox.ts';

const STUBS = '/root/stubs';
const PATH = `${STUBS}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;
const LOG = '/var/log/waagent.log';
const profile = detectProfile();
const UNIT_NAME = `${profile.agentService}-network-setup.service`;
const UNIT = `${profile.unitDir}/${UNIT_NAME}`;
const SCRIPT = '/var/lib/waagent/waagent-network-setup.py';

/** firewall-cmd: argv to firewall-cmd.log; --state "running"; passthroughs kept one per line in passthroughs. */
const FIREWALL_CMD = `#!/bin/sh
echo "$*" >> ${STUBS}/firewall-cmd.log
db=${STUBS}/passthroughs
touch "$db"
case "$1" in
  --state) echo running; exit 0 ;;
  --version) echo 1.3.4; exit 0 ;;
esac
[ "$1 $2" = "--permanent --direct" ] || exit 2
op=$3; shift 3
case "$op" in
  --get-all-passthroughs) cat "$db"; exit 0 ;;
  --query-passthrough) grep -qxF -- "$*" "$db" && exit 0; exit 1 ;;
  --passthrough) echo "$*" >> "$db"; exit 0 ;;
  --remove-passthrough) grep -vxF -- "$*" "$db" > "$db.new"; mv "$db.new" "$db"; exit 0 ;;
esac
exit 2
`;

/** systemctl: argv to systemctl.log; is-enabled answers from the file enabled-<unit>, which enable makes. */
const SYSTEMCTL = `#!/bin/sh
echo "$*" >> ${STUBS}/systemctl.log
case "$1" in
  is-enabled) if [ -e ${STUBS}/enabled-$2 ]; then echo enabled; exit 0; fi; echo disabled; exit 1 ;;
  enable) touch ${STUBS}/enabled-$2; exit 0 ;;
esac
exit 0
`;

/** The three rules as firewalld passthrough arguments (after the option), for 127.0.0.1 and root. */
const RULES = [
  'ipv4 -t security -A OUTPUT -d 127.0.0.1 -p tcp --destination-port 53 -j ACCEPT',
  'ipv4 -t security -A OUTPUT -d 127.0.0.1 -p tcp -m owner --uid-owner 0 -j ACCEPT',
  'ipv4 -t security -A OUTPUT -d 127.0.0.1 -p tcp -m conntrack --ctstate INVALID,NEW -j DROP',
];
const LEGACY = 'ipv4 -t security -I OUTPUT -d 127.0.0.1 -p tcp --destination-port 53 -j ACCEPT';

async function waitFor(what: string, probe: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

describe('the daemon persists the WireServer rules at start (OS.EnableFirewall=y)', { timeout: 300_000 }, () => {
  let sb: Sandbox;

  const read = (path: string): string | null => {
    try {
      return sb.readFile(path);
    } catch {
      return null;
    }
  };
  const lines = (path: string) => (read(path) ?? '').split('\n').filter(Boolean);
  /**
   * What systemctl was asked about units: the once-per-start OSInfo telemetry event also runs `systemctl --version`,
   * whenever the first goal state has come, so that call is left out.
   */
  const unitCalls = () => lines(`${STUBS}/systemctl.log`).filter((l) => l !== '--version');
  const sh = async (cmd: string) => {
    const r = await sb.exec(['sh', '-c', cmd]);
    assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  };

  /** One daemon run until `done` appears in the log (after the log's current end), then SIGTERM. */
  async function runDaemon(done: RegExp): Promise<string> {
    const from = (read(LOG) ?? '').length;
    const child: ChildProcess = sb.spawn([WAAGENT, '-daemon'], { env: { PATH } });
    child.stdout!.resume();
    child.stderr!.resume();
    const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 128)));
    try {
      await waitFor(`${done} in the log`, () => done.test((read(LOG) ?? '').slice(from)));
    } finally {
      await sb.exec(['sh', '-c', 'kill -TERM "$(cat /var/run/waagent.pid)"']);
      assert.equal(await Promise.race([exited, sleep(60_000, -1, { ref: false })]), 0, 'the daemon stopped cleanly');
    }
    return (read(LOG) ?? '').slice(from);
  }

  before(async () => {
    sb = await createSandbox();
    await sb.startEmulator();
    sb.writeConfig({
      'Provisioning.Agent': 'disabled',
      'OS.EnableFirewall': 'y',
      'Extensions.GoalStatePeriod': '1',
      'Extensions.InitialGoalStatePeriod': '1',
    });
  });
  after(() => sb?.close());

  test('firewalld running: permanent passthroughs added in order, the legacy rule removed, our unit and the Python script removed', async () => {
    sb.writeFile(`${STUBS}/firewall-cmd`, FIREWALL_CMD, 0o755);
    sb.writeFile(`${STUBS}/passthroughs`, `${LEGACY}\n`);
    sb.writeFile(UNIT, networkSetupUnit({ binary: WAAGENT, wireServer: '127.0.0.1', confPath: null }));
    sb.writeFile(SCRIPT, '# the Python agent\n');
    const log = await runDaemon(/Created permanent firewall rules for Azure Fabric/);
    assert.match(log, /The firewalld service is running/);
    assert.match(log, /Using firewall-cmd \[version 1\.3\.4\] to manage the persistent firewall rules/);
    const argv = lines(`${STUBS}/firewall-cmd.log`);
    assert.deepEqual(argv, [
      '--state',
      '--version',
      `--permanent --direct --query-passthrough ${LEGACY}`,
      `--permanent --direct --remove-passthrough ${LEGACY}`,
      ...RULES.map((r) => `--permanent --direct --query-passthrough ${r}`),
      ...RULES.map((r) => `--permanent --direct --passthrough ${r}`),
      '--permanent --direct --get-all-passthroughs',
    ]);
    assert.deepEqual(lines(`${STUBS}/passthroughs`), RULES, 'the three rules, in order, and nothing else');
    assert.equal(read(UNIT), null, 'firewalld restores the rules at boot: our unit goes');
    assert.equal(read(SCRIPT), null);
    // the live rules were set up too (the real iptables of the sandbox's network namespace)
    const live = await sb.exec(['iptables', '-w', '-t', 'security', '-S', 'OUTPUT']);
    assert.equal(live.stdout.split('\n').filter((l) => l.startsWith('-A')).length, 3, live.stdout);
  });

  test('firewalld running, the rules already there: checked, nothing added; one missing: the rest removed and all added again', async () => {
    await sh(`: > ${STUBS}/firewall-cmd.log`);
    const log = await runDaemon(/The permanent firewall rules for Azure Fabric are already setup/);
    assert.doesNotMatch(log, /Created permanent/);
    assert.equal(
      lines(`${STUBS}/firewall-cmd.log`).filter((a) => a.includes('--passthrough ') && !a.includes('query')).length,
      0,
      'nothing added or removed',
    );

    sb.writeFile(`${STUBS}/passthroughs`, `${RULES[2]}\n`);
    await sh(`: > ${STUBS}/firewall-cmd.log`);
    const reset = await runDaemon(/Reset permanent firewall rules for Azure Fabric/);
    assert.match(reset, /not setup correctly \(missing: ACCEPT DNS, ACCEPT\), will reset them/);
    assert.deepEqual(
      lines(`${STUBS}/firewall-cmd.log`).filter((a) => !a.includes('--query-passthrough')),
      [
        '--state',
        '--version',
        `--permanent --direct --remove-passthrough ${RULES[2]}`,
        ...RULES.map((r) => `--permanent --direct --passthrough ${r}`),
        '--permanent --direct --get-all-passthroughs',
      ],
    );
    assert.deepEqual(lines(`${STUBS}/passthroughs`), RULES);
  });

  test('no firewalld, systemd running: the unit is written with its real contents and enabled, then left alone while it matches', async () => {
    await sh(`rm -f ${STUBS}/firewall-cmd && mkdir -p /run/systemd/system`);
    sb.writeFile(`${STUBS}/systemctl`, SYSTEMCTL, 0o755);
    sb.writeFile(SCRIPT, '# the Python agent\n');
    // the Python agent's unit: its ExecStart runs its generated script
    sb.writeFile(
      UNIT,
      '# This unit file (Version=1.4) was created by the Azure VM Agent.\n[Service]\nExecStart=/usr/bin/python3 /var/lib/waagent/waagent-network-setup.py\n',
    );
    await sh(`touch ${STUBS}/enabled-${UNIT_NAME}`);
    const log = await runDaemon(/Successfully added and enabled the /);
    assert.match(log, new RegExp(`Unit file ${UNIT.replaceAll('.', '\\.')} differs from the expected one`));
    const expected = networkSetupUnit({ binary: WAAGENT, wireServer: '127.0.0.1', confPath: null });
    assert.equal(read(UNIT), expected);
    assert.match(expected, new RegExp(`^ExecStart=${WAAGENT.replaceAll('.', '\\.')} -setup-firewall=127\\.0\\.0\\.1$`, 'm'));
    assert.equal((await sb.exec(['stat', '-c', '%a', UNIT])).stdout.trim(), '644');
    assert.deepEqual(unitCalls(), [`is-enabled ${UNIT_NAME}`, `enable ${UNIT_NAME}`]);
    assert.equal(read(SCRIPT), null, "the Python agent's script is no longer used");

    // the next start: enabled and unchanged, nothing written or enabled
    await sh(`: > ${STUBS}/systemctl.log`);
    const again = await runDaemon(/already enabled\. No change needed\./);
    assert.doesNotMatch(again, /Successfully added and enabled/);
    assert.deepEqual(unitCalls(), [`is-enabled ${UNIT_NAME}`]);
    assert.equal(read(UNIT), expected);

    // not enabled (someone disabled it): written and enabled again
    await sh(`rm -f ${STUBS}/enabled-${UNIT_NAME} && : > ${STUBS}/systemctl.log`);
    const third = await runDaemon(/Successfully added and enabled the /);
    assert.match(third, new RegExp(`Service: ${UNIT_NAME.replaceAll('.', '\\.')} not enabled\\. Adding it now`));
    assert.deepEqual(unitCalls(), [`is-enabled ${UNIT_NAME}`, `enable ${UNIT_NAME}`]);
  });

  test('no firewalld and no systemd: nothing is written (logged, as upstream)', async () => {
    await sh(`rm -rf /run/systemd/system ${UNIT}`);
    const log = await runDaemon(/Did not detect systemd, will not set /);
    assert.equal(read(UNIT), null);
    assert.match(log, /Setting up persistent firewall rules/);
  });
});
