// Resource disk detection (docs/protocol.md §8.3) against the fake sysfs trees of test/fixtures/vmbus and
// temporary /dev trees with the udev link.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { REPO_ROOT } from '../../helpers/paths.ts';
import { detectResourceDisk, findResourceDiskLink, findVmbusResourceDisk, partitionPath } from '../../../src/os/resource-disk/detect.ts';

const VMBUS = join(REPO_ROOT, 'test', 'fixtures', 'vmbus');
const temps: string[] = [];
function temp(): string {
  const d = mkdtempSync(join(tmpdir(), 'rd-detect-'));
  temps.push(d);
  return d;
}
afterEach(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

test('Gen1: the disk on IDE controller 0 port 1 (device id 00000000-0001-…) is the resource disk, not the OS or data disk', () => {
  assert.deepEqual(findVmbusResourceDisk(join(VMBUS, 'gen1')), { name: 'sdb', detectedBy: 'vmbus-gen1' });
});

test('Gen2: LUN 1 of SCSI controller f8b3781a-… is the resource disk; LUN 0, the DVD and LUN 1 of another controller are not', () => {
  assert.deepEqual(findVmbusResourceDisk(join(VMBUS, 'gen2')), { name: 'sdb', detectedBy: 'vmbus-gen2' });
});

test('Gen2 without LUN 1 has no resource disk', () => {
  assert.equal(findVmbusResourceDisk(join(VMBUS, 'gen2-no-resource')), null);
  assert.equal(detectResourceDisk({ sysRoot: join(VMBUS, 'gen2-no-resource'), devRoot: temp() }), null);
});

test('old kernels: vmbus_N directories with block:<name> entries', () => {
  assert.deepEqual(findVmbusResourceDisk(join(VMBUS, 'legacy')), { name: 'sdb', detectedBy: 'vmbus-legacy' });
});

test('no VMBus at all (not Hyper-V/Azure): nothing found, no error', () => {
  const root = temp();
  assert.equal(findVmbusResourceDisk(root), null);
  assert.equal(detectResourceDisk({ sysRoot: root, devRoot: root }), null);
});

test('a VMBus device without a device_id file is skipped', () => {
  const root = temp();
  mkdirSync(join(root, 'bus/vmbus/devices/broken/host0/target0:0:1/0:0:0:1/block/sdz'), { recursive: true });
  assert.equal(findVmbusResourceDisk(root), null);
});

test('device ids are matched without braces and case-insensitively; links below the device are not followed', () => {
  const root = temp();
  const dev = join(root, 'bus/vmbus/devices/x');
  mkdirSync(join(dev, 'host0/target0:0:0/0:0:0:1/block/sdb'), { recursive: true });
  writeFileSync(join(dev, 'device_id'), 'F8B3781A-1E82-4818-A1C3-63D806EC15BB\n');
  // a link that would lead to another block dir, as sysfs has links back up the tree ("subsystem", "driver")
  mkdirSync(join(root, 'elsewhere/0:0:0:1/block/sdq'), { recursive: true });
  symlinkSync(join(root, 'elsewhere'), join(dev, 'aaa-link'));
  assert.deepEqual(findVmbusResourceDisk(root), { name: 'sdb', detectedBy: 'vmbus-gen2' });
});

test('the VMBus name becomes <devRoot>/<name>', () => {
  const dev = temp();
  assert.deepEqual(detectResourceDisk({ sysRoot: join(VMBUS, 'gen2'), devRoot: dev }), {
    device: join(dev, 'sdb'),
    detectedBy: 'vmbus-gen2',
  });
});

test('the /dev/disk/azure/resource udev link wins over the VMBus tree and resolves relative to the link', () => {
  const dev = temp();
  mkdirSync(join(dev, 'disk/azure'), { recursive: true });
  symlinkSync('../../sdc', join(dev, 'disk/azure/resource'));
  assert.equal(findResourceDiskLink(join(dev, 'disk/azure')), join(dev, 'sdc'));
  assert.deepEqual(detectResourceDisk({ sysRoot: join(VMBUS, 'gen1'), devRoot: dev }), {
    device: join(dev, 'sdc'),
    detectedBy: 'udev-link',
  });
});

test('an absolute link target and an explicit link directory', () => {
  const d = temp();
  symlinkSync('/dev/loop7', join(d, 'resource'));
  assert.deepEqual(detectResourceDisk({ sysRoot: d, azureLinkDir: d }), { device: '/dev/loop7', detectedBy: 'udev-link' });
});

test('partition names follow the kernel rule', () => {
  assert.equal(partitionPath('/dev/sdb'), '/dev/sdb1');
  assert.equal(partitionPath('/dev/loop3'), '/dev/loop3p1');
  assert.equal(partitionPath('/dev/nvme0n1', 2), '/dev/nvme0n1p2');
  assert.equal(partitionPath('/dev/mmcblk0'), '/dev/mmcblk0p1');
});
