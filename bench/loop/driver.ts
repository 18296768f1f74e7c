// The in-process driver of the extensions loop (bench/extensions.ts): the same code -run-exthandlers runs
// (openExtensionsLoop, src/extensions/loop.ts), bundled by esbuild as build.mjs bundles the agent, but with the cycles
// back to back instead of one per Extensions.GoalStatePeriod (whose minimum is 1 s: 1,000 cycles would take 17 min).
// Only the waits between cycles are left out; what a cycle does is the same. Prints one JSON line per `every` cycles:
// the cycle, its own memory from /proc/self/status, CPU seconds, and the V8 heap after a forced GC (leak check).
//   node loop-driver.cjs CONFIG CYCLES EVERY        (run with --expose-gc)
import { loadConfig } from '../../src/config/index.ts';
import { openExtensionsLoop } from '../../src/extensions/loop.ts';
import { log } from '../../src/log/logger.ts';
import { detectProfile } from '../../src/os/distro-profile.ts';
import { statusMemory } from '../memory.ts';

async function main(): Promise<void> {
  const [configPath, cyclesArg, everyArg] = process.argv.slice(2);
  const cycles = Number(cyclesArg);
  const every = Number(everyArg);
  if (!configPath || !(cycles > 0) || !(every > 0)) throw new Error('usage: loop-driver.cjs CONFIG CYCLES EVERY');
  const config = loadConfig(configPath);
  const file = config.str('Logs.File');
  if (file) log.addFile(file, config.bool('Logs.Verbose') ? 'VERBOSE' : 'INFO');
  const loop = openExtensionsLoop(config, { configPath, profile: detectProfile() });
  const gc = (globalThis as { gc?: () => void }).gc;
  let failed = 0;
  for (let i = 1; i <= cycles; i++) {
    if (!(await loop.cycle())) failed++;
    if (i % every === 0 || i === 1) {
      const m = statusMemory(process.pid);
      const cpu = process.cpuUsage();
      gc?.();
      const u = process.memoryUsage();
      const k = (b: number) => Math.round(b / 1024);
      process.stdout.write(
        `${JSON.stringify({ cycle: i, failed, rss: m?.vmRss, anon: m?.rssAnon, file: m?.rssFile, hwm: m?.vmHwm, cpu: (cpu.user + cpu.system) / 1e6, heapKiB: k(u.heapUsed), heapTotalKiB: k(u.heapTotal), externalKiB: k(u.external), arrayBuffersKiB: k(u.arrayBuffers) })}\n`,
      );
    }
  }
  await loop.close();
}

main().catch((e: unknown) => {
  process.stderr.write(`loop-driver: ${(e as Error).message}\n`);
  process.exit(1);
});
