// The swap file on the resource disk (docs/protocol.md §8.3, "Swap"): <mount>/swapfile of exactly
// ResourceDisk.SwapSizeMB, never sparse (swapon refuses files with holes), mode 0600, recreated when the size changes.
import { chmodSync, closeSync, existsSync, openSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { AgentError, describeError } from '../../util/errors.ts';
import { log } from '../../log/logger.ts';
import { run } from '../exec.ts';

export const SWAP_FILE_NAME = 'swapfile';
const MIB = 1024 * 1024;
const DD_BLOCK = 64 * MIB;

export interface SwapEntry {
  path: string;
  /** size in KiB as the kernel reports it (the file minus its header page) */
  sizeKiB: number;
}

/** Parses /proc/swaps (the same table `swapon -s` prints). Paths with spaces come escaped as \040. */
export function parseProcSwaps(text: string): SwapEntry[] {
  return text
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 3 && f[0])
    .map((f) => ({ path: f[0]!.replace(/\\040/g, ' '), sizeKiB: Number(f[2]) }));
}

function activeSwaps(procSwaps: string): SwapEntry[] {
  try {
    return parseProcSwaps(readFileSync(procSwaps, 'utf8'));
  } catch {
    return [];
  }
}

function fileSize(path: string): number | null {
  try {
    return statSync(path).size;
  } catch {
    return null;
  }
}

export interface SwapOptions {
  mountPoint: string;
  sizeMB: number;
  /** ResourceDisk.Filesystem: decides whether fallocate is tried first */
  fs: string;
  procSwaps?: string;
}

export interface SwapResult {
  path: string;
  sizeBytes: number;
  action: 'unchanged' | 'activated' | 'created' | 'resized';
}

/** Allocates every block of the file: fallocate (fast, real blocks), else dd from /dev/zero (§8.3). */
async function allocate(path: string, bytes: number, preferDd: boolean): Promise<'fallocate' | 'dd'> {
  // created empty with 0600 first, so the swap contents are never readable by others, even briefly
  closeSync(openSync(path, 'w', 0o600));
  if (!preferDd) {
    const r = await run(['fallocate', '-l', String(bytes), path], { allowFailure: true, timeoutMs: 10 * 60_000 });
    if (r.code === 0) return 'fallocate';
    log.info(`fallocate of ${path} failed (${r.stderr.trim() || `exit code ${r.code}`}); writing it with dd`);
  }
  const full = Math.floor(bytes / DD_BLOCK);
  if (full > 0)
    await run(['dd', 'if=/dev/zero', `of=${path}`, `bs=${DD_BLOCK}`, `count=${full}`, 'conv=notrunc'], { timeoutMs: 60 * 60_000 });
  const rest = bytes - full * DD_BLOCK;
  if (rest > 0) {
    await run(
      ['dd', 'if=/dev/zero', `of=${path}`, `bs=${rest}`, 'count=1', `seek=${full * DD_BLOCK}`, 'oflag=seek_bytes', 'conv=notrunc'],
      {
        timeoutMs: 60 * 60_000,
      },
    );
  }
  return 'dd';
}

async function createAndEnable(path: string, bytes: number, fs: string): Promise<void> {
  // The Python agent uses dd on xfs and ext4 because old kernels refused preallocated swap files there; kernels
  // since 4.18 accept them, so fallocate goes first everywhere and a refused swapon falls back to a dd-written file.
  const how = await allocate(path, bytes, false);
  chmodSync(path, 0o600);
  await run(['mkswap', path], { timeoutMs: 120_000 });
  const on = await run(['swapon', path], { allowFailure: true, timeoutMs: 120_000 });
  if (on.code === 0) return;
  if (how === 'dd') throw new AgentError('command', `swapon ${path} failed: ${on.stderr.trim() || `exit code ${on.code}`}`, { path });
  log.warn(`swapon refused the preallocated ${path} on ${fs} (${on.stderr.trim()}); rewriting it with dd`);
  unlinkSync(path);
  await allocate(path, bytes, true);
  chmodSync(path, 0o600);
  await run(['mkswap', path], { timeoutMs: 120_000 });
  await run(['swapon', path], { timeoutMs: 120_000 });
}

function restrictMode(path: string): void {
  const mode = statSync(path).mode & 0o7777;
  if (mode & 0o077) {
    log.info(`changing the mode of ${path} from ${mode.toString(8)} to ${(mode & ~0o077).toString(8)}`);
    chmodSync(path, mode & ~0o077);
  }
}

/** Makes <mountPoint>/swapfile an active swap file of sizeMB; swapoff + recreate when its size differs. */
export async function ensureSwapFile(o: SwapOptions): Promise<SwapResult> {
  if (!Number.isInteger(o.sizeMB) || o.sizeMB <= 0) {
    throw new AgentError('config', `ResourceDisk.SwapSizeMB must be a positive whole number to enable swap, not ${o.sizeMB}`, {
      sizeMB: o.sizeMB,
    });
  }
  const procSwaps = o.procSwaps ?? '/proc/swaps';
  const path = join(o.mountPoint, SWAP_FILE_NAME);
  const bytes = o.sizeMB * MIB;
  const active = activeSwaps(procSwaps).some((s) => s.path === path);
  const size = fileSize(path);

  if (size === bytes && active) {
    restrictMode(path);
    log.info(`swap is already enabled: ${path}, ${o.sizeMB} MB`);
    return { path, sizeBytes: bytes, action: 'unchanged' };
  }
  if (size === bytes) {
    // the right size but not active (after a reboot): swapon it as it is; a damaged file is recreated
    restrictMode(path);
    const on = await run(['swapon', path], { allowFailure: true, timeoutMs: 120_000 });
    if (on.code === 0) {
      log.info(`enabled the existing swap file ${path} (${o.sizeMB} MB)`);
      return { path, sizeBytes: bytes, action: 'activated' };
    }
    log.warn(`swapon ${path} failed (${on.stderr.trim() || `exit code ${on.code}`}); recreating it`);
  }
  const resized = size !== null && size !== bytes;
  if (size !== null) {
    if (active) await run(['swapoff', path], { timeoutMs: 10 * 60_000 });
    log.info(`removing the old swap file ${path} (${size} bytes)`);
    unlinkSync(path);
  }
  try {
    await createAndEnable(path, bytes, o.fs);
  } catch (e) {
    // a half-made swap file is useless and takes space on a small disk
    if (existsSync(path) && !activeSwaps(procSwaps).some((s) => s.path === path)) unlinkSync(path);
    throw new AgentError('command', `cannot enable swap on ${path}: ${describeError(e)}`, { path }, e);
  }
  log.info(`enabled ${o.sizeMB * 1024} KB of swap at ${path}`);
  return { path, sizeBytes: bytes, action: resized ? 'resized' : 'created' };
}
