// waagent -daemon end to end (issue 6): the BUILT binary in the namespace sandbox against the fabric emulator.
// One process provisions (Ready once), then runs the goal-state / status loop every Extensions.GoalStatePeriod;
// a second daemon is refused; an emulator outage is survived with back-off and bounded disk use; SIGTERM in the
// middle of a cycle ends it promptly and cleanly, and a restart (-start) resumes without provisioning again. Then
// the OS duties: the WireServer firewall (iptables in the sandbox's own network namespace), hostname monitoring,
// disable_agent, and the resource disk (a loop device on a fake Gen2 VMBus tree) set up beside provisioning.
// The outage runs with scaled HTTP retry waits (FAST_RETRIES); the restarted daemon runs with the real ones, and
// SIGTERM must cut its real back-off short.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FAST_RETRIES } from '../helpers/fast-retries.ts';
import { FIXTURES } from '../helpers/paths.ts';
import { fakeVmId, ovfEnvXml, udfMedia } from '../helpers/provisioning.ts';
import { createSandbox, WAAGENT, type EmulatorHandle, type Sandbox } from '../sandbox/sandbox.ts';

const VM_ID = 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8';
const PID_FILE = '/var/run/waagent.pid';
const LOG = '/var/log/waagent.log';
/** Extensions.GoalStatePeriod at the schema's minimum (secs(): min 1). */
const FAST = { 'Extensions.GoalStatePeriod': '1', 'Extensions.InitialGoalStatePeriod': '1' };

interface Daemon {
  child: ChildProcess;
  /** resolves with the daemon's exit code (128 when a signal ended it) */
  exited: Promise<number>;
}

/** Runs the binary in the foreground of its own nsenter: the nsenter exits with the daemon's code. */
function startDaemon(sb: Sandbox, args: string[] = ['-daemon']): Daemon {
  const child = sb.spawn([WAAGENT, ...args]);
  child.stdout!.resume();
  child.stderr!.resume();
  const exited = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  return { child, exited };
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

async function sh(sb: Sandbox, cmd: string): Promise<string> {
  const r = await sb.exec(['sh', '-c', cmd]);
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout.trim();
}

/** The pid in the pid file (the sandbox's pid namespace), null when there is none. */
async function pidFile(sb: Sandbox): Promise<number | null> {
  const r = await sb.exec(['cat', PID_FILE]);
  return r.code === 0 ? Number(r.stdout.trim()) : null;
}

async function alive(sb: Sandbox, pid: number): Promise<boolean> {
  return (await sb.exec(['kill', '-0', String(pid)])).code === 0;
}

function logText(sb: Sandbox): string {
  try {
    return sb.readFile(LOG);
  } catch {
    return '';
  }
}

/** Files a killed or interrupted atomic write would leave behind. */
async function leftovers(sb: Sandbox): Promise<string> {
  return (await sb.exec(['sh', '-c', 'find /etc /var/lib/waagent /run /var/log -name ".*.tmp" 2>/dev/null'])).stdout.trim();
}

async function uploads(emu: EmulatorHandle): Promise<number> {
  return (await emu.statusUploads()).length;
}

/** A sandbox with the emulator, a VM id and provisioning media; writes /etc/waagent.conf with `config`. */
async function vm(
  config: Record<string, string>,
  ovf: Parameters<typeof ovfEnvXml>[0] = {},
): Promise<{ sb: Sandbox; emu: EmulatorHandle }> {
  const sb = await createSandbox({ hostname: 'before-provisioning' });
  try {
    await fakeVmId(sb, VM_ID);
    const emu = await sb.startEmulator();
    sb.writeConfig({ 'DVD.Device': udfMedia(sb, ovfEnvXml({ hostname: 'daemon-vm', ...ovf })), ...FAST, ...config });
    return { sb, emu };
  } catch (e) {
    await sb.close();
    throw e;
  }
}

/** SIGTERM to the daemon inside; resolves with its exit code and how long it took. */
async function sigterm(sb: Sandbox, d: Daemon, pid: number): Promise<{ code: number; ms: number }> {
  const t = performance.now();
  await sh(sb, `kill -TERM ${pid}`);
  // unref'd: the timer must not keep this file's process alive for a minute after the daemon has exited
  const code = await Promise.race([d.exited, sleep(60_000, -1, { ref: false })]);
  return { code, ms: performance.now() - t };
}

describe('waagent -daemon: provisioning, the status loop, an outage, SIGTERM and a restart', { timeout: 420_000 }, () => {
  let sb: Sandbox;
  let emu: EmulatorHandle;
  let d: Daemon;
  let pid: number;

  before(async () => {
    ({ sb, emu } = await vm({ ...FAST_RETRIES }));
    d = startDaemon(sb, ['-daemon', '-verbose']);
    pid = await waitFor('the pid file', () => pidFile(sb));
  });
  after(() => sb?.close());

  test('provisions (NotReady, then Ready once) and uploads the status every cycle', async () => {
    await waitFor('the Ready report', async () => (await emu.healthReports()).some((h) => h.state === 'Ready'));
    const first = await waitFor('a first status upload', async () => (await uploads(emu)) || null);
    await sleep(4_500);
    const later = await uploads(emu);
    assert.ok(later - first >= 3, `${later - first} status uploads in 4.5 s with GoalStatePeriod=1`);
    const doc = JSON.parse((await emu.statusUploads()).at(-1)!.content) as { aggregateStatus: { guestAgentStatus: { status: string } } };
    assert.equal(doc.aggregateStatus.guestAgentStatus.status, 'Ready');
    assert.deepEqual(
      (await emu.healthReports()).map((h) => [h.state, h.subStatus]),
      [
        ['NotReady', 'Provisioning'],
        ['Ready', null],
      ],
    );
    assert.equal(sb.readFile('/var/lib/waagent/provisioned'), VM_ID);
    assert.equal(await alive(sb, pid), true);
  });

  test('a second daemon is refused while the first runs', async () => {
    const r = await sb.exec([WAAGENT, '-daemon'], { timeoutMs: 30_000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`another waagent daemon is running \\(pid ${pid}, from ${PID_FILE}\\)`));
    assert.equal(await pidFile(sb), pid, 'the pid file still names the first daemon');
    assert.equal(await alive(sb, pid), true);
  });

  test('survives an emulator outage with back-off and bounded disk use, and resumes on the same ports', { timeout: 240_000 }, async () => {
    const duBefore = Number(await sh(sb, 'du -sb /var/lib/waagent | cut -f1'));
    const historyBefore = await sh(sb, 'ls /var/lib/waagent/history | wc -l');
    const mark = logText(sb).length;
    const ports = { wireServer: emu.wireServer, hostPlugin: emu.hostPluginPort };
    await emu.stop();
    // A failed cycle sits out the HTTP retries of the goal state and of both status channels (§2.1, scaled here),
    // then backs off.
    await waitFor(
      'the back-off warning',
      () => /WARNING .*the platform did not answer \(1 cycle\(s\) in a row\); backing off/.test(logText(sb).slice(mark)),
      180_000,
    );
    const during = logText(sb).slice(mark);
    assert.match(during, /ERROR .*goal state could not be processed: .*ECONNREFUSED/);
    assert.match(
      during,
      /comp=goalstate failed \(attempt 6\)[\s\S]*WARNING .*backing off/,
      'all 6 attempts of the goal state before the back-off',
    );
    assert.equal(await pidFile(sb), pid);
    assert.equal(await alive(sb, pid), true, 'the daemon died in the outage');
    assert.equal(await sh(sb, 'ls /var/lib/waagent/history | wc -l'), historyBefore, 'a history entry per failed cycle');
    const grown = Number(await sh(sb, 'du -sb /var/lib/waagent | cut -f1')) - duBefore;
    assert.ok(grown < 64 * 1024, `Lib.Dir grew by ${grown} bytes during the outage`);

    emu = await sb.startEmulator();
    assert.deepEqual({ wireServer: emu.wireServer, hostPlugin: emu.hostPluginPort }, ports, 'the emulator came back on other ports');
    await waitFor('status uploads to resume', async () => (await uploads(emu)) >= 2, 60_000);
    assert.equal(await alive(sb, pid), true);
    assert.deepEqual(await emu.healthReports(), [], 'no provisioning again');
  });

  test('SIGTERM in the middle of a cycle (retrying an unreachable WireServer): exit 0 within seconds, state clean', async () => {
    const mark = logText(sb).length;
    await emu.stop();
    await waitFor('a cycle retrying the goal state', () => /comp=goalstate failed \(attempt 1\)/.test(logText(sb).slice(mark)));
    const r = await sigterm(sb, d, pid);
    assert.equal(r.code, 0, 'exit code after SIGTERM');
    assert.ok(r.ms < 10_000, `the daemon took ${Math.round(r.ms)} ms to stop`);
    assert.match(logText(sb).slice(mark), /SIGTERM received: stopping after the current step[\s\S]*daemon stopped\n$/);
    assert.equal(await pidFile(sb), null, 'the pid file is removed');
    assert.equal(await leftovers(sb), '');
  });

  let started: number;

  test('-start runs it again in the background at once; it does not provision again and resumes uploading', async () => {
    emu = await sb.startEmulator();
    // from here on the real retry timing (the default Debug.RetryDelayPercent)
    const conf = sb.readFile('/etc/waagent.conf');
    sb.writeFile(
      '/etc/waagent.conf',
      conf
        .split('\n')
        .filter((l) => !Object.keys(FAST_RETRIES).some((k) => l.startsWith(`${k}=`)))
        .join('\n'),
    );
    const t = performance.now();
    const r = await sb.exec([WAAGENT, '-start', '-verbose'], { timeoutMs: 30_000 });
    const ms = performance.now() - t;
    assert.equal(r.code, 0, r.stderr);
    started = Number(/^waagent daemon started \(pid (\d+)\)\n$/.exec(r.stdout)?.[1]);
    assert.ok(started > 0, r.stdout);
    assert.ok(ms < 5_000, `-start took ${Math.round(ms)} ms`);
    assert.equal(await waitFor('the new pid file', () => pidFile(sb)), started);
    await waitFor('status uploads from the restarted daemon', async () => (await uploads(emu)) >= 2);
    assert.deepEqual(await emu.healthReports(), [], 'no new health report: provisioning is not redone');
    assert.match(logText(sb), /provisioning already completed for this VM; nothing to do/);
  });

  test('SIGTERM while the background daemon sits out the real back-off (WireServer down): stopped within seconds, state clean', async () => {
    assert.ok(started > 0, 'the -start test ran');
    const mark = logText(sb).length;
    await emu.stop();
    await waitFor('a cycle retrying the goal state', () => /comp=goalstate failed \(attempt 1\)/.test(logText(sb).slice(mark)));
    // the next attempt is 2 s away, the whole cycle (goal state, then both status channels) over a minute and a half
    const t = performance.now();
    await sh(sb, `kill -TERM ${started}`);
    await waitFor('the background daemon to stop', async () => !(await alive(sb, started)), 15_000);
    const ms = performance.now() - t;
    assert.ok(ms < 10_000, `the daemon took ${Math.round(ms)} ms to stop`);
    const after = logText(sb).slice(mark);
    assert.doesNotMatch(after, /comp=goalstate failed \(attempt 3\)/, 'no retry after SIGTERM');
    assert.match(after, /SIGTERM received: stopping after the current step[\s\S]*daemon stopped\n$/);
    assert.equal(await pidFile(sb), null);
    assert.equal(await leftovers(sb), '');
  });
});

describe('waagent -daemon: the WireServer firewall and hostname monitoring', { timeout: 180_000 }, () => {
  let sb: Sandbox;
  let d: Daemon;
  let pid: number;
  // curl's own exit code: 0 when the versions document came back
  const curl = (asNobody: boolean) =>
    sb.exec([
      ...(asNobody ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : []),
      'curl',
      '-sS',
      '--max-time',
      '3',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      'http://127.0.0.1:8080/?comp=versions',
    ]);

  before(async () => {
    ({ sb } = await vm({ 'OS.EnableFirewall': 'y', 'Provisioning.MonitorHostName': 'y', 'Provisioning.MonitorHostNamePeriod': '1' }));
    const nobody = await curl(true);
    assert.equal(nobody.stdout, '200', `before the firewall an unprivileged user reaches the WireServer: ${nobody.stderr}`);
    d = startDaemon(sb);
    pid = await waitFor('the pid file', () => pidFile(sb));
  });
  after(() => sb?.close());

  test('OS.EnableFirewall: the three rules in the security table; root reaches the WireServer, nobody cannot', async () => {
    const rules = await waitFor('the firewall rules', async () => {
      const out = await sh(sb, 'iptables -w -t security -S OUTPUT');
      return out.includes('DROP') ? out : null;
    });
    assert.deepEqual(
      rules.split('\n').filter((l) => l.startsWith('-A')),
      [
        '-A OUTPUT -d 127.0.0.1/32 -p tcp -m tcp --dport 53 -j ACCEPT',
        '-A OUTPUT -d 127.0.0.1/32 -p tcp -m owner --uid-owner 0 -j ACCEPT',
        '-A OUTPUT -d 127.0.0.1/32 -p tcp -m conntrack --ctstate INVALID,NEW -j DROP',
      ],
    );
    const root = await curl(false);
    assert.equal(root.stdout, '200', root.stderr);
    const nobody = await curl(true);
    assert.notEqual(nobody.code, 0, `an unprivileged user still reaches the WireServer: ${nobody.stdout}`);
    assert.notEqual(nobody.stdout, '200');
  });

  test('the hostname changed by hand is written to /etc/hostname and published', async () => {
    await waitFor('provisioning to set the hostname', () => sb.readFile('/etc/hostname') === 'daemon-vm\n');
    await sh(sb, 'hostname renamed-vm');
    await waitFor('/etc/hostname to follow', () => sb.readFile('/etc/hostname') === 'renamed-vm\n', 15_000);
    await waitFor('published_hostname to follow', () => sb.readFile('/var/lib/waagent/published_hostname') === 'renamed-vm', 15_000);
    assert.match(logText(sb), /the hostname changed from daemon-vm to renamed-vm: publishing it/);
    const r = await sigterm(sb, d, pid);
    assert.deepEqual({ code: r.code, fast: r.ms < 10_000 }, { code: 0, fast: true });
  });
});

describe('waagent -daemon: provisioning without the guest agent', { timeout: 120_000 }, () => {
  test('ProvisionGuestAgent=false (disable_agent): Ready, then nothing more, until SIGTERM', async () => {
    const { sb, emu } = await vm({}, { provisionGuestAgent: 'false' });
    try {
      const d = startDaemon(sb);
      const pid = await waitFor('the pid file', () => pidFile(sb));
      await waitFor('the Ready report', async () => (await emu.healthReports()).some((h) => h.state === 'Ready'));
      await sleep(4_000);
      assert.equal(await alive(sb, pid), true, 'the daemon ended instead of idling');
      assert.equal(await uploads(emu), 0, 'status uploaded although the agent is disabled');
      assert.deepEqual(
        (await emu.healthReports()).map((h) => h.state),
        ['NotReady', 'Ready'],
      );
      assert.equal((await sb.exec(['test', '-e', '/var/lib/waagent/disable_agent'])).code, 0);
      assert.match(logText(sb), /disable_agent is present/);
      const r = await sigterm(sb, d, pid);
      assert.deepEqual({ code: r.code, fast: r.ms < 5_000 }, { code: 0, fast: true });
      assert.equal(await pidFile(sb), null);
    } finally {
      await sb.close();
    }
  });

  test('Logs.Collect: the collected logs (redacted) are uploaded through the HostGAPlugin after the initial delay', async () => {
    const { sb, emu } = await vm({
      'Provisioning.Agent': 'disabled',
      'Logs.Collect': 'y',
      'Logs.CollectPeriod': '3600',
      'Debug.LogCollectorInitialDelay': '2',
    });
    try {
      const d = startDaemon(sb);
      const pid = await waitFor('the pid file', () => pidFile(sb));
      const logs = await waitFor(
        'a /vmAgentLog upload',
        async () => (await emu.requests()).find((r) => r.method === 'PUT' && r.path === '/vmAgentLog') ?? null,
      );
      assert.equal(logs.status, 200);
      assert.equal(logs.headers['x-ms-client-name'], 'WALinuxAgent');
      // the deployment id: the goal state's ConfigName up to its first '.' (§2.4)
      const configName = /<ConfigName>([^<]*)</.exec(readFileSync(join(FIXTURES, 'tests/data/wire/goal_state.xml'), 'utf8'))![1]!;
      assert.equal(logs.headers['x-ms-vmagentlog-deploymentid'], configName.split('.')[0]);
      assert.match(logs.headers['x-ms-client-correlationid'] ?? '', /^[0-9a-f-]{36}$/);
      assert.ok(logs.bodyBytes > 100, `${logs.bodyBytes} bytes`);
      assert.ok(logs.body.startsWith('PK'), 'a zip');
      const r = await sigterm(sb, d, pid);
      assert.equal(r.code, 0);
      assert.equal((await emu.requests()).filter((q) => q.path === '/vmAgentLog').length, 1, 'once an hour, not every cycle');
    } finally {
      await sb.close();
    }
  });

  test('Provisioning.Agent=disabled: Ready without reading any media, then the status loop runs', async () => {
    const { sb, emu } = await vm({ 'Provisioning.Agent': 'disabled', 'DVD.Device': '/dev/no-such-sr9' });
    try {
      const d = startDaemon(sb);
      const pid = await waitFor('the pid file', () => pidFile(sb));
      await waitFor('status uploads', async () => (await uploads(emu)) >= 2);
      assert.deepEqual(
        (await emu.healthReports()).map((h) => h.state),
        ['Ready'],
      );
      assert.equal((await sb.exec(['test', '-e', '/var/lib/waagent/disable_agent'])).code, 1);
      const r = await sigterm(sb, d, pid);
      assert.equal(r.code, 0);
    } finally {
      await sb.close();
    }
  });
});

describe('waagent -daemon: the resource disk beside provisioning', { timeout: 180_000 }, () => {
  test('a fresh type-7 disk on the VMBus is formatted and mounted, and Ready does not wait for it', async () => {
    const GEN2 = 'f8b3781a-1e82-4818-a1c3-63d806ec15bb';
    const mnt = `/mnt/rd-daemon-${process.pid}`;
    const { sb, emu } = await vm({ 'ResourceDisk.Format': 'y', 'ResourceDisk.MountPoint': mnt, 'ResourceDisk.Filesystem': 'ext4' });
    let loop = '';
    try {
      const image = join(sb.dir, 'resource.img');
      await sh(sb, `truncate -s 64M ${image} && echo 'type=7' | sfdisk --quiet ${image}`);
      loop = await sh(sb, `losetup --find --show --partscan ${image}`);
      // the daemon looks at the default paths: a fake Gen2 VMBus tree over the sandbox's own /sys/bus (no
      // /dev/disk/azure here, and /dev is the host's), naming the loop device as LUN 1 of SCSI controller 0
      const tree = join(sb.dir, 'sysbus');
      mkdirSync(join(tree, 'vmbus', 'devices', GEN2, 'host0', 'target0:0:0', '0:0:0:1', 'block', loop.replace('/dev/', '')), {
        recursive: true,
      });
      writeFileSync(join(tree, 'vmbus', 'devices', GEN2, 'device_id'), `{${GEN2}}\n`);
      await sh(sb, `mount --bind ${tree} /sys/bus`);
      // an mkfs held until the test has seen Ready (the fakeVmId tmpfs on /usr/local/sbin comes first in PATH):
      // Ready must not wait for it. At most 60 s, so that a failing test does not leave it waiting.
      const release = '/run/release-mkfs';
      sb.writeFile(
        '/usr/local/sbin/mkfs.ext4',
        `#!/bin/sh\nfor i in $(seq 600); do [ -e ${release} ] && break; sleep 0.1; done\nexec /usr/sbin/mkfs.ext4 "$@"\n`,
        0o755,
      );

      const d = startDaemon(sb);
      const pid = await waitFor('the pid file', () => pidFile(sb));
      const ready = await waitFor('the Ready report', async () => (await emu.healthReports()).find((h) => h.state === 'Ready'));
      assert.doesNotMatch(logText(sb), /resource disk: \{/, 'the resource disk was done before Ready, though mkfs is held');
      await sh(sb, `touch ${release}`);
      const mountedLine = await waitFor(
        'the resource disk result',
        () => /^(\S+) INFO .*resource disk: (\{"status":"mounted".*)$/m.exec(logText(sb)),
        60_000,
      );
      const result = JSON.parse(mountedLine[2]!) as {
        device: string;
        detectedBy: string;
        action: string;
        formatted: boolean;
        mountPoint: string;
      };
      assert.deepEqual(
        { device: result.device, by: result.detectedBy, action: result.action, formatted: result.formatted, mnt: result.mountPoint },
        { device: loop, by: 'vmbus-gen2', action: 'retype-and-format', formatted: true, mnt },
      );
      const readyAt = Date.parse(ready.time);
      const mountedAt = Date.parse(mountedLine[1]!);
      assert.ok(readyAt < mountedAt, `Ready (${ready.time}) came after the resource disk (${mountedLine[1]})`);
      assert.equal(await sh(sb, `findmnt -n -o SOURCE,FSTYPE ${mnt}`), `${loop}p1 ext4`);
      assert.equal((await sb.exec(['test', '-s', `${mnt}/DATALOSS_WARNING_README.txt`])).code, 0);
      await waitFor('status uploads', async () => (await uploads(emu)) > 0);
      const r = await sigterm(sb, d, pid);
      assert.equal(r.code, 0);
    } finally {
      // loop devices are not namespaced: detach before the sandbox goes
      if (loop) {
        const r = await sb.exec(['sh', '-c', `umount ${mnt} 2>/dev/null; losetup -d ${loop}`]);
        assert.equal(r.code, 0, `cleanup failed: ${r.stderr}`);
      }
      await sb.close();
    }
  });
});
