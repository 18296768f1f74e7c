// The decisions of the resource disk code that need no real disk: what to do with a partition table (never
// format a partition that has the configured file system, §10 item 41), mount and swap tables, the mkfs command line,
// and ensureResourceDisk's outcomes when there is nothing to do, a failure, or a hang.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { Config } from '../../../src/config/index.ts';
import { isAgentError } from '../../../src/util/errors.ts';
import { ensureResourceDisk } from '../../../src/os/resource-disk/index.ts';
import { findMountPoint, parseMountinfo } from '../../../src/os/resource-disk/mount.ts';
import { fsTypeOf, mkfsCommand, planPartition, type DiskFacts } from '../../../src/os/resource-disk/partition.ts';
import { ensureSwapFile, parseProcSwaps } from '../../../src/os/resource-disk/swap.ts';

const temps: string[] = [];
function temp(): string {
  const d = mkdtempSync(join(tmpdir(), 'rd-plan-'));
  temps.push(d);
  return d;
}
afterEach(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

const dos = (type: string, fs: string): DiskFacts => ({
  table: { label: 'dos', partitions: [{ node: '/dev/sdb1', type }] },
  partitionFs: fs,
  diskFs: '',
});

test('a fresh platform disk (MBR, one type-7 NTFS partition) is retyped and formatted', () => {
  assert.deepEqual(planPartition('/dev/sdb', dos('7', 'ntfs'), 'ext4'), { kind: 'retype-and-format' });
  assert.deepEqual(planPartition('/dev/sdb', dos('7', ''), 'ext4'), { kind: 'retype-and-format' });
});

test('a partition that already holds the configured file system is never formatted, whatever its type id', () => {
  assert.deepEqual(planPartition('/dev/sdb', dos('83', 'ext4'), 'ext4'), { kind: 'keep' });
  assert.deepEqual(planPartition('/dev/sdb', dos('7', 'ext4'), 'ext4'), { kind: 'keep' });
  assert.deepEqual(planPartition('/dev/sdb', dos('83', 'xfs'), 'xfs'), { kind: 'keep' });
});

test('a Linux partition with another file system is kept (mount decides), one without any is formatted', () => {
  assert.deepEqual(planPartition('/dev/sdb', dos('83', 'ext3'), 'ext4'), { kind: 'keep' });
  assert.deepEqual(planPartition('/dev/sdb', dos('83', 'unknown'), 'ext4'), { kind: 'keep' });
  assert.deepEqual(planPartition('/dev/sdb', dos('83', ''), 'ext4'), { kind: 'format' });
});

test('GPT with several partitions is recreated as one; a single GPT partition without a file system is formatted', () => {
  const two: DiskFacts = {
    table: {
      label: 'gpt',
      partitions: [
        { node: 'a', type: 'x' },
        { node: 'b', type: 'y' },
      ],
    },
    partitionFs: 'vfat',
    diskFs: '',
  };
  assert.deepEqual(planPartition('/dev/sdb', two, 'ext4'), { kind: 'recreate-and-format' });
  const one: DiskFacts = { table: { label: 'gpt', partitions: [{ node: 'a', type: 'x' }] }, partitionFs: '', diskFs: '' };
  assert.deepEqual(planPartition('/dev/sdb', one, 'ext4'), { kind: 'format' });
});

test('no partition table: an empty disk gets one; a file system on the whole disk is refused with a clear error', () => {
  assert.deepEqual(planPartition('/dev/sdb', { table: null, partitionFs: '', diskFs: '' }, 'ext4'), { kind: 'recreate-and-format' });
  assert.throws(
    () => planPartition('/dev/sdb', { table: null, partitionFs: '', diskFs: 'xfs' }, 'ext4'),
    (e: unknown) =>
      isAgentError(e, 'io') && /\/dev\/sdb holds a xfs file system without a partition table; it is left alone/.test(e.message),
  );
});

test('ResourceDisk.Filesystem=ntfs leaves the platform disk as it is', () => {
  assert.deepEqual(planPartition('/dev/sdb', dos('7', 'ntfs'), 'ntfs'), { kind: 'keep' });
});

test('a missing partition node is an error, never "no file system" (which would lead to formatting)', async () => {
  await assert.rejects(fsTypeOf('/nonexistent/sdz1'), /cannot probe \/nonexistent\/sdz1 for a file system: the device node does not exist/);
});

test('mkfs command lines: -F for ext*, -f for xfs/btrfs, a clear error for BSD file systems', () => {
  assert.deepEqual(mkfsCommand('ext4', '/dev/sdb1'), ['mkfs.ext4', '-F', '/dev/sdb1']);
  assert.deepEqual(mkfsCommand('ext3', '/dev/sdb1'), ['mkfs.ext3', '-F', '/dev/sdb1']);
  assert.deepEqual(mkfsCommand('xfs', '/dev/sdb1'), ['mkfs.xfs', '-f', '/dev/sdb1']);
  assert.deepEqual(mkfsCommand('btrfs', '/dev/sdb1'), ['mkfs.btrfs', '-f', '/dev/sdb1']);
  assert.throws(() => mkfsCommand('ufs2', '/dev/sdb1'), /the resource disk file system ufs2 cannot be created on Linux/);
});

test('mountinfo parsing: device numbers, escaped mount points, file system and source', () => {
  const text =
    '22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n' +
    '95 22 8:17 / /mnt/with\\040space rw,relatime shared:50 - ext4 /dev/sdb1 rw\n' +
    '96 22 0:45 / /proc rw - proc proc rw\n';
  assert.deepEqual(parseMountinfo(text)[1], { devno: '8:17', mountPoint: '/mnt/with space', fsType: 'ext4', source: '/dev/sdb1' });
  assert.equal(parseMountinfo(text).length, 3);
  const d = temp();
  const mi = join(d, 'mountinfo');
  execFileSync('sh', ['-c', `printf '%s' "$1" > "${mi}"`, 'sh', text]);
  // not a device node here: matched by the source name
  assert.equal(findMountPoint('/dev/sdb1', mi), '/mnt/with space');
  assert.equal(findMountPoint('/dev/sdc1', mi), null);
  assert.equal(findMountPoint('/dev/sdb1', join(d, 'missing')), null);
});

test('a block device node is matched by its device number in mountinfo (mknod: runs as root, like the e2e tests)', () => {
  const d = temp();
  execFileSync('mknod', [join(d, 'disk'), 'b', '259', '300']);
  const mi = join(d, 'mountinfo');
  execFileSync('sh', ['-c', `echo '95 22 259:300 / /mnt/resource rw - ext4 /dev/other rw' > "${mi}"`]);
  assert.equal(findMountPoint(join(d, 'disk'), mi), '/mnt/resource');
});

test('/proc/swaps parsing', () => {
  const text =
    'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/mnt/resource/swapfile                 file\t\t2097148\t\t0\t\t-2\n/dev/zram0 partition 1000 0 100\n';
  assert.deepEqual(parseProcSwaps(text), [
    { path: '/mnt/resource/swapfile', sizeKiB: 2097148 },
    { path: '/dev/zram0', sizeKiB: 1000 },
  ]);
  assert.deepEqual(parseProcSwaps('Filename\tType\tSize\tUsed\tPriority\n'), []);
});

test('a swap size that is not a positive whole number is refused with a clear error', async () => {
  await assert.rejects(
    ensureSwapFile({ mountPoint: temp(), sizeMB: 0, fs: 'ext4' }),
    /ResourceDisk.SwapSizeMB must be a positive whole number to enable swap, not 0/,
  );
});

test('ResourceDisk.Format=n: nothing is looked at', async () => {
  assert.deepEqual(
    await ensureResourceDisk(Config.from({ 'ResourceDisk.Format': false }), { sysRoot: '/nonexistent', devRoot: '/nonexistent' }),
    {
      status: 'disabled',
    },
  );
});

test('no resource disk: not-found, no error', async () => {
  const d = temp();
  assert.deepEqual(await ensureResourceDisk(Config.from({}), { sysRoot: d, devRoot: d }), { status: 'not-found' });
});

test('a device that cannot be read gives a failed result with the reason, never a rejection', async () => {
  const d = temp();
  mkdirSync(join(d, 'disk/azure'), { recursive: true });
  symlinkSync('../../nosuchdisk', join(d, 'disk/azure/resource'));
  const r = await ensureResourceDisk(Config.from({}), { sysRoot: d, devRoot: d });
  assert.equal(r.status, 'failed');
  assert.ok(r.status === 'failed' && r.device === join(d, 'nosuchdisk'));
  assert.match(r.status === 'failed' ? r.error : '', /cannot read the partition table of .*nosuchdisk/);
});

test('a hanging disk command cannot hold the caller beyond the timeout', async () => {
  const d = temp();
  mkdirSync(join(d, 'disk/azure'), { recursive: true });
  // sfdisk blocks opening a FIFO until a writer comes: a stand-in for a hung device
  execFileSync('mkfifo', [join(d, 'hung')]);
  symlinkSync('../../hung', join(d, 'disk/azure/resource'));
  const started = Date.now();
  const r = await ensureResourceDisk(Config.from({}), { sysRoot: d, devRoot: d, timeoutMs: 300 });
  assert.deepEqual(r, { status: 'timed-out', timeoutMs: 300 });
  assert.ok(Date.now() - started < 5000);
  // release the blocked sfdisk so no process outlives the test
  const fd = openSync(join(d, 'hung'), constants.O_WRONLY | constants.O_NONBLOCK);
  closeSync(fd);
});
