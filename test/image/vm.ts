// An Azure VM as the image test sees it: a booted container (container.ts) on a fresh copy of the cached Debian
// root (rootfs.ts), with what the platform would give it, all on the container's loopback:
// - the fabric emulator (test/fabric/emulator.ts) started at every boot by a unit inside, on its default ports,
//   run by the repository's pinned Node through a read-only bind of the checkout at /opt/waagent-ts;
// - the provisioning media as a UDF image file (genisoimage -udf), named by DVD.Device;
// - the VM id through a stand-in dmidecode (the container has no DMI table).
// These three live in one host directory bound at /srv/host, so the test changes them between boots (a new VM).
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ControlClient } from '../fabric/client.ts';
import type { HealthReport } from '../fabric/types.ts';
import { REPO_ROOT } from '../helpers/paths.ts';
import { ovfEnvXml } from '../helpers/provisioning.ts';
import { BootedContainer } from './container.ts';
import { ensureRootfsTarball, unpackRootfs } from './rootfs.ts';

const HOST_DIR_INSIDE = '/srv/host';
const REPO_INSIDE = '/opt/waagent-ts';
/** the emulator's default ports (test/fabric/options.ts), free in the container's own network namespace */
export const FABRIC_KEYS: Record<string, string> = {
  'Protocol.WireServerEndpoint': '127.0.0.1:8080',
  'Protocol.HostGAPluginPort': '32526',
  'Protocol.ImdsEndpoint': '127.0.0.1:8081',
  'DVD.Device': `${HOST_DIR_INSIDE}/media.iso`,
};

// Early (no default dependencies), so it is up before the agent whatever the agent is ordered after; but after
// systemd-tmpfiles-setup.service: Debian's tmp.conf (`D /tmp`) empties /tmp at boot, and the emulator decrypts
// the recorded certificates through a temporary directory there at start. Started alongside, it lost its files
// whenever the clean-up ran during its start-up (a Flatcar boot, where ensure-sysext's daemon-reload delays
// systemd-tmpfiles-setup by seconds, about one boot in four), exited, and everything ordered after it waited.
const EMULATOR_UNIT = `[Unit]
Description=Azure fabric emulator (waagent-ts image test)
DefaultDependencies=no
After=local-fs.target systemd-tmpfiles-setup.service
Before=network-online.target walinuxagent.service waagent.service

[Service]
Type=exec
ExecStartPre=/bin/rm -f ${HOST_DIR_INSIDE}/fabric.ports.json ${HOST_DIR_INSIDE}/fabric.sock
ExecStart=${REPO_INSIDE}/node_modules/.bin/node ${REPO_INSIDE}/test/fabric/emulator.ts --port-file ${HOST_DIR_INSIDE}/fabric.ports.json --control-socket ${HOST_DIR_INSIDE}/fabric.sock
# ready when the port file appears; the main process dying first fails the start (systemd would otherwise keep
# the unit in start-post, and everything ordered after it waiting, until the start timeout)
ExecStartPost=/bin/sh -c 'until [ -e ${HOST_DIR_INSIDE}/fabric.ports.json ]; do kill -0 $$MAINPID 2>/dev/null || { echo "the emulator exited before it was ready" >&2; exit 1; }; sleep 0.05; done'
TimeoutStartSec=30s

[Install]
WantedBy=multi-user.target
`;

/** the units whose state and journal a failure message shows (beside the jobs systemd is stuck on) */
const DIAGNOSED_UNITS = [
  'fabric-emulator.service',
  'walinuxagent.service',
  'waagent.service',
  'waagent-sysext.target',
  'network-online.target',
  'multi-user.target',
  'ssh.service',
  'systemd-sysext.service',
  'ensure-sysext.service',
];

export interface SshKey {
  privateKeyPath: string;
  publicKey: string;
}

export interface VmIdentity {
  vmId: string;
  user: string;
  hostname: string;
  key: SshKey;
}

export class ImageVm {
  readonly dir: string;
  readonly root: string;
  readonly hostDir: string;
  readonly container: BootedContainer;
  readonly control: ControlClient;

  constructor(opts: { initArgs?: string[] } = {}) {
    const tarball = ensureRootfsTarball((l) => process.stderr.write(`${l}\n`));
    this.dir = mkdtempSync(join(tmpdir(), 'waagent-image-'));
    this.root = join(this.dir, 'root');
    this.hostDir = join(this.dir, 'host');
    mkdirSync(this.hostDir);
    unpackRootfs(tarball, this.root);
    this.write('/etc/systemd/system/fabric-emulator.service', EMULATOR_UNIT);
    this.link('/etc/systemd/system/multi-user.target.wants/fabric-emulator.service', '/etc/systemd/system/fabric-emulator.service');
    // A boot with an empty machine-id (Flatcar's -deprovision removes it) is a first boot, where systemd applies the
    // presets and enables systemd-networkd-wait-online, which would wait two minutes for a network the container
    // does not have (only loopback).
    this.link('/etc/systemd/system/systemd-networkd-wait-online.service', '/dev/null');
    this.write(
      '/usr/local/sbin/dmidecode',
      `#!/bin/sh\n# stand-in: the VM id the test gives this boot\ncat ${HOST_DIR_INSIDE}/vm-id\n`,
      0o755,
    );
    const binds: Array<[string, string]> = [[this.hostDir, HOST_DIR_INSIDE]];
    const bindsRo: Array<[string, string]> = [[REPO_ROOT, REPO_INSIDE]];
    // a machine with a DMI table would show its own id to the agent first
    const productUuid = '/sys/devices/virtual/dmi/id/product_uuid';
    if (existsSync(productUuid)) bindsRo.push([join(this.hostDir, 'vm-id'), productUuid]);
    this.container = new BootedContainer({
      root: this.root,
      binds,
      bindsRo,
      initArgs: opts.initArgs,
    });
    this.control = new ControlClient(join(this.hostDir, 'fabric.sock'));
  }

  /** Writes a file into the image (from the host, while it is not booted or for files nothing holds open). */
  write(pathInside: string, content: string | Buffer, mode = 0o644): void {
    const p = join(this.root, pathInside);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
    chmodSync(p, mode);
  }

  copy(from: string, pathInside: string, mode: number): void {
    const p = join(this.root, pathInside);
    mkdirSync(dirname(p), { recursive: true });
    copyFileSync(from, p);
    chmodSync(p, mode);
  }

  link(pathInside: string, target: string): void {
    const p = join(this.root, pathInside);
    mkdirSync(dirname(p), { recursive: true });
    rmSync(p, { force: true });
    symlinkSync(target, p);
  }

  /** What the platform gives the next boot: the VM id and the provisioning media for this identity. */
  setIdentity(id: VmIdentity): void {
    writeFileSync(join(this.hostDir, 'vm-id'), `${id.vmId}\n`);
    const src = join(this.hostDir, 'media-src');
    rmSync(src, { recursive: true, force: true });
    mkdirSync(src);
    const ovf = ovfEnvXml({
      hostname: id.hostname,
      user: id.user,
      password: null,
      disablePasswordAuth: true,
      publicKeys: [{ path: `/home/${id.user}/.ssh/authorized_keys`, value: id.key.publicKey }],
    });
    writeFileSync(join(src, 'ovf-env.xml'), ovf);
    const tmp = join(this.hostDir, 'media.iso.tmp');
    const r = spawnSync('genisoimage', ['-quiet', '-udf', '-o', tmp, src], { encoding: 'utf8' });
    rmSync(src, { recursive: true, force: true });
    if (r.status !== 0) throw new Error(`genisoimage failed: ${r.stderr || r.error}`);
    renameSync(tmp, join(this.hostDir, 'media.iso'));
  }

  /** An ed25519 key pair made on the host for one user. */
  makeKey(name: string): SshKey {
    const path = join(this.dir, `key-${name}`);
    const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', path], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
    return { privateKeyPath: path, publicKey: readFileSync(`${path}.pub`, 'utf8').trim() };
  }

  /** The health reports the emulator of this boot has heard (empty while it is not up). */
  async healthReports(): Promise<HealthReport[]> {
    if (!existsSync(join(this.hostDir, 'fabric.ports.json'))) return [];
    return this.control.healthReports().catch(() => []);
  }

  /** Waits for a Ready health report at this boot's emulator; returns when (Date.now() on the host). */
  async waitReady(timeoutMs = 90_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reports = await this.healthReports();
      const ready = reports.find((r) => r.state === 'Ready');
      if (ready) return Date.now();
      const failed = reports.find((r) => r.subStatus === 'ProvisioningFailed');
      if (failed) throw new Error(`provisioning failed: ${failed.description}\n${this.agentLog()}`);
      if (Date.now() > deadline)
        throw new Error(
          `no Ready within ${timeoutMs} ms (${this.container.stuckSummary()}); reports: ${JSON.stringify(reports)}\n${this.agentLog()}`,
        );
      await sleep(100);
    }
  }

  /** Waits until the agent has uploaded a status blob to this boot's emulator (it runs, whether it provisioned or not). */
  async waitStatusUpload(timeoutMs = 90_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (existsSync(join(this.hostDir, 'fabric.ports.json'))) {
        const uploads = await this.control.statusUploads().catch(() => []);
        if (uploads.length > 0) return Date.now();
      }
      if (Date.now() > deadline)
        throw new Error(`no status upload within ${timeoutMs} ms (${this.container.stuckSummary()})\n${this.agentLog()}`);
      await sleep(200);
    }
  }

  /** An ssh login as user with key, from the host's ssh client in the container's network namespace. */
  ssh(user: string, key: SshKey, command = 'id -un'): { code: number; stdout: string; stderr: string } {
    return this.container.runInNet([
      'ssh',
      '-F',
      '/dev/null',
      '-i',
      key.privateKeyPath,
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'LogLevel=ERROR',
      '-o',
      'ConnectTimeout=3',
      '-o',
      'IdentitiesOnly=yes',
      `${user}@127.0.0.1`,
      command,
    ]);
  }

  /** Polls an ssh login until it works; returns when (Date.now() on the host). */
  async waitSsh(user: string, key: SshKey, timeoutMs = 90_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const r = this.ssh(user, key);
      if (r.code === 0 && r.stdout.trim() === user) return Date.now();
      last = `${r.code} ${r.stderr.trim()}`;
      if (Date.now() > deadline)
        throw new Error(`no ssh login as ${user} within ${timeoutMs} ms (${this.container.stuckSummary()}): ${last}\n${this.agentLog()}`);
      await sleep(100);
    }
  }

  /** The agent's log file, and the state and journal of the units an image boot waits on, for failure messages. */
  agentLog(): string {
    if (!this.container.pid) return this.container.diagnostics([]);
    const log = this.container.run(['sh', '-c', 'tail -n 40 /var/log/waagent.log 2>&1'], { timeoutMs: 10_000 });
    return `--- /var/log/waagent.log (tail)\n${log.stdout}${log.stderr}\n${this.container.diagnostics(DIAGNOSED_UNITS)}`;
  }

  async close(): Promise<void> {
    await this.container.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
