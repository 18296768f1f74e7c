// OS.RootDeviceScsiTimeout (docs/protocol.md §8.5) against a fake /sys/block tree.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { Config } from '../../../src/config/index.ts';
import { applyScsiTimeoutConfig, setScsiTimeouts } from '../../../src/os/scsi-timeout.ts';

const temps: string[] = [];
afterEach(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fakeSys(devices: Record<string, string | null>): string {
  const root = mkdtempSync(join(tmpdir(), 'scsi-'));
  temps.push(root);
  for (const [dev, timeout] of Object.entries(devices)) {
    mkdirSync(join(root, 'block', dev, 'device'), { recursive: true });
    if (timeout !== null) writeFileSync(join(root, 'block', dev, 'device', 'timeout'), timeout);
  }
  return root;
}
const timeoutOf = (root: string, dev: string) => readFileSync(join(root, 'block', dev, 'device', 'timeout'), 'utf8');

test('every sd* disk whose timeout differs gets the value; others are left alone', () => {
  const root = fakeSys({ sda: '30\n', sdb: '300\n', sdc: '60\n', vda: '30\n', loop0: '30\n' });
  const r = setScsiTimeouts(300, root);
  assert.deepEqual(r, { changed: ['sda', 'sdc'], unchanged: ['sdb'], failed: [] });
  assert.equal(timeoutOf(root, 'sda'), '300');
  assert.equal(timeoutOf(root, 'sdc'), '300');
  assert.equal(timeoutOf(root, 'sdb'), '300\n', 'an equal value is not rewritten');
  assert.equal(timeoutOf(root, 'vda'), '30\n');
  assert.equal(timeoutOf(root, 'loop0'), '30\n');
  // the second period finds nothing to do
  assert.deepEqual(setScsiTimeouts(300, root), { changed: [], unchanged: ['sda', 'sdb', 'sdc'], failed: [] });
});

test('a disk without a timeout attribute is reported and does not stop the others', () => {
  const root = fakeSys({ sda: null, sdb: '30' });
  const r = setScsiTimeouts(120, root);
  assert.deepEqual(r.changed, ['sdb']);
  assert.equal(r.failed.length, 1);
  assert.equal(r.failed[0]!.device, 'sda');
  assert.match(r.failed[0]!.error, /ENOENT/);
});

test('no /sys/block: nothing to do', () => {
  const root = fakeSys({});
  assert.deepEqual(setScsiTimeouts(300, join(root, 'nothing')), { changed: [], unchanged: [], failed: [] });
});

test('a bad timeout is refused with a clear error', () => {
  assert.throws(() => setScsiTimeouts(0, '/nonexistent'), /OS.RootDeviceScsiTimeout must be a positive whole number of seconds, not 0/);
  assert.throws(() => setScsiTimeouts(1.5, '/nonexistent'), /not 1.5/);
});

test('the configured value is applied; an unset value does nothing', () => {
  const root = fakeSys({ sda: '30' });
  assert.deepEqual(applyScsiTimeoutConfig(Config.from({ 'OS.RootDeviceScsiTimeout': 180 }), root)?.changed, ['sda']);
  assert.equal(timeoutOf(root, 'sda'), '180');
  assert.throws(
    () => applyScsiTimeoutConfig(Config.from({ 'OS.RootDeviceScsiTimeout': null }), root),
    /OS\.RootDeviceScsiTimeout is not set/,
  );
  assert.equal(timeoutOf(root, 'sda'), '180');
});
