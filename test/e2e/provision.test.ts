// waagent -provision end to end (issue 4): the BUILT binary in the namespace sandbox, the fabric emulator, a UDF
// media image given through DVD.Device, and the real useradd / usermod / visudo / ssh-keygen / sshd / hostname.
// Checked from outside: the machine's state, a real ssh login with each provisioned key, and what the emulator
// heard (NotReady before Ready, for the goal state's incarnation, container and role instance).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeRecords } from '../../src/provisioning/kvp.ts';
import { fixtureCertificates } from '../helpers/fixture-certs.ts';
import { FAST_RETRIES, scaled } from '../helpers/fast-retries.ts';
import { FIXTURES } from '../helpers/paths.ts';
import { fakeVmId, ovfEnvXml, udfMedia } from '../helpers/provisioning.ts';
import { createSandbox, WAAGENT, type EmulatorHandle, type ExecResult, type Sandbox } from '../sandbox/sandbox.ts';

const VM_ID = 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8';
const PASSWORD = 'Pr0v-e2e pass';
const GOAL_STATE = readFileSync(join(FIXTURES, 'tests/data/wire/goal_state.xml'), 'utf8');
const tag = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(GOAL_STATE)![1];
const EXPECTED_IDS = { incarnation: tag('Incarnation'), containerId: tag('ContainerId'), instanceId: tag('InstanceId') };

const CERTS = fixtureCertificates();
const WITH_KEY = CERTS.find((c) => c.hasPrivateKey)!;

async function provision(sb: Sandbox, timeoutMs = 120_000): Promise<ExecResult & { ms: number }> {
  const t = performance.now();
  const r = await sb.exec([WAAGENT, '-provision'], { timeoutMs });
  return { ...r, ms: performance.now() - t };
}

function kvpRecords(sb: Sandbox): Array<{ key: string; value: string }> {
  try {
    return decodeRecords(readFileSync(join(sb.root, 'var/lib/hyperv/.kvp_pool_1')));
  } catch {
    return [];
  }
}

/** Files a killed or failed atomic write would leave behind. */
async function leftovers(sb: Sandbox): Promise<string> {
  const r = await sb.exec(['sh', '-c', 'find /etc /var/lib/waagent /home /root \\( -name ".*.tmp" -o -name "hostkeys-*" \\) 2>/dev/null']);
  return r.stdout.trim();
}

function exists(sb: Sandbox, path: string): boolean {
  return existsSync(join(sb.root, path));
}

async function sh(sb: Sandbox, cmd: string): Promise<string> {
  const r = await sb.exec(['sh', '-c', cmd]);
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout.trim();
}

describe('waagent -provision: a VM provisioned against the emulator', () => {
  let sb: Sandbox;
  let emu: EmulatorHandle;
  let first: ExecResult & { ms: number };
  let inlineKey: string;

  before(async () => {
    sb = await createSandbox({ hostname: 'before-provisioning' });
    await fakeVmId(sb, VM_ID);
    emu = await sb.startEmulator();
    await sh(sb, `ssh-keygen -q -t ed25519 -N '' -C inline -f ${sb.dir}/inline`);
    inlineKey = readFileSync(join(sb.dir, 'inline.pub'), 'utf8').trim();
    sb.writeFile(join(sb.dir, 'certkey'), WITH_KEY.keyPem!, 0o600);
    // Flatcar's Ignition put a key there first: it must survive
    sb.writeFile(
      '/home/alice/.ssh/authorized_keys',
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIgnitionKeyKeptByTheAgentXXXXXXXXXXXXXXXXXX ignition\n',
    );
    const media = udfMedia(
      sb,
      ovfEnvXml({
        hostname: 'prov-e2e-vm',
        publicKeys: [
          { path: '$HOME/alice/.ssh/authorized_keys', value: inlineKey.replace(/ inline$/, '') + '\r\n' },
          { path: '$HOME/alice/.ssh/authorized_keys', fingerprint: WITH_KEY.thumbprint },
        ],
        keyPairs: [{ path: '$HOME/alice/.ssh/id_rsa', fingerprint: WITH_KEY.thumbprint }],
        customData: '#!/bin/sh\necho custom-data-ran > /var/lib/waagent/custom-ran\n',
      }),
    );
    sb.writeConfig({ 'DVD.Device': media, 'Provisioning.ExecuteCustomData': 'y' });
    first = await provision(sb);
  });
  after(() => sb?.close());

  test('exits 0 and says Ready', () => {
    assert.equal(first.code, 0, `stderr: ${first.stderr}`);
    assert.match(first.stdout, /^provisioning: Ready reported \(waagent, \d+ ms\); host key SHA256:\S+\n$/);
  });

  test('the emulator saw NotReady/Provisioning, then Ready, for the goal state it served', async () => {
    const reports = await emu.healthReports();
    assert.deepEqual(
      reports.map((h) => [h.state, h.subStatus, h.description]),
      [
        ['NotReady', 'Provisioning', 'Starting'],
        ['Ready', null, null],
      ],
    );
    for (const h of reports)
      assert.deepEqual({ incarnation: h.incarnation, containerId: h.containerId, instanceId: h.instanceId }, EXPECTED_IDS);
  });

  test('the user exists, its password verifies against /etc/shadow, sudo asks for it', async () => {
    const passwd = await sh(sb, 'getent passwd alice');
    assert.match(passwd, /^alice:x:\d+:\d+::\/home\/alice:/);
    const hash = (await sh(sb, 'getent shadow alice')).split(':')[1]!;
    assert.match(hash, /^\$6\$[A-Za-z0-9./]{10}\$[A-Za-z0-9./]{86}$/);
    assert.equal(await sh(sb, `openssl passwd -6 -salt ${hash.split('$')[2]} '${PASSWORD}'`), hash);
    assert.equal(sb.readFile('/etc/sudoers.d/waagent'), 'alice ALL=(ALL) ALL\n');
    assert.equal(await sh(sb, 'stat -c %a /etc/sudoers.d/waagent'), '440');
    assert.equal((await sb.exec(['visudo', '-c'])).code, 0);
  });

  test('sshd -T shows the provisioned settings', async () => {
    await sh(sb, 'mkdir -p /run/sshd');
    const t = await sh(sb, 'sshd -T | grep -E "^(passwordauthentication|kbdinteractiveauthentication|clientaliveinterval) " | sort');
    assert.deepEqual(t.split('\n'), ['clientaliveinterval 180', 'kbdinteractiveauthentication no', 'passwordauthentication no']);
  });

  test('a real sshd accepts a login with the inline key and with the key from the certificate thumbprint', async () => {
    const keys = sb.readFile('/home/alice/.ssh/authorized_keys').trim().split('\n');
    assert.equal(keys.length, 3, keys.join('\n'));
    assert.match(keys[0]!, / ignition$/);
    assert.equal(keys[1], inlineKey.replace(/ inline$/, ''));
    assert.match(keys[2]!, /^ssh-rsa /);
    await sh(sb, '/usr/sbin/sshd -p 2222 -o ListenAddress=127.0.0.1');
    await sleep(300);
    const ssh = (key: string) =>
      sh(
        sb,
        `ssh -i ${key} -p 2222 -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR alice@127.0.0.1 id -un`,
      );
    assert.equal(await ssh(join(sb.dir, 'inline')), 'alice');
    assert.equal(await ssh(join(sb.dir, 'certkey')), 'alice');
  });

  test('the key pair: the certificate private key at 0600, its OpenSSH public key beside it', async () => {
    assert.equal(
      await sh(sb, 'stat -c "%a %U" /home/alice/.ssh /home/alice/.ssh/id_rsa /home/alice/.ssh/id_rsa.pub'),
      '700 alice\n600 alice\n644 alice',
    );
    const derived = await sh(sb, 'ssh-keygen -y -f /home/alice/.ssh/id_rsa');
    assert.equal(
      sb.readFile('/home/alice/.ssh/id_rsa.pub').trim().split(' ').slice(0, 2).join(' '),
      derived.split(' ').slice(0, 2).join(' '),
    );
  });

  test('the hostname is set in the sandbox UTS namespace and /etc/hostname, and published', async () => {
    assert.equal(await sh(sb, 'hostname'), 'prov-e2e-vm');
    assert.equal(sb.readFile('/etc/hostname'), 'prov-e2e-vm\n');
    assert.equal(sb.readFile('/var/lib/waagent/published_hostname'), 'prov-e2e-vm');
  });

  test('host keys regenerated (rsa by default) and custom data ran', async () => {
    const fp = /host key (SHA256:\S+)/.exec(first.stdout)![1];
    assert.equal((await sh(sb, 'ssh-keygen -lf /etc/ssh/ssh_host_rsa_key.pub')).split(' ')[1], fp);
    assert.equal(sb.readFile('/var/lib/waagent/custom-ran'), 'custom-data-ran\n');
  });

  test('secrets are 0600: the transport key, the tenant private keys, the certificates document', async () => {
    const modes = await sh(sb, 'cd /var/lib/waagent && stat -c "%a %U %n" TransportPrivate.pem Certificates.xml *.prv');
    const lines = modes.split('\n');
    assert.ok(lines.length >= 3, modes);
    for (const l of lines) assert.match(l, /^600 root /, modes);
  });

  test('the saved ovf-env.xml is 0600 and without the password; no log line holds it', async () => {
    assert.equal(await sh(sb, 'stat -c %a /var/lib/waagent/ovf-env.xml'), '600');
    const saved = sb.readFile('/var/lib/waagent/ovf-env.xml');
    assert.match(saved, /<UserPassword>\*<\/UserPassword>/);
    assert.ok(!saved.includes(PASSWORD));
    const logText = sb.readFile('/var/log/waagent.log');
    assert.match(logText, /provisioning finished in \d+ ms/);
    assert.ok(!logText.includes(PASSWORD), 'the password is not logged');
  });

  test('the provisioned marker holds the VM id; the KVP pool holds a success report', async () => {
    assert.equal(sb.readFile('/var/lib/waagent/provisioned'), VM_ID);
    const kvp = kvpRecords(sb);
    assert.equal(kvp.length, 1);
    assert.equal(kvp[0]!.key, 'PROVISIONING_REPORT');
    assert.match(kvp[0]!.value, new RegExp(`^result=success\\|agent=waagent-ts/\\S+\\|pps_type=None\\|vm_id=${VM_ID}\\|timestamp=`));
    assert.equal(await leftovers(sb), '');
  });

  test('a second run for the same VM id (byte-swapped as SMBIOS may give it) does nothing and reports nothing', async () => {
    const before = (await emu.requests()).length;
    await fakeVmId(sb, '544CDFD0-CB4E-4B4A-9954-5BDF3ED5C3B8');
    const r = await provision(sb);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'provisioning: already done for this VM; nothing to do\n');
    assert.equal((await emu.requests()).length, before, 'no request at all');
  });

  test('an image captured without deprovisioning: the previous VM is forgotten and Ready is reported', async () => {
    const other = '11111111-2222-3333-4444-555555555555';
    sb.writeFile('/var/lib/dhcp/dhclient.eth0.leases', 'lease {}\n');
    await fakeVmId(sb, other);
    const r = await provision(sb);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Ready reported \(changed-vm/);
    assert.equal(sb.readFile('/var/lib/waagent/provisioned'), other.toUpperCase());
    assert.equal((await sb.exec(['test', '-e', '/var/lib/dhcp'])).code, 1, 'the old leases are gone');
    assert.equal((await sb.exec(['test', '-e', '/var/lib/waagent/published_hostname'])).code, 1);
    assert.equal((await sb.exec(['getent', 'passwd', 'alice'])).code, 0, 'the user stays');
    const reports = await emu.healthReports();
    assert.deepEqual(
      reports.map((h) => h.state),
      ['NotReady', 'Ready', 'Ready'],
    );
    await fakeVmId(sb, VM_ID);
  });
});

describe('waagent -provision with Provisioning.Agent=cloud-init', () => {
  test('cloud-init owns the host keys: they stay as they were, the ones made ahead are thrown away; Ready', async () => {
    const sb = await createSandbox();
    try {
      await fakeVmId(sb, VM_ID);
      const emu = await sb.startEmulator();
      // what cloud-init leaves: its copy of ovf-env.xml in Lib.Dir and the host keys (made here, before the agent)
      sb.writeFile('/var/lib/waagent/ovf-env.xml', ovfEnvXml({}), 0o600);
      await sh(sb, "rm -f /etc/ssh/ssh_host_*key* && ssh-keygen -q -t rsa -b 2048 -N '' -C '' -f /etc/ssh/ssh_host_rsa_key");
      const keys = 'cat /etc/ssh/ssh_host_*key /etc/ssh/ssh_host_*key.pub | sha256sum';
      const before = await sh(sb, keys);
      sb.writeConfig({ 'Provisioning.Agent': 'cloud-init' });
      const r = await provision(sb);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Ready reported \(cloud-init/);
      assert.equal((await emu.healthReports()).at(-1)?.state, 'Ready');
      assert.equal(await sh(sb, keys), before, "the host keys are cloud-init's");
      assert.equal(await sh(sb, 'ls /etc/ssh | grep -c "^ssh_host_" || true'), '2');
      assert.equal(await sh(sb, 'ls -d /var/lib/waagent/hostkeys-* 2>/dev/null || true'), '', 'no temporary host-key directory');
    } finally {
      await sb.close();
    }
  });
});

describe('waagent -provision: every failure ends in ProvisioningFailed with a reason, a KVP record and exit 1', () => {
  let sb: Sandbox;
  let emu: EmulatorHandle;
  let good: string;

  before(async () => {
    sb = await createSandbox();
    await fakeVmId(sb, VM_ID);
    emu = await sb.startEmulator();
    good = ovfEnvXml({ publicKeys: [{ path: '$HOME/alice/.ssh/authorized_keys', fingerprint: WITH_KEY.thumbprint }] });
  });
  after(() => sb?.close());

  /** One failing run (with FAST_RETRIES) and every trace a failure must leave. */
  async function expectFailure(config: Record<string, string>, reason: RegExp, reported = true): Promise<void> {
    const reportsBefore = (await emu.healthReports()).length;
    const kvpBefore = kvpRecords(sb).length;
    sb.writeConfig({ ...FAST_RETRIES, ...config });
    const r = await provision(sb, 240_000);
    assert.equal(r.code, 1, `exit code; stdout ${r.stdout} stderr ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^waagent: provisioning failed: .*${reason.source}`), r.stderr);
    const reports = (await emu.healthReports()).slice(reportsBefore);
    if (reported) {
      const last = reports.at(-1);
      assert.equal(last?.state, 'NotReady', JSON.stringify(reports));
      assert.equal(last?.subStatus, 'ProvisioningFailed');
      assert.match(last!.description!, reason);
      // the sentence first, then the error's kind and context (src/provisioning/failure-report.ts)
      assert.match(last!.description!, / \[kind=[a-z-]+(; .+)?\]$/);
      assert.ok(!reports.some((h) => h.state === 'Ready'), 'never Ready');
    } else {
      assert.equal(reports.length, 0);
    }
    const kvp = kvpRecords(sb).slice(kvpBefore);
    assert.equal(kvp.length, 1, JSON.stringify(kvp));
    assert.match(kvp[0]!.value, /^result=error\|reason=[^|]*\|agent=[^|]+\|kind=[a-z-]+\|/);
    assert.equal((await sb.exec(['test', '-e', '/var/lib/waagent/provisioned'])).code, 1, 'no provisioned marker');
    assert.equal(await leftovers(sb), '', 'no half-written file');
    // the host keys generated ahead (src/provisioning/host-keys.ts) leave no temporary directory, whatever failed
    assert.equal(await sh(sb, 'ls -d /var/lib/waagent/hostkeys-* 2>/dev/null || true'), '', 'no temporary host-key directory');
  }

  test('no media: and the host keys are left as they were (the new ones, made ahead, are thrown away)', async () => {
    const keys = 'cat /etc/ssh/ssh_host_*key /etc/ssh/ssh_host_*key.pub 2>/dev/null | sha256sum';
    const before = await sh(sb, keys);
    await expectFailure({ 'DVD.Device': '/dev/no-such-sr9' }, /the provisioning media \/dev\/no-such-sr9 does not exist/);
    assert.equal(await sh(sb, keys), before);
  });

  test('unreadable media (neither UDF nor ISO9660)', async () => {
    sb.writeFile(join(sb.dir, 'garbage.img'), Buffer.alloc(1 << 20, 0x5a));
    await expectFailure({ 'DVD.Device': join(sb.dir, 'garbage.img') }, /garbage\.img/);
  });

  test('malformed ovf-env.xml', () => expectFailure({ 'DVD.Device': udfMedia(sb, good.slice(0, 600)) }, /ovf-env\.xml/));

  test('missing ProvisionGuestAgent', () =>
    expectFailure(
      { 'DVD.Device': udfMedia(sb, ovfEnvXml({ provisionGuestAgent: null })) },
      /ovf-env\.xml has no ProvisionGuestAgent element in PlatformSettings/,
    ));

  test('useradd failing (the passwd file is locked by a live process)', async () => {
    sb.writeFile('/etc/passwd.lock', '1');
    try {
      await expectFailure({ 'DVD.Device': udfMedia(sb, ovfEnvXml({ user: 'bob' })) }, /cannot create the user bob/);
    } finally {
      await sb.exec(['rm', '-f', '/etc/passwd.lock']);
    }
  });

  test('a key thumbprint with no certificate', () =>
    expectFailure(
      {
        'DVD.Device': udfMedia(sb, ovfEnvXml({ publicKeys: [{ path: '$HOME/alice/.ssh/authorized_keys', fingerprint: 'AB'.repeat(20) }] })),
      },
      /certificate for the SSH key thumbprint (AB){20} was not found/,
    ));

  test('the WireServer throttling without end: 25 attempts at the throttle delay (scaled), then the failure', async () => {
    await emu.setFaults([{ service: 'wireserver', path: 'goalstate', kind: 'status', status: 503 }]);
    try {
      const goalStatesBefore = (await emu.requests()).filter((q) => /comp=goalstate/.test(q.path)).length;
      const media = udfMedia(sb, good);
      const t = performance.now();
      await expectFailure({ 'DVD.Device': media }, /comp=goalstate failed after 25 attempts: HTTP status 503/, false);
      const ms = performance.now() - t;
      assert.equal((await emu.requests()).filter((q) => /comp=goalstate/.test(q.path)).length - goalStatesBefore, 25);
      assert.ok(ms >= scaled(24 * 1000), `${ms} ms: the 24 throttle delays were not waited`);
    } finally {
      await emu.setFaults([]);
    }
  });

  test('the WireServer down, with the real back-off: 6 attempts over 29.5 s, then the failure in the KVP pool', async () => {
    // The one provisioning run that sits out the protocol's real timing (no Debug.RetryDelayPercent).
    const media = udfMedia(sb, good);
    const reportsBefore = (await emu.healthReports()).length;
    const kvpBefore = kvpRecords(sb).length;
    sb.writeConfig({ 'DVD.Device': media, 'Protocol.WireServerEndpoint': '127.0.0.1:9' });
    const r = await provision(sb, 240_000);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^waagent: provisioning failed: .*127\.0\.0\.1:9.*failed after 6 attempts/);
    assert.ok(r.ms >= 29_500, `${r.ms} ms: the back-off of 0.5 + 3 + 5 + 8 + 13 s was not waited`);
    assert.equal((await emu.healthReports()).length, reportsBefore);
    const kvp = kvpRecords(sb).slice(kvpBefore);
    assert.equal(kvp.length, 1);
    assert.match(kvp[0]!.value, /^result=error\|reason=.*127\.0\.0\.1:9.*\|kind=http\|/);
    assert.equal(await leftovers(sb), '');
  });

  test('sshd cannot be started with the new host keys (golden image: the ssh unit failed at boot, and fails again)', async () => {
    // systemd as PID 1 (sd_booted), a distro ssh unit in the failed state whose start fails again, and no other unit
    // (cloud-init is not there); the stand-ins go on the tmpfs fakeVmId put over /usr/local/sbin, first in PATH, in
    // the sandbox's mount namespace only
    const systemctl = [
      '#!/bin/sh',
      'echo "systemctl $*" >> /run/systemctl.calls',
      'for a in "$@"; do unit=$a; done',
      'case "$unit" in ssh.service|sshd.service) ;; *) exit 4;; esac',
      'case "$1" in is-active) exit 3;; is-failed) exit 0;; start) echo "Job for $unit failed because the control process exited with error code." >&2; exit 1;; esac',
      'exit 0',
    ].join('\n');
    sb.writeFile('/usr/local/sbin/systemctl', systemctl + '\n', 0o755);
    sb.writeFile('/usr/local/sbin/hostnamectl', '#!/bin/sh\nexit 0\n', 0o755);
    await sh(sb, 'mkdir -p /run/systemd/system');
    try {
      await expectFailure(
        { 'DVD.Device': udfMedia(sb, good) },
        /sshd could not be started with the new host keys: systemctl start (sshd?)\.service exited 1/,
      );
      const unit = /^systemctl start (sshd?\.service)$/m.exec(sb.readFile('/run/systemctl.calls'))?.[1];
      assert.ok(unit, sb.readFile('/run/systemctl.calls'));
      const why = `unit=${unit}; stderr=Job for ${unit} failed because the control process exited with error code.`;
      assert.ok((await emu.healthReports()).at(-1)!.description!.endsWith(` [kind=command; ${why}]`));
      assert.ok(
        kvpRecords(sb)
          .at(-1)!
          .value.includes(`|kind=command|${why.replace('; ', '|')}|pps_type=None|`),
        kvpRecords(sb).at(-1)!.value,
      );
    } finally {
      await sb.exec(['rm', '-rf', '/run/systemd', '/run/systemctl.calls', '/usr/local/sbin/systemctl', '/usr/local/sbin/hostnamectl']);
    }
  });

  test('after the failures, a good run provisions', async () => {
    sb.writeConfig({ 'DVD.Device': udfMedia(sb, good) });
    const r = await provision(sb);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await emu.healthReports()).at(-1)?.state, 'Ready');
  });
});

describe('waagent -provision killed part-way and run again', () => {
  test('ends provisioned and correct, with no key written twice', async () => {
    const sb = await createSandbox();
    try {
      await fakeVmId(sb, VM_ID);
      const emu = await sb.startEmulator();
      await sb.exec(['sh', '-c', `ssh-keygen -q -t ed25519 -N '' -C k -f ${sb.dir}/k`]);
      const key = readFileSync(join(sb.dir, 'k.pub'), 'utf8').trim();
      const media = udfMedia(
        sb,
        ovfEnvXml({
          publicKeys: [
            { path: '$HOME/alice/.ssh/authorized_keys', value: key },
            { path: '$HOME/alice/.ssh/authorized_keys', fingerprint: WITH_KEY.thumbprint },
          ],
        }),
      );
      sb.writeConfig({ 'DVD.Device': media });
      for (const delayMs of [150, 400]) {
        const child = sb.spawn([WAAGENT, '-provision']);
        await sleep(delayMs);
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        await new Promise((r) => child.once('close', r));
      }
      const r = await provision(sb);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(sb.readFile('/var/lib/waagent/provisioned'), VM_ID);
      const keys = sb.readFile('/home/alice/.ssh/authorized_keys').trim().split('\n');
      assert.equal(new Set(keys).size, keys.length, 'no duplicate key lines');
      assert.equal(keys.length, 2);
      assert.equal(sb.readFile('/etc/sudoers.d/waagent'), 'alice ALL=(ALL) ALL\n');
      assert.equal((await emu.healthReports()).at(-1)?.state, 'Ready');
      assert.equal(await leftovers(sb), '');
    } finally {
      await sb.close();
    }
  });
});

// SIGKILL at each step of provisioning, then a restart (issue 11): each step is made to stall by a stand-in for the
// command it runs (in /usr/local/sbin, ahead of the real one on PATH; it sleeps while /run/stall-<name> exists and
// otherwise runs the real command), or by the emulator holding the Ready report; the agent is killed there. The
// restart must end Ready with the right user, keys, sudoers and marker, no duplicate key line, no temporary file
// left, and must not redo a step that was already complete when it is the last one (host keys before Ready).
describe('waagent -provision killed with SIGKILL at each step, then run again', () => {
  /**
   * A stand-in that stalls `name` (when the call's arguments match `when`) while /run/stall-<name> exists: before
   * the real command runs, or with `after`, once it has done its work (it then stalls in place of exiting).
   */
  async function stallable(sb: Sandbox, name: string, when = '*', after = false): Promise<void> {
    const real = await sh(sb, `PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v ${name}`);
    const stall = `if [ -e /run/stall-${name} ]; then echo $$ > /run/stalled-${name}; exec sleep 600; fi`;
    sb.writeFile(
      `/usr/local/sbin/${name}`,
      after
        ? `#!/bin/sh\n${real} "$@"; rc=$?\ncase "$*" in ${when}) ${stall};; esac\nexit $rc\n`
        : `#!/bin/sh\ncase "$*" in ${when}) ${stall};; esac\nexec ${real} "$@"\n`,
      0o755,
    );
  }

  async function until(what: string, check: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (await check()) return;
      await sleep(100);
    }
    assert.fail(`timed out waiting for ${what}`);
  }

  async function killAt(step: { stall?: string; when?: string; ready?: boolean; reached: (sb: Sandbox) => boolean }) {
    const sb = await createSandbox();
    try {
      await fakeVmId(sb, VM_ID);
      const emu = await sb.startEmulator();
      await sh(sb, `ssh-keygen -q -t ed25519 -N '' -C k -f ${sb.dir}/k`);
      const key = readFileSync(join(sb.dir, 'k.pub'), 'utf8').trim();
      const media = udfMedia(
        sb,
        ovfEnvXml({
          publicKeys: [
            { path: '$HOME/alice/.ssh/authorized_keys', value: key },
            { path: '$HOME/alice/.ssh/authorized_keys', fingerprint: WITH_KEY.thumbprint },
          ],
        }),
      );
      sb.writeConfig({ 'DVD.Device': media, ...FAST_RETRIES });
      // the user and its password are made by one command (useradd -m -p … alice), which stalls once it has made them
      await stallable(sb, 'useradd', '*-p*', true);
      // the host keys are generated from the start into a private directory under Lib.Dir (…/ssh_host_<type>_key)
      await stallable(sb, 'ssh-keygen', '*ssh_host_*');
      if (step.stall) sb.writeFile(`/run/stall-${step.stall}`, '');
      if (step.ready) {
        // The health reports are refused (503: the agent retries them), so the run stays between the marker and Ready.
        await emu.control.setFaults([{ kind: 'status', status: 503, service: 'wireserver', path: 'comp=health', method: 'POST' }]);
      }
      const child = sb.spawn([WAAGENT, '-provision']);
      const closed = new Promise((r) => child.once('close', r));
      await until('the step to be reached', () => step.reached(sb));
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      await closed;
      if (step.stall) {
        await sh(sb, `kill -9 $(cat /run/stalled-${step.stall}) 2>/dev/null; rm -f /run/stall-${step.stall} /run/stalled-${step.stall}`);
      }
      await emu.control.setFaults([]);
      const hostKeyBefore = exists(sb, '/etc/ssh/ssh_host_rsa_key.pub') ? sb.readFile('/etc/ssh/ssh_host_rsa_key.pub') : null;
      const reportsBefore = (await emu.healthReports()).length;

      const r = await provision(sb);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(sb.readFile('/var/lib/waagent/provisioned'), VM_ID);
      assert.equal(await sh(sb, 'grep -c "^alice:" /etc/passwd'), '1');
      const keys = sb.readFile('/home/alice/.ssh/authorized_keys').trim().split('\n');
      assert.equal(keys.length, 2, keys.join('\n'));
      assert.equal(new Set(keys).size, 2, 'no duplicate key lines');
      assert.equal(sb.readFile('/etc/sudoers.d/waagent'), 'alice ALL=(ALL) ALL\n');
      assert.equal(await sh(sb, 'stat -c "%U %a" /home/alice/.ssh /home/alice/.ssh/authorized_keys'), 'alice 700\nalice 644');
      const after = (await emu.healthReports()).slice(reportsBefore);
      assert.equal(after.at(-1)?.state, 'Ready', 'Ready reported after the restart');
      assert.ok(exists(sb, '/etc/ssh/ssh_host_rsa_key') && exists(sb, '/etc/ssh/ssh_host_rsa_key.pub'), 'the host keys are there');
      assert.equal(await leftovers(sb), '', 'no temporary file left');
      assert.ok(!exists(sb, '/var/lib/waagent/provisioned.ready-pending'));
      // A third run for the same VM does nothing.
      const third = await provision(sb);
      assert.equal(third.code, 0, third.stderr);
      assert.equal((await emu.healthReports()).length, reportsBefore + after.length, 'nothing reported again');
      return { hostKeyBefore, hostKeyAfter: sb.readFile('/etc/ssh/ssh_host_rsa_key.pub'), after };
    } finally {
      await sb.close();
    }
  }

  test('after the user is made (useradd -p stalled once done): converges', async () => {
    await killAt({
      stall: 'useradd',
      reached: (sb) => exists(sb, '/run/stalled-useradd') && sb.readFile('/etc/passwd').includes('alice:'),
    });
  });

  test('after the keys are written, during the host keys (ssh-keygen stalled): converges', async () => {
    await killAt({
      stall: 'ssh-keygen',
      reached: (sb) =>
        exists(sb, '/run/stalled-ssh-keygen') &&
        (exists(sb, '/home/alice/.ssh/authorized_keys')
          ? sb.readFile('/home/alice/.ssh/authorized_keys').trim().split('\n').length === 2
          : false),
    });
  });

  // Upstream (and this agent before) writes the marker before the Ready report; killed between them, the restart
  // finds the marker, says "already provisioned" and never reports Ready. Now a ready-pending record makes the
  // restart report Ready alone, without redoing any step (the host keys stay those of the first run).
  test('after the host keys and the marker, before Ready got through: the restart reports Ready and redoes nothing', async () => {
    const r = await killAt({ ready: true, reached: (sb) => exists(sb, '/var/lib/waagent/provisioned') });
    assert.ok(r.hostKeyBefore !== null);
    assert.equal(r.hostKeyAfter, r.hostKeyBefore, 'the host keys were not regenerated');
    assert.deepEqual(
      r.after.map((h) => h.state),
      ['Ready'],
      'only Ready, no second NotReady/Provisioning',
    );
  });

  // With Provisioning.SshHostKeyPairType=auto, Ready waits for the ed25519 and ECDSA keys, not for RSA-3072 (a slow
  // random prime search, issue 14): the RSA key follows Ready; killed before it is in place, the restart makes it
  // (provisioned.hostkeys-pending) without reporting or redoing anything else.
  test('auto: Ready comes before the RSA host key; killed then, the restart makes the RSA key and nothing else', async () => {
    const sb = await createSandbox();
    try {
      await fakeVmId(sb, VM_ID);
      const emu = await sb.startEmulator();
      sb.writeConfig({ 'DVD.Device': udfMedia(sb, ovfEnvXml({})), 'Provisioning.SshHostKeyPairType': 'auto', ...FAST_RETRIES });
      await stallable(sb, 'ssh-keygen', '*ssh_host_rsa_key*');
      sb.writeFile('/run/stall-ssh-keygen', '');
      const child = sb.spawn([WAAGENT, '-provision']);
      const closed = new Promise((r) => child.once('close', r));
      await until('Ready with the RSA key still being made', async () =>
        (await emu.healthReports()).some((h) => h.state === 'Ready'),
      ).catch((e: Error) => {
        throw new Error(
          `${e.message}\n${exists(sb, '/var/log/waagent.log') ? sb.readFile('/var/log/waagent.log').slice(-3000) : 'no log'}`,
        );
      });
      assert.ok(exists(sb, '/run/stalled-ssh-keygen'), 'the RSA key generation is what is still running');
      const ssh = () =>
        readdirSync(join(sb.root, 'etc/ssh'))
          .filter((n) => n.startsWith('ssh_host_'))
          .sort();
      assert.deepEqual(ssh(), ['ssh_host_ecdsa_key', 'ssh_host_ecdsa_key.pub', 'ssh_host_ed25519_key', 'ssh_host_ed25519_key.pub']);
      assert.equal(sb.readFile('/var/lib/waagent/provisioned.hostkeys-pending'), 'rsa\n');
      assert.equal(sb.readFile('/var/lib/waagent/provisioned'), VM_ID);
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      await closed;
      await sh(sb, 'kill -9 $(cat /run/stalled-ssh-keygen) 2>/dev/null; rm -f /run/stall-ssh-keygen /run/stalled-ssh-keygen');
      const ecdsaBefore = sb.readFile('/etc/ssh/ssh_host_ecdsa_key.pub');
      const reportsBefore = (await emu.healthReports()).length;

      const r = await provision(sb);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(ssh(), [
        'ssh_host_ecdsa_key',
        'ssh_host_ecdsa_key.pub',
        'ssh_host_ed25519_key',
        'ssh_host_ed25519_key.pub',
        'ssh_host_rsa_key',
        'ssh_host_rsa_key.pub',
      ]);
      assert.match(await sh(sb, 'ssh-keygen -lf /etc/ssh/ssh_host_rsa_key.pub'), /^3072 SHA256:\S+ .*\(RSA\)$/);
      assert.equal(sb.readFile('/etc/ssh/ssh_host_ecdsa_key.pub'), ecdsaBefore, 'the other keys were not made again');
      assert.ok(!exists(sb, '/var/lib/waagent/provisioned.hostkeys-pending'));
      assert.equal((await emu.healthReports()).length, reportsBefore, 'nothing reported again');
      assert.match(sb.readFile('/var/log/waagent.log'), /SSH host key fingerprint SHA256:/);
      assert.equal(await leftovers(sb), '', 'no temporary file left');
    } finally {
      await sb.close();
    }
  });

  // The marker is written atomically (a temporary file renamed into place): killed in the middle of that write, a
  // temporary file and no marker are what is left. That state is planted here, the rest of the run being complete.
  test('mid-write of the marker (its temporary file left, no marker): the restart provisions and removes it', async () => {
    await killAt({
      ready: true,
      reached: (sb) => {
        if (!exists(sb, '/var/lib/waagent/provisioned')) return false;
        spawnSync('sh', ['-c', `cd ${join(sb.root, 'var/lib/waagent')} && mv provisioned .provisioned.999999.0123456789ab.tmp`]);
        return true;
      },
    });
  });
});
