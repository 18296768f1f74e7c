// SCVMM detection (src/daemon/scvmm.ts, upstream daemon/scvmm.py) on images made by genisoimage, read in user space:
// VMM's files land at DVD.MountPoint and its install script is started as upstream starts it; no configuration file,
// no start.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Config } from '../../../src/config/index.ts';
import { detectScvmm } from '../../../src/daemon/scvmm.ts';
import { readRootFilesFromImage } from '../../../src/provisioning/media/read-file.ts';
import { genisoimage } from '../../fixtures/media/make-images.ts';

const CONF = '<LinuxOSConfiguration/>\n';
const INSTALL = '#!/bin/bash\necho installing "$@"\n';
const noProc = () => mkdtempSync(join(tmpdir(), 'scvmm-proc-')); // no /proc/filesystems: the kernel mounts nothing

for (const [what, flags] of [
  ['ISO 9660 with Joliet and Rock Ridge', ['-J', '-R']],
  ['UDF', ['-udf']],
  ['plain ISO 9660 (upper-case names shown in lower case, as Linux shows them)', ['-l']],
] as const) {
  test(`SCVMM on ${what}: the files at DVD.MountPoint, install started as /bin/bash <mp>/install "-p <mp>"`, async () => {
    const image = genisoimage({ 'linuxosconfiguration.xml': CONF, install: INSTALL, 'agent.tgz': 'payload' }, [...flags]);
    const mp = join(mkdtempSync(join(tmpdir(), 'scvmm-')), 'cdrom', 'secure');
    const started: string[][] = [];
    const found = await detectScvmm(Config.from({ 'DVD.Device': image, 'DVD.MountPoint': mp }), {
      procRoot: noProc(),
      start: (a) => started.push(a),
    });
    assert.equal(found, true);
    assert.deepEqual(started, [['/bin/bash', join(mp, 'install'), `-p ${mp}`]]);
    assert.deepEqual(readdirSync(mp).sort(), ['agent.tgz', 'install', 'linuxosconfiguration.xml']);
    assert.equal(readFileSync(join(mp, 'install'), 'utf8'), INSTALL);
    assert.equal(readFileSync(join(mp, 'linuxosconfiguration.xml'), 'utf8'), CONF);
    assert.equal(statSync(join(mp, 'install')).mode & 0o777, 0o700);
  });
}

test('SCVMM: a medium without linuxosconfiguration.xml, an unreadable one, or no CD device at all: not detected, nothing started or written', async () => {
  const started: string[][] = [];
  const start = (a: string[]) => started.push(a);
  const mp = join(mkdtempSync(join(tmpdir(), 'scvmm-')), 'mnt');
  const ovf = genisoimage({ 'ovf-env.xml': '<Environment/>', install: INSTALL }, ['-J']);
  assert.equal(await detectScvmm(Config.from({ 'DVD.Device': ovf, 'DVD.MountPoint': mp }), { procRoot: noProc(), start }), false);
  assert.equal(
    await detectScvmm(Config.from({ 'DVD.Device': '/nonexistent/sr0', 'DVD.MountPoint': mp }), { procRoot: noProc(), start }),
    false,
  );
  const emptyDev = mkdtempSync(join(tmpdir(), 'scvmm-dev-'));
  assert.equal(await detectScvmm(Config.from({ 'DVD.MountPoint': mp }), { devRoot: emptyDev, procRoot: noProc(), start }), false);
  assert.deepEqual(started, []);
  assert.throws(() => statSync(mp), /ENOENT/);
});

test('readRootFilesFromImage: the total is bounded', async () => {
  const image = genisoimage({ a: 'x'.repeat(3000), b: 'y'.repeat(3000) }, ['-J']);
  await assert.rejects(readRootFilesFromImage(image, 1 << 20, 4000), /exceed 4000 bytes/);
  const { files } = await readRootFilesFromImage(image, 1 << 20, 6000);
  assert.deepEqual(files.map((f) => [f.name, f.data.length]).sort(), [
    ['a', 3000],
    ['b', 3000],
  ]);
});
