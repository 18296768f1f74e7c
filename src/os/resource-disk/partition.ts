// Prepares the resource disk's first partition (docs/protocol.md §8.3, §10 item 41). A freshly allocated disk arrives
// as one MBR partition of type 7 (NTFS): only then is it retyped to Linux (83) and formatted. A partition that
// already holds the configured file system is NEVER formatted again: its files must survive a reboot.
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentError } from '../../util/errors.ts';
import { log } from '../../log/logger.ts';
import { run } from '../exec.ts';
import { partitionPath } from './detect.ts';

export interface PartitionEntry {
  node: string;
  /** MBR: the type id in hex without 0x ("7", "83"); GPT: the type GUID */
  type: string;
}

export interface PartitionTable {
  label: 'dos' | 'gpt' | string;
  partitions: PartitionEntry[];
}

export type PartitionAction =
  | { kind: 'keep' } // use partition 1 as it is
  | { kind: 'retype-and-format' } // MBR type 7: set type 83, mkfs
  | { kind: 'recreate-and-format' } // one new Linux partition over the whole disk, mkfs
  | { kind: 'format' }; // partition 1 has no file system yet

export interface DiskFacts {
  /** null when the disk has no partition table */
  table: PartitionTable | null;
  /** blkid TYPE of partition 1 ('' when it has none) */
  partitionFs: string;
  /** blkid TYPE of the whole disk ('' when it has none) */
  diskFs: string;
}

/** Decides what to do with the disk; pure, so every branch is unit-tested. Throws when the disk must be left alone. */
export function planPartition(device: string, facts: DiskFacts, fs: string): PartitionAction {
  if (fs === 'ntfs') return { kind: 'keep' }; // the platform's own format is what is wanted
  const { table, partitionFs, diskFs } = facts;
  if (!table || table.partitions.length === 0) {
    if (diskFs) {
      throw new AgentError('io', `the resource disk ${device} holds a ${diskFs} file system without a partition table; it is left alone`, {
        device,
        fs: diskFs,
      });
    }
    return { kind: 'recreate-and-format' };
  }
  if (partitionFs === fs) return { kind: 'keep' };
  if (table.label === 'gpt' && table.partitions.length > 1) return { kind: 'recreate-and-format' };
  if (table.label === 'dos' && table.partitions[0]!.type.toLowerCase().replace(/^0x/, '') === '7') return { kind: 'retype-and-format' };
  if (partitionFs === '') return { kind: 'format' };
  // Another file system on a Linux partition: mount -t <fs> decides (ext3 mounts as ext4); never format it.
  return { kind: 'keep' };
}

/** The partition table as sfdisk reads it; null when the disk has none. */
export async function readPartitionTable(device: string): Promise<PartitionTable | null> {
  const r = await run(['sfdisk', '--json', device], { allowFailure: true, timeoutMs: 30_000 });
  if (r.code !== 0) {
    if (/does not contain a recognized partition table/i.test(r.stderr)) return null;
    throw new AgentError('command', `cannot read the partition table of ${device}: ${r.stderr.trim() || `sfdisk exit code ${r.code}`}`, {
      device,
    });
  }
  try {
    const doc = JSON.parse(r.stdout) as { partitiontable?: { label?: string; partitions?: Array<{ node?: string; type?: string }> } };
    const pt = doc.partitiontable;
    if (!pt) return null;
    return {
      label: pt.label ?? '',
      partitions: (pt.partitions ?? []).map((p) => ({ node: p.node ?? '', type: String(p.type ?? '') })),
    };
  } catch (e) {
    throw new AgentError('json', `sfdisk printed no valid JSON for ${device}`, { device }, e);
  }
}

/**
 * blkid's TYPE of a device or partition, probed directly (no cache): '' when it holds no signature, 'unknown' when
 * blkid cannot tell (ambivalent probe, I/O error), which is never taken for an empty partition.
 */
export async function fsTypeOf(path: string): Promise<string> {
  // a missing node must never read as "no file system": that would format a disk full of data
  if (!existsSync(path)) throw new AgentError('io', `cannot probe ${path} for a file system: the device node does not exist`, { path });
  const r = await run(['blkid', '-p', '-o', 'value', '-s', 'TYPE', path], { allowFailure: true, timeoutMs: 30_000 });
  if (r.code === 2) return '';
  return r.code === 0 ? r.stdout.trim() || 'unknown' : 'unknown';
}

/**
 * Asks the kernel to re-read the partition table (sfdisk -R no longer exists: blockdev --rereadpt), and adds
 * partitions the kernel did not find itself with partx (kernels without the MBR parser, stale tables).
 */
export async function rereadPartitions(device: string, partition = partitionPath(device, 1)): Promise<void> {
  const r = await run(['blockdev', '--rereadpt', device], { allowFailure: true, timeoutMs: 30_000 });
  if (r.code !== 0) await run(['partx', '--update', device], { allowFailure: true, timeoutMs: 30_000 });
  if (!existsSync(partition)) await run(['partx', '--add', device], { allowFailure: true, timeoutMs: 30_000 });
}

/** Waits for the partition node (§8.3 step 4: up to 5 × 5 s by default), re-reading the table once if it is missing. */
export async function waitForNode(device: string, partition: string, tries = 5, intervalMs = 5000): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (existsSync(partition)) return;
    if (i === 0) {
      await rereadPartitions(device, partition);
      if (existsSync(partition)) return;
    }
    await sleep(intervalMs);
  }
  if (!existsSync(partition)) throw new AgentError('io', `the partition ${partition} did not appear after ${tries} checks`, { partition });
}

export function mkfsCommand(fs: string, partition: string): string[] {
  if (fs === 'xfs' || fs === 'btrfs') return [`mkfs.${fs}`, '-f', partition];
  if (fs === 'ext2' || fs === 'ext3' || fs === 'ext4') return [`mkfs.${fs}`, '-F', partition];
  throw new AgentError('config', `the resource disk file system ${fs} cannot be created on Linux`, { fs });
}

export interface PreparedPartition {
  partition: string;
  action: PartitionAction['kind'];
  /** true when mkfs ran */
  formatted: boolean;
}

export interface PrepareOptions {
  /** node checks after repartitioning (default 5) and their interval (default 5000 ms) */
  waitTries?: number;
  waitIntervalMs?: number;
}

/** Makes partition 1 of the disk hold `fs`, formatting only as planPartition allows. */
export async function preparePartition(device: string, fs: string, opts: PrepareOptions = {}): Promise<PreparedPartition> {
  const partition = partitionPath(device, 1);
  const table = await readPartitionTable(device);
  if (table && table.partitions.length > 0) await waitForNode(device, partition, opts.waitTries, opts.waitIntervalMs);
  const facts: DiskFacts = {
    table,
    partitionFs: table && table.partitions.length > 0 ? await fsTypeOf(partition) : '',
    diskFs: table ? '' : await fsTypeOf(device),
  };
  const action = planPartition(device, facts, fs);
  log.info(
    `resource disk ${device}: table ${table?.label ?? 'none'}, partition 1 ${facts.partitionFs || 'without a file system'}: ${action.kind}`,
  );
  if (action.kind === 'keep') return { partition, action: action.kind, formatted: false };
  const mkfs = mkfsCommand(fs, partition); // an unusable file system is refused before the disk is touched
  if (action.kind === 'retype-and-format') {
    await run(['sfdisk', '--part-type', device, '1', '83'], { timeoutMs: 60_000 });
    await rereadPartitions(device, partition);
  } else if (action.kind === 'recreate-and-format') {
    // one partition over the whole disk, same label kind (a disk without a table gets MBR, as Azure uses)
    const label = table?.label === 'gpt' ? 'gpt' : 'dos';
    await run(['sfdisk', '--label', label, '--wipe', 'always', '--wipe-partitions', 'always', device], {
      input: ',,L\n',
      timeoutMs: 60_000,
    });
    await rereadPartitions(device, partition);
  }
  await waitForNode(device, partition, opts.waitTries, opts.waitIntervalMs);
  log.info(`formatting the resource disk partition ${partition} as ${fs}`);
  await run(mkfs, { timeoutMs: 10 * 60_000 });
  return { partition, action: action.kind, formatted: true };
}
