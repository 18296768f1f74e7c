// upstream ga/monitor.py PollSystemWideResourceUsage: every hour, whatever cgroups do, the VM's used and available
// memory in MB as two "Memory" performance counters (osutil get_used_and_available_system_memory reads `free -b`;
// the same figures come from /proc/meminfo here, as procps 4 computes them: used = MemTotal − MemAvailable).
import { readFileSync } from 'node:fs';

export const SYSTEM_METRICS_PERIOD_MS = 3600_000;
export const MEMORY_CATEGORY = 'Memory';
export const USED_MEM = 'Used Memory (MB)';
export const AVAILABLE_MEM = 'Available Memory (MB)';

export interface MemoryFigures {
  usedMb: number;
  availableMb: number;
}

/** The figures from /proc/meminfo's text (kB), or null when MemTotal or MemAvailable is missing. */
export function memoryFromMeminfo(text: string): MemoryFigures | null {
  const kb = (key: string): number | null => {
    const m = new RegExp(`^${key}:\\s+(\\d+)\\s+kB$`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  };
  const total = kb('MemTotal');
  const available = kb('MemAvailable');
  if (total === null || available === null) return null;
  // upstream divides bytes by 1024**2 (a float)
  return { usedMb: ((total - available) * 1024) / 1024 ** 2, availableMb: (available * 1024) / 1024 ** 2 };
}

export function readSystemMemory(path = '/proc/meminfo'): MemoryFigures | null {
  try {
    return memoryFromMeminfo(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}
