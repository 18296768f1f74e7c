// Memory of a process (or a set of processes) as the benchmarks report it. Two figures, both needed:
//  - peak RSS (VmHWM, what GNU time %M reports): resident pages of ANY kind, including the file-backed pages of the
//    executable itself. For our SEA binary most of that is RssFile: clean, shared, reclaimable page-cache pages, and
//    how many of them a run touches depends on how the file sits in the page cache (bench/README.md).
//  - private memory: RssAnon (sampled, it has no high-water mark of its own) — what the process costs the machine
//    beyond page cache. Not smaps_rollup's Private_Clean + Private_Dirty: a file page mapped by one process only counts
//    as Private_Clean, so a binary that one process runs shows ~40 MiB "private" that is page cache all the same.
// Sampled from /proc every `intervalMs` (10–20 ms for the agents; 1 ms for a 40 ms `-version`), summed over the
// processes the caller names at each sample.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, readdirSync } from 'node:fs';

export interface StatusMemory {
  /** KiB, all from /proc/PID/status */
  vmHwm: number;
  vmRss: number;
  rssAnon: number;
  rssFile: number;
  rssShmem: number;
}

function field(text: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** The memory lines of /proc/PID/status; null when the process is gone (or is a zombie without an mm). */
export function statusMemory(pid: number): StatusMemory | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  if (!/^VmRSS:/m.test(text)) return null;
  return {
    vmHwm: field(text, 'VmHWM'),
    vmRss: field(text, 'VmRSS'),
    rssAnon: field(text, 'RssAnon'),
    rssFile: field(text, 'RssFile'),
    rssShmem: field(text, 'RssShmem'),
  };
}

/** KiB of Private_Clean + Private_Dirty from /proc/PID/smaps_rollup; null when gone. */
export function privateKiB(pid: number): number | null {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return field(text, 'Private_Clean') + field(text, 'Private_Dirty');
  } catch {
    return null;
  }
}

/** Direct children of a process (all its threads' children). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      const kids = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim();
      if (kids) out.push(...kids.split(/\s+/).map(Number));
    } catch {
      // thread gone
    }
  }
  return out;
}

/** The process and all its descendants. */
export function processTree(pid: number): number[] {
  const all: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift()!;
    all.push(p);
    queue.push(...childrenOf(p));
  }
  return all;
}

/** /proc/PID/cmdline as argv; [] when gone. */
export function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** utime + stime of the process, in seconds (clock ticks of 1/100 s, USER_HZ on Linux). */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields 14 and 15 of stat(5); rest[0] is field 3
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return null;
  }
}

/** write_bytes and wchar of /proc/PID/io (bytes sent to the block layer, and bytes passed to write(2)). */
export function ioBytes(pid: number): { writeBytes: number; wchar: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/io`, 'utf8');
    const get = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
    return { writeBytes: get('write_bytes'), wchar: get('wchar') };
  } catch {
    return null;
  }
}

export interface MemoryPeaks {
  /** KiB: the sum over the processes of each one's VmHWM (the last read before it went) */
  hwm: number;
  /** KiB: the largest sum of VmRSS seen in one sample */
  rss: number;
  /** KiB: the largest sum of RssAnon seen in one sample */
  anon: number;
  /** KiB: the largest sum of RssFile seen in one sample */
  file: number;
  /** KiB: the largest sum of smaps_rollup Private_Clean + Private_Dirty seen (only when `rollup` was asked for) */
  private: number;
  /** KiB at the last sample that saw any process */
  last: { rss: number; anon: number; file: number; private: number };
  samples: number;
  /** how many distinct processes were seen */
  processes: number;
}

export interface WatchOptions {
  /** the processes to sum at each sample */
  pids: () => number[];
  intervalMs?: number;
  /** also read smaps_rollup each sample (costlier: the kernel walks the page tables) */
  rollup?: boolean;
}

/** Samples memory of a changing set of processes until stop(). */
export class MemoryWatch {
  private readonly hwmByPid = new Map<number, number>();
  private timer: NodeJS.Timeout | null = null;
  readonly peaks: MemoryPeaks = {
    hwm: 0,
    rss: 0,
    anon: 0,
    file: 0,
    private: 0,
    last: { rss: 0, anon: 0, file: 0, private: 0 },
    samples: 0,
    processes: 0,
  };

  private readonly opts: WatchOptions;

  constructor(opts: WatchOptions) {
    this.opts = opts;
  }

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.opts.intervalMs ?? 10);
    return this;
  }

  sample(): void {
    let rss = 0;
    let anon = 0;
    let file = 0;
    let priv = 0;
    let seen = 0;
    for (const pid of this.opts.pids()) {
      const m = statusMemory(pid);
      if (!m) continue;
      seen++;
      this.hwmByPid.set(pid, Math.max(this.hwmByPid.get(pid) ?? 0, m.vmHwm));
      rss += m.vmRss;
      anon += m.rssAnon;
      file += m.rssFile;
      if (this.opts.rollup) priv += privateKiB(pid) ?? 0;
    }
    const p = this.peaks;
    p.samples++;
    if (seen === 0) return;
    p.rss = Math.max(p.rss, rss);
    p.anon = Math.max(p.anon, anon);
    p.file = Math.max(p.file, file);
    p.private = Math.max(p.private, priv);
    p.hwm = [...this.hwmByPid.values()].reduce((a, b) => a + b, 0);
    p.processes = this.hwmByPid.size;
    p.last = { rss, anon, file, private: priv };
  }

  stop(): MemoryPeaks {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return this.peaks;
  }
}

export const MiB = (kib: number): string => (kib / 1024).toFixed(1);

/**
 * Runs argv to its end while sampling it (and its descendants) every `intervalMs`. VmHWM is monotonic, so the last
 * read is the peak up to then; RssAnon is the largest sample. Short commands (a 40 ms `-version`) need intervalMs 1.
 */
export async function measureCommand(argv: string[], intervalMs = 1): Promise<{ code: number | null; peaks: MemoryPeaks }> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  const root = child.pid!;
  const watch = new MemoryWatch({ pids: () => processTree(root), intervalMs }).start();
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return { code, peaks: watch.stop() };
}

/**
 * Copies an executable the way a VM has it after boot: written by copy_file_range (page-sized page-cache folios, as
 * installers' chunked writes leave them), fsynced, then evicted (POSIX_FADV_DONTNEED through dd iflag=nocache), so
 * the first run maps pages read back from disk. The bytes are the same; only the page-cache state differs — which
 * decides how much RssFile a run shows (bench/README.md "Memory").
 */
export function coldCopy(file: string, to: string): string {
  copyFileSync(file, to);
  chmodSync(to, 0o755);
  const r = spawnSync('sh', ['-c', 'sync "$1" && dd if="$1" iflag=nocache count=0 status=none', 'sh', to], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot evict ${to} from the page cache: ${r.stderr || r.error?.message}`);
  return to;
}
