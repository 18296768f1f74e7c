#!/usr/bin/env node
// Benchmarks of the built artifacts (issue 2): size raw / xz -9 / zstd -19, cold start of -version
// (median of repeated runs) and peak RSS — each beside plain `node` of the SAME pinned runtime running
// `-e 0` and running `dist/waagent.js -version`, as ratios measured in this one run.
//
//   npm run bench               all figures
//   npm run bench -- --no-compress   skip the (slow: ~1.5 min per binary) compression figures
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { coldCopy, measureCommand } from './memory.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, 'dist');
const NODE = process.execPath;
const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const args = new Set(process.argv.slice(2));

for (const f of ['waagent', 'waagent-linux-arm64', 'waagent.js']) {
  if (!existsSync(join(DIST, f))) {
    console.error(`bench: dist/${f} is missing: run "npm run build" first`);
    process.exit(1);
  }
}
if (!process.versions.node.startsWith('24.')) {
  console.error('bench: run through "npm run bench" so that the pinned Node 24 is the baseline');
  process.exit(2);
}

const MiB = 1024 * 1024;
const fmt = (n, d = 1) => n.toFixed(d);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function compressedSize(file, cmd, cmdArgs) {
  const out = execFileSync(cmd, [...cmdArgs, '-c', file], { maxBuffer: 512 * MiB });
  return out.length;
}

// --- sizes
console.log('== size (MiB)');
console.log('artifact                raw      xz -9    zstd -19');
for (const f of ['waagent', 'waagent-linux-arm64', 'waagent.js']) {
  const p = join(DIST, f);
  const raw = statSync(p).size;
  let xz = '-';
  let zst = '-';
  if (!args.has('--no-compress')) {
    xz = fmt(compressedSize(p, 'xz', ['-9', '-T0']) / MiB);
    zst = fmt(compressedSize(p, 'zstd', ['-19', '-q', '-T0']) / MiB);
  }
  console.log(
    `${f.padEnd(22)} ${fmt(raw / MiB, f.endsWith('.js') ? 3 : 1).padStart(7)} ${String(xz).padStart(8)} ${String(zst).padStart(10)}`,
  );
}

// --- cold start: interleave the variants so machine noise hits all of them alike
const variants = [
  { name: 'node -e 0 (baseline)', argv: [NODE, '-e', '0'] },
  { name: 'node dist/waagent.js -version', argv: [NODE, join(DIST, 'waagent.js'), '-version'] },
  { name: 'dist/waagent -version', argv: [join(DIST, 'waagent'), '-version'] },
];
const times = variants.map(() => []);
for (let w = 0; w < 3; w++) for (const v of variants) spawnSync(v.argv[0], v.argv.slice(1));
for (let i = 0; i < RUNS; i++) {
  variants.forEach((v, k) => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(v.argv[0], v.argv.slice(1), { stdio: 'ignore' });
    const t1 = process.hrtime.bigint();
    if (r.status !== 0) throw new Error(`${v.name} exited ${r.status}`);
    times[k].push(Number(t1 - t0) / 1e6);
  });
}

// --- memory. Peak RSS (GNU time's %M = VmHWM, KiB) counts the executable's file-backed pages, and how many of those a
// run maps depends on how the file sits in the page cache (bench/README.md "Memory"): so also the peak private memory
// (RssAnon, sampled every 1 ms: -version lives ~40 ms), and both again for copies of the two executables in the
// page-cache state they have on a VM after boot (bench/memory.ts coldCopy: the first run reads them from disk).
function peakRss(argv) {
  const xs = [];
  for (let i = 0; i < 5; i++) {
    const r = spawnSync('/usr/bin/time', ['-f', '%M', ...argv], { encoding: 'utf8' });
    xs.push(Number(r.stderr.trim().split('\n').pop()) / 1024);
  }
  return median(xs);
}
async function sampled(argv) {
  const rs = [];
  for (let i = 0; i < 7; i++) {
    const { code, peaks } = await measureCommand(argv, 1);
    if (code !== 0) throw new Error(`${argv.join(' ')} exited ${code}`);
    rs.push(peaks);
  }
  const m = (k) => median(rs.map((r) => r[k])) / 1024;
  return { hwm: m('hwm'), anon: m('anon'), file: m('file') };
}
const haveTime = existsSync('/usr/bin/time');

console.log(
  `\n== cold start (median of ${RUNS} runs, ms) and memory (MiB: peak RSS by GNU time, median of 5; sampled peaks, median of 7) — Node ${process.versions.node}, ${process.arch}`,
);
console.log('variant                            start ms  ×base   RSS(%M) ×base   private ×base   file-backed');
const base = median(times[0]);
const baseRss = haveTime ? peakRss(variants[0].argv) : NaN;
const baseMem = await sampled(variants[0].argv);
for (const [k, v] of variants.entries()) {
  const m = median(times[k]);
  const rss = k === 0 ? baseRss : haveTime ? peakRss(v.argv) : NaN;
  const mem = k === 0 ? baseMem : await sampled(v.argv);
  console.log(
    `${v.name.padEnd(34)} ${fmt(m).padStart(8)} ${fmt(m / base, 2).padStart(6)} ${fmt(rss).padStart(9)} ${fmt(rss / baseRss, 2).padStart(6)}` +
      ` ${fmt(mem.anon).padStart(9)} ${fmt(mem.anon / baseMem.anon, 2).padStart(5)} ${fmt(mem.file).padStart(11)}`,
  );
}
if (!haveTime) console.log('(peak RSS needs /usr/bin/time: apt-get install time)');

const tmp = mkdtempSync(join(tmpdir(), 'waagent-bench-cold-'));
try {
  const coldNode = coldCopy(NODE, join(tmp, 'node'));
  const coldAgent = coldCopy(join(DIST, 'waagent'), join(tmp, 'waagent'));
  console.log('\n== the same, executables as on a VM after boot (copied, fsynced, evicted from the page cache: read back from disk)');
  console.log('variant                            VmHWM ×base   private ×base   file-backed');
  const nb = await sampled([coldNode, '-e', '0']);
  const ag = await sampled([coldAgent, '-version']);
  for (const [name, x] of [
    ['node -e 0 (baseline)', nb],
    ['dist/waagent -version', ag],
  ]) {
    console.log(
      `${name.padEnd(34)} ${fmt(x.hwm).padStart(5)} ${fmt(x.hwm / nb.hwm, 2).padStart(5)} ${fmt(x.anon).padStart(9)} ${fmt(x.anon / nb.anon, 2).padStart(5)} ${fmt(x.file).padStart(13)}`,
    );
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
