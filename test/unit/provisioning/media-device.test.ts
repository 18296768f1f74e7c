// Finding the provisioning DVD, mounting it through the kernel when it can (with fake mount, umount and
// eject commands: nothing is mounted on the host), and readOvfEnv end to end on image files.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Config } from '../../../src/config/index.ts';
import { isAgentError } from '../../../src/util/errors.ts';
import { dvdCandidates, isEjectable } from '../../../src/provisioning/media/device.ts';
import { existingMountPoint, kernelMediaFilesystems, mountReadOnly } from '../../../src/provisioning/media/kernel-mount.ts';
import { readOvfEnv, type MediaOptions } from '../../../src/provisioning/media/read-ovf-env.ts';
import { FIXTURES, genisoimage, tempPath } from '../../fixtures/media/make-images.ts';

const BASE = readFileSync(join(FIXTURES, 'ovf-env.xml'), 'utf8');
// Host block devices used only as link targets: stat()ed to be block devices, never opened or mounted.
const BLOCK_A = '/dev/loop7';
const BLOCK_B = '/dev/loop6';

function dir(name: string): string {
  const d = tempPath(name);
  mkdirSync(d, { recursive: true });
  return d;
}

/** A fake /proc with these file systems and mount lines. */
function fakeProc(filesystems: string[], mounts: string[] = []): string {
  const proc = dir('proc');
  writeFileSync(join(proc, 'filesystems'), ['nodev\tsysfs', 'nodev\tproc', ...filesystems.map((f) => `\t${f}`)].join('\n') + '\n');
  writeFileSync(join(proc, 'mounts'), mounts.map((m) => m + '\n').join(''));
  return proc;
}

/** mount/umount/eject scripts that log their argv; `mountBody` decides what a mount does. */
function fakeCommands(mountBody: string, umountBody = 'rm -f "$1"/*'): { commands: MediaOptions['commands']; calls: () => string[] } {
  const bin = dir('bin');
  const log = join(bin, 'calls.log');
  writeFileSync(log, '');
  const script = (name: string, body: string): string => {
    const p = join(bin, name);
    writeFileSync(p, `#!/bin/sh\necho "${name} $*" >> ${log}\n${body}\n`);
    chmodSync(p, 0o755);
    return p;
  };
  return {
    commands: { mount: script('mount', mountBody), umount: script('umount', umountBody), eject: script('eject', 'exit 0') },
    calls: () =>
      readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => l.replaceAll(bin + '/', '')),
  };
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(isAgentError(e, 'provisioning'), `expected a provisioning AgentError, got ${String(e)}`);
    return e.message;
  }
  return assert.fail('expected an error');
}

describe('DVD device detection', () => {
  it('ranks sr* first, then cdrom, cd, hd[c-z], vd[b-z]; one path per device; block devices only', () => {
    const dev = dir('dev');
    symlinkSync(BLOCK_A, join(dev, 'vdb'));
    symlinkSync(BLOCK_B, join(dev, 'sr10'));
    symlinkSync(BLOCK_A, join(dev, 'sr2')); // same device as vdb: listed once, as sr2
    symlinkSync(join(dev, 'sr2'), join(dev, 'cdrom'));
    symlinkSync('/dev/loop5', join(dev, 'hdc'));
    symlinkSync('/dev/loop4', join(dev, 'sda')); // not a DVD name
    symlinkSync('/dev/loop3', join(dev, 'hda')); // the first IDE disk, not a DVD
    symlinkSync('/nonexistent', join(dev, 'cd0'));
    writeFileSync(join(dev, 'sr0'), 'not a block device');
    assert.deepEqual(dvdCandidates(dev), [join(dev, 'sr2'), join(dev, 'sr10'), join(dev, 'hdc')]);
    assert.deepEqual(dvdCandidates(join(dev, 'missing')), []);
  });

  it('never ejects a virtio disk', () => {
    assert.equal(isEjectable('/dev/sr0'), true);
    assert.equal(isEjectable('/dev/vdb'), false);
  });

  it('reads the kernel file systems and existing mounts from /proc', () => {
    assert.deepEqual(kernelMediaFilesystems(fakeProc(['ext4'])), []);
    assert.deepEqual(kernelMediaFilesystems(fakeProc(['iso9660', 'ext4', 'udf'])), ['udf', 'iso9660']);
    assert.deepEqual(kernelMediaFilesystems(dir('empty-proc')), []);
    const dev = dir('dev');
    symlinkSync(BLOCK_A, join(dev, 'sr0'));
    const proc = fakeProc([], ['/dev/vda1 / ext4 rw 0 0', `${BLOCK_A} /mnt/cd\\040rom udf ro 0 0`]);
    assert.equal(existingMountPoint(join(dev, 'sr0'), proc), '/mnt/cd rom');
    assert.equal(existingMountPoint(BLOCK_B, proc), null);
  });

  it('mounts read-only, trying udf then iso9660', async () => {
    const { commands, calls } = fakeCommands('[ "$4" = iso9660 ] || exit 32');
    const mp = join(dir('mnt'), 'cdrom', 'secure');
    assert.equal(await mountReadOnly('/dev/sr0', mp, ['udf', 'iso9660'], { mount: commands!.mount!, umount: '', eject: '' }), true);
    assert.deepEqual(calls(), [`mount -o ro -t udf /dev/sr0 ${mp}`, `mount -o ro -t iso9660 /dev/sr0 ${mp}`]);
    const failing = fakeCommands('exit 32');
    assert.equal(await mountReadOnly('/dev/sr0', mp, ['udf'], { mount: failing.commands!.mount!, umount: '', eject: '' }), false);
  });
});

describe('readOvfEnv', () => {
  const image = genisoimage({ 'ovf-env.xml': BASE }, ['-udf']);

  it('reads DVD.Device when it is an image file, in user space', async () => {
    const r = await readOvfEnv(Config.from({ 'DVD.Device': image }));
    assert.equal(r.xml, BASE);
    assert.equal(r.source, `${image} (udf image, read in user space)`);
    const iso = genisoimage({ 'ovf-env.xml': BASE }, ['-J']);
    assert.equal((await readOvfEnv(Config.from({ 'DVD.Device': iso }))).source, `${iso} (iso9660 image, read in user space)`);
  });

  it('strips a byte-order mark and refuses text that is not UTF-8', async () => {
    const bom = genisoimage({ 'ovf-env.xml': '\ufeff' + BASE }, ['-udf']);
    assert.equal((await readOvfEnv(Config.from({ 'DVD.Device': bom }))).xml, BASE);
    const latin1 = genisoimage({ 'ovf-env.xml': Buffer.from('<Environment>caf\xe9</Environment>', 'latin1') }, ['-udf']);
    assert.equal(await failure(readOvfEnv(Config.from({ 'DVD.Device': latin1 }))), `the ovf-env.xml on ${latin1} is not valid UTF-8 text`);
  });

  it('says what is wrong with DVD.Device', async () => {
    const gone = tempPath('gone.iso');
    assert.equal(await failure(readOvfEnv(Config.from({ 'DVD.Device': gone }))), `the provisioning media ${gone} does not exist`);
    const d = dir('not-a-device');
    assert.equal(
      await failure(readOvfEnv(Config.from({ 'DVD.Device': d }))),
      `the provisioning media ${d} is neither a block device nor an image file`,
    );
  });

  it('fails clearly when there is no DVD at all', async () => {
    const dev = dir('dev');
    assert.equal(
      await failure(readOvfEnv(Config.from({}), { devRoot: dev })),
      `no provisioning media was found: ${dev} has no DVD device and DVD.Device is not set`,
    );
  });

  it('mounts the DVD when the kernel can, reads it, unmounts and ejects it', async () => {
    const dev = dir('dev');
    symlinkSync(BLOCK_A, join(dev, 'sr0'));
    const mp = join(dir('mnt'), 'secure');
    const content = join(dir('media'), 'OVF-ENV.XML');
    writeFileSync(content, BASE);
    // The fake mount "mounts" by copying the media's file into the mount point; udf is refused.
    const { commands, calls } = fakeCommands(`[ "$4" = iso9660 ] || exit 32\ncp ${content} "$6"/`);
    const r = await readOvfEnv(Config.from({ 'DVD.MountPoint': mp }), { devRoot: dev, procRoot: fakeProc(['udf', 'iso9660']), commands });
    assert.equal(r.xml, BASE);
    assert.equal(r.source, `${join(dev, 'sr0')} (mounted at ${mp})`);
    const sr0 = join(dev, 'sr0');
    assert.deepEqual(calls(), [`mount -o ro -t udf ${sr0} ${mp}`, `mount -o ro -t iso9660 ${sr0} ${mp}`, `umount ${mp}`, `eject ${sr0}`]);
  });

  it('an unmount failure only warns', async () => {
    const dev = dir('dev');
    symlinkSync(BLOCK_A, join(dev, 'sr0'));
    const mp = dir('mnt');
    const { commands, calls } = fakeCommands(`echo '${BASE.slice(0, 50)}' > "$6"/ovf-env.xml`, 'echo busy >&2; exit 1');
    const r = await readOvfEnv(Config.from({ 'DVD.MountPoint': mp }), { devRoot: dev, procRoot: fakeProc(['udf']), commands });
    assert.equal(r.xml, BASE.slice(0, 50) + '\n');
    assert.deepEqual(
      calls().map((c) => c.split(' ')[0]),
      ['mount', 'umount', 'eject'],
    );
  });

  it('uses an existing mount as is, without mounting, unmounting or ejecting', async () => {
    const dev = dir('dev');
    symlinkSync(BLOCK_A, join(dev, 'sr0'));
    const mounted = dir('mounted');
    writeFileSync(join(mounted, 'ovf-env.xml'), BASE);
    const { commands, calls } = fakeCommands('exit 99');
    const r = await readOvfEnv(Config.from({}), {
      devRoot: dev,
      procRoot: fakeProc(['udf'], [`${BLOCK_A} ${mounted} udf ro 0 0`]),
      commands,
    });
    assert.equal(r.xml, BASE);
    assert.equal(r.source, `${join(dev, 'sr0')} (already mounted at ${mounted})`);
    assert.deepEqual(calls(), []);
  });

  it('tries the next DVD when the first has no ovf-env.xml, and names them all when none has', async () => {
    const dev = dir('dev');
    symlinkSync(BLOCK_A, join(dev, 'sr0'));
    symlinkSync(BLOCK_B, join(dev, 'sr1'));
    const sr0 = join(dev, 'sr0');
    const sr1 = join(dev, 'sr1');
    const mp = dir('mnt');
    const media = join(dir('media'), 'ovf-env.xml');
    writeFileSync(media, BASE);
    const { commands, calls } = fakeCommands(`[ "$5" = ${sr1} ] && cp ${media} "$6"/; exit 0`);
    const r = await readOvfEnv(Config.from({ 'DVD.MountPoint': mp }), { devRoot: dev, procRoot: fakeProc(['udf']), commands });
    assert.equal(r.source, `${sr1} (mounted at ${mp})`);
    assert.deepEqual(calls(), [
      `mount -o ro -t udf ${sr0} ${mp}`,
      `umount ${mp}`,
      `mount -o ro -t udf ${sr1} ${mp}`,
      `umount ${mp}`,
      `eject ${sr1}`,
    ]);

    rmSync(media);
    assert.equal(
      await failure(readOvfEnv(Config.from({ 'DVD.MountPoint': mp }), { devRoot: dev, procRoot: fakeProc(['udf']), commands })),
      `no DVD device (${sr0}, ${sr1}) holds a readable ovf-env.xml; ${sr0}: the provisioning media ${sr0} has no ovf-env.xml in its root directory`,
    );
  });
});
