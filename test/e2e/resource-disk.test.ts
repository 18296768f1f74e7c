// The resource disk on real tools in the namespace sandbox (docs/protocol.md §8.3, §10 item 41): a sparse image with
// the platform's fresh layout (MBR, one type-7 partition) attached as a loop device, found through a fake
// /dev/disk/azure/resource link and through a fake Gen2 VMBus tree bind-mounted over /sys/bus, then
// ensureResourceDisk run several times by test/e2e/resource-disk-script.ts inside the sandbox.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../helpers/paths.ts';
import { withSandbox, type Sandbox } from '../sandbox/sandbox.ts';
import { DATALOSS_WARNING_TEXT } from '../../src/os/resource-disk/mount.ts';
import type { ResourceDiskResult } from '../../src/os/resource-disk/index.ts';

const SCRIPT = join(REPO_ROOT, 'test', 'e2e', 'resource-disk-script.ts');
const GEN2 = 'f8b3781a-1e82-4818-a1c3-63d806ec15bb';

async function sh(sb: Sandbox, cmd: string): Promise<string> {
  const r = await sb.exec(['sh', '-c', cmd], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `${cmd} failed: ${r.stderr}`);
  return r.stdout.trim();
}

async function ensure(
  sb: Sandbox,
  config: Record<string, unknown>,
  env: Record<string, unknown>,
): Promise<Extract<ResourceDiskResult, { status: 'mounted' }>> {
  const r = await sb.exec([process.execPath, SCRIPT, JSON.stringify({ config, env })], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `the script failed: ${r.stderr}`);
  const result = JSON.parse(r.stdout) as ResourceDiskResult;
  assert.equal(result.status, 'mounted', r.stdout);
  return result as Extract<ResourceDiskResult, { status: 'mounted' }>;
}

interface SwapFacts {
  /** the size /proc/swaps shows for the file, KiB; null when it is not active */
  activeKiB: number | null;
  mode: string;
  size: number;
  allocated: number;
}

/**
 * The kernel reports a swap file's usable size: the file less its header page and any page the file system's
 * extents do not map whole, so "16 MB" shows as a little under 16384 KiB.
 */
function assertSwapSize(activeKiB: number | null, mb: number, pageKiB: number): void {
  assert.ok(activeKiB !== null, 'the swap file is not active');
  assert.ok(activeKiB <= mb * 1024 - pageKiB && activeKiB > mb * 1024 - 256, `${activeKiB} KiB active, configured ${mb} MB`);
}

async function swapFacts(sb: Sandbox, path: string): Promise<SwapFacts> {
  const swaps = sb
    .readFile('/proc/swaps')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/));
  const line = swaps.find((f) => f[0] === path);
  const [mode, size, blocks, blockSize] = (await sh(sb, `stat -c '%a %s %b %B' ${path}`)).split(' ');
  return { activeKiB: line ? Number(line[2]) : null, mode: mode!, size: Number(size), allocated: Number(blocks) * Number(blockSize) };
}

test('resource disk: a fresh type-7 disk is formatted and mounted once, never again; swap is made, kept and resized', {
  timeout: 300_000,
}, async () => {
  const mnt = `/mnt/rd-e2e-${process.pid}`;
  let image = '';
  await withSandbox(async (sb) => {
    image = join(sb.dir, 'resource.img');
    let loop = '';
    try {
      await sh(sb, `truncate -s 256M ${image} && echo 'type=7' | sfdisk --quiet ${image}`);
      loop = await sh(sb, `losetup --find --show --partscan ${image}`);
      const part = `${loop}p1`;
      await sh(sb, `mkdir -p /run/fake-azure && ln -s ${loop} /run/fake-azure/resource`);
      const pageKiB = Number(await sh(sb, 'getconf PAGESIZE')) / 1024;
      const config = {
        'ResourceDisk.Filesystem': 'ext4',
        'ResourceDisk.MountPoint': mnt,
        'ResourceDisk.MountOptions': 'noatime,nodev',
        'ResourceDisk.EnableSwap': true,
        'ResourceDisk.SwapSizeMB': 16,
      };
      const byLink = { azureLinkDir: '/run/fake-azure', sysRoot: join(sb.dir, 'no-sys') };
      const swapfile = `${mnt}/swapfile`;

      // 1. the fresh platform disk: retyped to 83, formatted ext4, mounted with the options, warning written
      const first = await ensure(sb, config, byLink);
      assert.deepEqual(
        {
          device: first.device,
          by: first.detectedBy,
          part: first.partition,
          action: first.action,
          formatted: first.formatted,
          mnt: first.mountPoint,
          already: first.alreadyMounted,
        },
        { device: loop, by: 'udev-link', part, action: 'retype-and-format', formatted: true, mnt, already: false },
      );
      assert.equal(await sh(sb, `sfdisk --part-type ${loop} 1`), '83');
      assert.equal(await sh(sb, `blkid -p -o value -s TYPE ${part}`), 'ext4');
      const uuid = await sh(sb, `blkid -p -o value -s UUID ${part}`);
      assert.match(
        await sh(sb, `findmnt -n -o SOURCE,OPTIONS ${mnt}`),
        new RegExp(`^${part} .*\\bnodev\\b.*\\bnoatime\\b|^${part} .*\\bnoatime\\b.*\\bnodev\\b`),
      );
      assert.equal(sb.readFile(`${mnt}/DATALOSS_WARNING_README.txt`), DATALOSS_WARNING_TEXT);
      assert.equal(first.swap.state, 'enabled');
      assert.equal(first.swap.state === 'enabled' && first.swap.result.action, 'created');
      let swap = await swapFacts(sb, swapfile);
      assertSwapSize(swap.activeKiB, 16, pageKiB);
      assert.deepEqual({ mode: swap.mode, size: swap.size }, { mode: '600', size: 16 * 1024 * 1024 });
      assert.ok(swap.allocated >= swap.size, `the swap file is sparse: ${swap.allocated} bytes allocated of ${swap.size}`);
      await sh(sb, `echo precious > ${mnt}/keep.txt`);

      // 2. run again while mounted: nothing changes
      const second = await ensure(sb, config, byLink);
      assert.deepEqual(
        { action: second.action, formatted: second.formatted, already: second.alreadyMounted },
        { action: 'keep', formatted: false, already: true },
      );
      assert.equal(second.swap.state === 'enabled' && second.swap.result.action, 'unchanged');

      // 3. "reboot": swap off and unmounted; the next run must mount the same file system, not format it
      await sh(sb, `swapoff ${swapfile} && umount ${mnt}`);
      const third = await ensure(sb, config, byLink);
      assert.deepEqual(
        { action: third.action, formatted: third.formatted, already: third.alreadyMounted },
        { action: 'keep', formatted: false, already: false },
      );
      assert.equal(await sh(sb, `blkid -p -o value -s UUID ${part}`), uuid, 'the file system was recreated');
      assert.equal(sb.readFile(`${mnt}/keep.txt`), 'precious\n');
      assert.equal(third.swap.state === 'enabled' && third.swap.result.action, 'activated');
      assertSwapSize((await swapFacts(sb, swapfile)).activeKiB, 16, pageKiB);

      // 4. a new size: swapoff, recreate, swapon
      const fourth = await ensure(sb, { ...config, 'ResourceDisk.SwapSizeMB': 24 }, byLink);
      assert.equal(fourth.swap.state === 'enabled' && fourth.swap.result.action, 'resized');
      swap = await swapFacts(sb, swapfile);
      assertSwapSize(swap.activeKiB, 24, pageKiB);
      assert.deepEqual({ mode: swap.mode, size: swap.size }, { mode: '600', size: 24 * 1024 * 1024 });
      assert.ok(swap.allocated >= swap.size, `the resized swap file is sparse: ${swap.allocated} of ${swap.size}`);

      // 5. "reboot" on a Gen2 VM without the udev rules: found on the fake VMBus tree at the default /sys path
      await sh(sb, `swapoff ${swapfile} && umount ${mnt}`);
      const tree = join(sb.dir, 'sysbus');
      const lun1 = join(tree, 'vmbus', 'devices', GEN2, 'host0', 'target0:0:0', '0:0:0:1', 'block', loop.replace('/dev/', ''));
      mkdirSync(lun1, { recursive: true });
      writeFileSync(join(tree, 'vmbus', 'devices', GEN2, 'device_id'), `{${GEN2}}\n`);
      mkdirSync(join(tree, 'vmbus', 'devices', GEN2, 'host0', 'target0:0:0', '0:0:0:0', 'block', 'sda'), { recursive: true });
      await sh(sb, `mount --bind ${tree} /sys/bus`);
      const fifth = await ensure(sb, { ...config, 'ResourceDisk.SwapSizeMB': 24 }, { azureLinkDir: join(sb.dir, 'no-links') });
      assert.deepEqual(
        { device: fifth.device, by: fifth.detectedBy, action: fifth.action, formatted: fifth.formatted },
        { device: loop, by: 'vmbus-gen2', action: 'keep', formatted: false },
      );
      assert.equal(sb.readFile(`${mnt}/keep.txt`), 'precious\n');
      assert.equal(fifth.swap.state === 'enabled' && fifth.swap.result.action, 'activated');
    } finally {
      // swap and loop devices are not namespaced: undo them before the sandbox goes
      if (loop) {
        const r = await sb.exec(['sh', '-c', `swapoff ${mnt}/swapfile 2>/dev/null; umount ${mnt} 2>/dev/null; losetup -d ${loop}`]);
        assert.equal(r.code, 0, `cleanup failed: ${r.stderr}`);
      }
    }
  });
  // nothing is left attached on the host
  const attached = spawnSync('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE'], { encoding: 'utf8' });
  assert.equal(attached.status, 0, attached.stderr);
  assert.ok(!attached.stdout.includes(image), `the loop device of ${image} is still attached`);
  assert.doesNotMatch(spawnSync('cat', ['/proc/swaps'], { encoding: 'utf8' }).stdout, /rd-e2e-/);
});

test('resource disk: a blank disk gets one Linux partition; ResourceDisk.Format=n and swap encryption leave things alone', {
  timeout: 300_000,
}, async () => {
  const mnt = `/mnt/rd-e2e-blank-${process.pid}`;
  let image = '';
  await withSandbox(async (sb) => {
    image = join(sb.dir, 'blank.img');
    let loop = '';
    try {
      await sh(sb, `truncate -s 64M ${image}`);
      loop = await sh(sb, `losetup --find --show --partscan ${image}`);
      await sh(sb, `mkdir -p /run/fake-azure && ln -s ${loop} /run/fake-azure/resource`);
      const env = { azureLinkDir: '/run/fake-azure', sysRoot: join(sb.dir, 'no-sys') };
      const config = { 'ResourceDisk.MountPoint': mnt, 'ResourceDisk.EnableSwap': true, 'ResourceDisk.SwapSizeMB': 8 };

      // Format=n: the daemon does not touch the disk at all
      const off = await sb.exec([process.execPath, SCRIPT, JSON.stringify({ config: { ...config, 'ResourceDisk.Format': false }, env })]);
      assert.deepEqual(JSON.parse(off.stdout), { status: 'disabled' });
      assert.equal((await sb.exec(['sfdisk', '--json', loop])).code, 1, 'the blank disk was given a partition table');

      const r = await ensure(sb, { ...config, 'ResourceDisk.EnableSwapEncryption': true }, env);
      assert.deepEqual(
        { action: r.action, formatted: r.formatted, part: r.partition },
        { action: 'recreate-and-format', formatted: true, part: `${loop}p1` },
      );
      const table = JSON.parse(await sh(sb, `sfdisk --json ${loop}`)) as {
        partitiontable: { label: string; partitions: Array<{ type: string }> };
      };
      assert.deepEqual(
        { label: table.partitiontable.label, types: table.partitiontable.partitions.map((p) => p.type) },
        { label: 'dos', types: ['83'] },
      );
      assert.equal(await sh(sb, `blkid -p -o value -s TYPE ${loop}p1`), 'ext4');
      assert.equal(r.swap.state, 'skipped');
      assert.match(r.swap.state === 'skipped' ? r.swap.reason : '', /EnableSwapEncryption=y is not supported on Linux/);
      assert.equal((await sb.exec(['test', '-e', `${mnt}/swapfile`])).code, 1, 'a swap file was made although encryption was asked for');
    } finally {
      if (loop) {
        const r = await sb.exec(['sh', '-c', `swapoff ${mnt}/swapfile 2>/dev/null; umount ${mnt} 2>/dev/null; losetup -d ${loop}`]);
        assert.equal(r.code, 0, `cleanup failed: ${r.stderr}`);
      }
    }
  });
  const attached = spawnSync('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE'], { encoding: 'utf8' });
  assert.ok(!attached.stdout.includes(image), `the loop device of ${image} is still attached`);
});
