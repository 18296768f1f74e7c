// issue 12: the built agent on a booted systemd, as on a real image. A debootstrapped Debian bookworm (made once
// and cached outside the repository, test/image/rootfs.ts) boots in systemd-nspawn with only loopback; the fabric
// emulator runs inside at every boot, the media is a UDF image through DVD.Device, the VM id comes from a stand-in
// dmidecode (test/image/vm.ts). Two images:
// - Debian: the binary installed as docs/image-building.md says, -register-service, start → Ready, ssh login,
//   stop/restart, reboot without a second provisioning, -deprovision+user → power off → first boot as a new VM:
//   Ready and an ssh login with the NEW user's key (the golden image's first boot, timed).
// - Flatcar (os-release ID=flatcar, the system extension from dist/ as a directory under /var/lib/extensions, since
//   the container has no loop devices): merge, start (multi-user.target upholds waagent-sysext.target, which
//   starts the agent once), stop stays stopped, mask holds, -deprovision leaves no private key and the agent
//   stopped, the next boot as a new VM provisions.
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DIST, REPO_ROOT } from '../helpers/paths.ts';
import { DEBOOTSTRAP_TIMEOUT_MS, ensureRootfsTarball } from './rootfs.ts';
import { FABRIC_KEYS, ImageVm, type VmIdentity } from './vm.ts';

// Hard bounds, so a stuck boot fails with its diagnostics instead of holding CI: every wait inside has its own
// (boot 60 s, Ready and ssh 90 s, a command 60 s) and names the stuck unit; these catch anything they miss.
const TEST_TIMEOUT_MS = 8 * 60_000;

const started = Date.now();
const timings: string[] = [];
const note = (line: string) => {
  timings.push(line);
  process.stderr.write(`image: ${line}\n`);
};

function confFor(family: string): string {
  const base = readFileSync(join(REPO_ROOT, 'init', 'conf', `waagent.conf.${family}`), 'utf8');
  return `${base}\n# the image test's fabric (test/image/vm.ts)\n${Object.entries(FABRIC_KEYS)
    .map(([k, v]) => `${k}=${v}\n`)
    .join('')}`;
}

function identity(vm: ImageVm, n: number, user: string): VmIdentity {
  return { vmId: `D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B${n}`, user, hostname: `image-vm-${n}`, key: vm.makeKey(user) };
}

/** The agent's private state that must not be in a captured image. */
const SECRETS =
  'ls /var/lib/waagent/TransportPrivate.pem /var/lib/waagent/*.prv /var/lib/waagent/Certificates.xml /var/lib/waagent/SharedConfig.xml 2>/dev/null; true';

// the cached root file system, made by debootstrap on first use (a few minutes), outside the timed tests
before(() => ensureRootfsTarball((l) => process.stderr.write(`${l}\n`)), { timeout: DEBOOTSTRAP_TIMEOUT_MS + 5 * 60_000 });

after(() => {
  note(`wall time of the image tests: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.stderr.write(`image: timings\n  ${timings.join('\n  ')}\n`);
});

describe('a Debian image on a booted systemd', () => {
  let vm: ImageVm;
  after(async () => vm?.close());

  test('install, register, start, stop, reboot, deprovision, and the golden image first boot as a new VM', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    vm = new ImageVm();
    const first = identity(vm, 1, 'alice');
    vm.setIdentity(first);
    // as docs/image-building.md: the binary, the family's configuration, logrotate; then -register-service inside
    vm.copy(join(DIST, 'waagent'), '/usr/sbin/waagent', 0o755);
    vm.write('/etc/waagent.conf', confFor('debian'));
    vm.copy(join(REPO_ROOT, 'init', 'logrotate', 'waagent'), '/etc/logrotate.d/waagent', 0o644);
    const c = vm.container;
    await c.start();
    await c.waitBooted();

    const reg = c.run(['/usr/sbin/waagent', '-register-service']);
    assert.equal(reg.code, 0, reg.stderr);
    assert.match(reg.stdout, /installed and enabled \/lib\/systemd\/system\/walinuxagent\.service/);
    assert.equal(c.run(['systemctl', 'is-enabled', 'walinuxagent']).stdout.trim(), 'enabled');

    // start → Ready
    let t = Date.now();
    c.ok(['systemctl', 'start', 'walinuxagent']);
    note(`Debian: systemctl start → Ready ${(await vm.waitReady()) - t} ms`);
    await vm.waitSsh(first.user, first.key, 30_000);
    assert.equal(vm.ssh(first.user, first.key, 'sudo -n true; echo $?').stdout.trim(), '0', 'the provisioned user has passwordless sudo');

    // the journal has the agent's own lines; the process is called waagent
    const mainPid = c.ok(['systemctl', 'show', '-P', 'MainPID', 'walinuxagent']).trim();
    assert.match(c.ok(['cat', `/proc/${mainPid}/comm`]), /^waagent\b/);
    // provisioning ends after Ready: with `auto` host keys the RSA key follows it (src/provisioning/host-keys.ts)
    const finished = /provisioning finished in \d+ ms/;
    let journal = '';
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(200)) {
      journal = c.ok(['journalctl', '--no-pager', '-u', 'walinuxagent']);
      if (finished.test(journal)) break;
    }
    assert.match(journal, finished);

    // stop: exits 0 promptly, the pid file goes, nothing starts it again
    t = Date.now();
    c.ok(['systemctl', 'stop', 'walinuxagent']);
    note(`Debian: systemctl stop ${Date.now() - t} ms`);
    await sleep(1500);
    assert.equal(c.run(['systemctl', 'is-active', 'walinuxagent']).stdout.trim(), 'inactive');
    assert.equal(c.run(['test', '-e', '/var/run/waagent.pid']).code, 1, 'the pid file is gone');
    c.ok(['systemctl', 'restart', 'walinuxagent']);
    assert.equal(c.run(['systemctl', 'is-active', 'walinuxagent']).stdout.trim(), 'active');
    assert.notEqual(c.ok(['systemctl', 'show', '-P', 'MainPID', 'walinuxagent']).trim(), mainPid);

    // reboot: the agent starts with the machine and does not provision again
    await c.reboot();
    await c.waitBooted();
    await vm.waitStatusUpload();
    const log = c.ok(['cat', '/var/log/waagent.log']);
    assert.equal(log.match(/provisioning finished in/g)?.length, 1, 'provisioned once');
    assert.match(log, /provisioning already completed for this VM/);
    await vm.waitSsh(first.user, first.key, 30_000);

    // capture: deprovision, power off
    const dep = c.run(['/usr/sbin/waagent', '-deprovision+user', '-force'], { timeoutMs: 120_000 });
    assert.equal(dep.code, 0, dep.stderr);
    c.run(['systemctl', 'start', 'walinuxagent']); // the deprovisioned marker in /run keeps it stopped until the next boot
    assert.equal(c.run(['systemctl', 'is-active', 'walinuxagent']).stdout.trim(), 'inactive');
    assert.equal(c.run(['id', first.user]).code, 1, 'the user is gone');
    assert.equal(c.ok(['sh', '-c', 'ls /etc/ssh/ssh_host_*key* 2>/dev/null; true']).trim(), '', 'no host keys');
    assert.equal(c.ok(['sh', '-c', SECRETS]).trim(), '');
    await c.poweroff();

    // the golden image's first boot as a new VM: new id, new user and key
    const second = identity(vm, 2, 'bob');
    vm.setIdentity(second);
    await c.start();
    const boot = c.bootStartedAt;
    const [ready, login] = await Promise.all([vm.waitReady(), vm.waitSsh(second.user, second.key)]);
    note(`Debian golden image first boot: boot → Ready ${ready - boot} ms, boot → first ssh login ${login - boot} ms`);
    assert.equal(vm.ssh(first.user, first.key).code === 0, false, 'the old user cannot log in');
    assert.equal(c.run(['id', first.user]).code, 1);
    assert.equal(c.ok(['systemctl', 'is-active', 'ssh']).trim(), 'active');
  });
});

describe('a Flatcar image with the system extension on a booted systemd', () => {
  let vm: ImageVm;
  after(async () => vm?.close());

  test('merge, start, stop stays stopped, mask holds, deprovision leaves no key and the agent stopped, next boot provisions', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const tree = join(DIST, 'sysext-x86-64', 'waagent');
    assert.ok(existsSync(tree), `${tree} is made by npm run build`);
    // the agent's unit runs only on Azure's Flatcar: systemd in a container reads its own arguments as the kernel
    // command line
    vm = new ImageVm({ initArgs: ['flatcar.oem.id=azure'] });
    const first = identity(vm, 3, 'carol');
    vm.setIdentity(first);
    vm.link('/etc/os-release', '../usr/share/flatcar-os-release');
    vm.write(
      '/usr/share/flatcar-os-release',
      'NAME="Flatcar Container Linux by Kinvolk"\nID=flatcar\nID_LIKE=coreos\nVERSION=3975.2.0\nVERSION_ID=3975.2.0\nSYSEXT_LEVEL=1.0\nPRETTY_NAME="Flatcar Container Linux by Kinvolk 3975.2.0 (Oklo)"\n',
    );
    // Flatcar merges extensions at boot (systemd-sysext.service) and then makes the manager load their units and
    // start what multi-user.target wants (ensure-sysext.service, as Flatcar ships it)
    vm.link('/etc/systemd/system/sysinit.target.wants/systemd-sysext.service', '/lib/systemd/system/systemd-sysext.service');
    vm.write('/etc/systemd/system/ensure-sysext.service', ENSURE_SYSEXT);
    vm.link('/etc/systemd/system/sysinit.target.wants/ensure-sysext.service', '/etc/systemd/system/ensure-sysext.service');
    vm.write('/etc/waagent.conf', confFor('flatcar'));
    const c = vm.container;
    await c.start();
    await c.waitBooted();
    assert.equal(c.run(['systemctl', 'cat', 'waagent']).code, 1, 'no agent before the extension');

    // the extension on a running machine: merge, then what docs/image-building.md says for systemd < 255
    cpSync(tree, join(vm.root, 'var/lib/extensions/waagent'), { recursive: true, verbatimSymlinks: true });
    let t = Date.now();
    c.ok(['systemd-sysext', 'merge']);
    c.ok(['systemctl', 'daemon-reload']);
    c.ok(['systemctl', 'restart', '--no-block', 'multi-user.target']);
    note(`Flatcar: systemd-sysext merge → Ready ${(await vm.waitReady()) - t} ms`);
    assert.equal(c.run(['systemctl', 'is-active', 'waagent', 'waagent-sysext.target']).stdout.trim(), 'active\nactive');
    assert.match(c.ok(['systemd-sysext', 'status']), /waagent/);

    // stop stays stopped (an Upholds= drop-in started it again within milliseconds)
    t = Date.now();
    c.ok(['systemctl', 'stop', 'waagent']);
    note(`Flatcar: systemctl stop ${Date.now() - t} ms`);
    await sleep(2000);
    assert.equal(c.run(['systemctl', 'is-active', 'waagent']).stdout.trim(), 'inactive');
    assert.equal(c.run(['pgrep', '-x', 'waagent']).code, 1, 'no agent process');
    // mask keeps it off even when the target is started again (what ensure-sysext does at boot)
    c.ok(['systemctl', 'mask', 'waagent']);
    c.ok(['systemctl', 'restart', 'multi-user.target']);
    await sleep(1000);
    assert.equal(c.run(['systemctl', 'is-active', 'waagent']).stdout.trim(), 'inactive');
    c.ok(['systemctl', 'unmask', 'waagent']);
    c.ok(['systemctl', 'start', 'waagent']);
    assert.equal(c.run(['systemctl', 'is-active', 'waagent']).stdout.trim(), 'active');
    await sleep(3000); // the restarted daemon fetches the goal state (and the tenant certificates) again

    // deprovision: the agent stops and stays stopped, even when the target is started again; no private key left
    const dep = c.run(['/usr/sbin/waagent', '-deprovision+user', '-force'], { timeoutMs: 120_000 });
    assert.equal(dep.code, 0, dep.stderr);
    c.ok(['systemctl', 'restart', 'multi-user.target']);
    c.run(['systemctl', 'start', 'waagent']);
    await sleep(3000);
    assert.equal(c.run(['systemctl', 'is-active', 'waagent']).stdout.trim(), 'inactive');
    assert.equal(c.ok(['sh', '-c', SECRETS]).trim(), '', 'no private key or certificate after deprovision');
    assert.equal(c.run(['id', first.user]).code, 1, 'the user is gone');
    await c.poweroff();

    // the next boot, as a new VM: the extension is merged at boot and the agent provisions
    const second = identity(vm, 4, 'dave');
    vm.setIdentity(second);
    await c.start();
    const boot = c.bootStartedAt;
    note(`Flatcar next boot as a new VM: boot → Ready ${(await vm.waitReady()) - boot} ms`);
    assert.equal(c.run(['id', second.user]).code, 0, 'the new user exists');
    assert.equal(c.run(['id', first.user]).code, 1);
  });
});

/** Flatcar's ensure-sysext.service (systemd < 255 does not load the units of a merged extension by itself). */
const ENSURE_SYSEXT = `[Unit]
BindsTo=systemd-sysext.service
After=systemd-sysext.service
DefaultDependencies=no
Before=sysinit.target systemd-tmpfiles-setup.service
Conflicts=shutdown.target
Before=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/systemctl daemon-reload
ExecStart=/bin/systemctl restart --no-block sockets.target timers.target multi-user.target

[Install]
WantedBy=sysinit.target
`;
