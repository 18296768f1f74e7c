#!/usr/bin/env node
// Idle daemon benchmark (issue 6): `waagent -daemon` of ours and of the Python agent (Debian's waagent 2.7.3: a daemon
// and its ExtHandler child) side by side, each in its own namespace sandbox against its own fabric emulator
// (bench/loop/agent-sandbox.ts), at the default periods, with a goal state that asks for no extension. Both run at the
// same time, so machine noise hits them alike. After each agent's loop is up (its first status upload), a window of
// --seconds is measured: memory (sampled every 20 ms), CPU, requests to each endpoint, bytes written to disk
// (/proc/PID/io write_bytes) and the growth of Lib.Dir and the logs — printed per hour, EXTRAPOLATED from the window.
// The hourly log collection (first 5 min after start, PUT /vmAgentLog) is kept out of the window and reported apart:
// the window starts once it is over (or --log-wait seconds passed without one), so it is counted once per hour, not
// once per window.
//
//   node bench/daemon.ts [--seconds 300] [--agents ours,python] [--log-wait 360]
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { MemoryWatch, MiB, statusMemory } from './memory.ts';
import { PYTHON_WAAGENT, startAgent, type AgentRun, type LoopAgent } from './loop/agent-sandbox.ts';
import { countByEndpoint, f, ratio, table } from './loop/stats.ts';

function fail(message: string, code = 1): never {
  console.error(`bench: ${message}`);
  process.exit(code);
}

function options(): { seconds: number; agents: LoopAgent[]; logWait: number } {
  let v: { seconds?: string; agents?: string; 'log-wait'?: string };
  try {
    v = parseArgs({
      options: { seconds: { type: 'string' }, agents: { type: 'string' }, 'log-wait': { type: 'string' } },
      strict: true,
    }).values;
  } catch (e) {
    return fail((e as Error).message, 2);
  }
  const seconds = Number(v.seconds ?? 300);
  if (!(seconds >= 10)) fail(`--seconds needs a number of at least 10, not "${v.seconds}"`, 2);
  const agents = (v.agents ?? 'ours,python').split(',') as LoopAgent[];
  for (const a of agents) if (a !== 'ours' && a !== 'python') fail(`--agents takes a list of ours, python, not "${a}"`, 2);
  const logWait = Number(v['log-wait'] ?? 360);
  if (!(logWait >= 0)) fail(`--log-wait needs a number of seconds, not "${v['log-wait']}"`, 2);
  return { seconds, agents, logWait };
}

interface DaemonResult {
  agent: LoopAgent;
  seconds: number;
  processes: number;
  /** KiB at the end of the window, summed over the agent's processes; peaks over the window */
  rss: number;
  anon: number;
  hwm: number;
  anonPeak: number;
  cpuSelf: number;
  cpuChildren: number;
  requests: Map<string, number>;
  writeBytes: number;
  libGrowth: number;
  logGrowth: number;
  /** The log collection before the window: CPU-s beyond the idle rate, or null when none came within --log-wait. */
  logCollectionCpu: number | null;
}

const LOG_UPLOAD = /\/vmAgentLog/;

const LOGS = ['/var/log/waagent.log', '/var/log/azure'];

async function logBytes(run: AgentRun): Promise<number> {
  let n = 0;
  for (const p of LOGS) n += await run.sizeOf(p);
  return n;
}

async function measure(agent: LoopAgent, seconds: number, logWait: number): Promise<DaemonResult> {
  const run = await startAgent({ agent, argv: ['-daemon'], seqNo: null });
  try {
    const deadline = Date.now() + 180_000;
    while ((await run.emu.statusUploads()).length === 0) {
      if (run.child.exitCode !== null) throw new Error(`${agent} exited before its loop ran:\n${run.output().slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`${agent}: no status upload within 180 s:\n${run.output().slice(-3000)}`);
      await sleep(100);
    }
    await sleep(2000);
    // the first log collection, apart from the window: wait for its upload (or --log-wait), then let it settle
    const pre = { t: Date.now(), cpu: run.cpu() };
    const logDeadline = pre.t + logWait * 1000;
    let collected = false;
    while (Date.now() < logDeadline && !collected) {
      collected = (await run.emu.requests()).some((q) => LOG_UPLOAD.test(q.path));
      if (!collected) await sleep(1000);
    }
    if (collected) await sleep(5000);
    const preEnd = { t: Date.now(), cpu: run.cpu() };
    const reqs0 = (await run.emu.requests()).length;
    const cpu0 = run.cpu();
    const wb0 = run.writeBytes();
    const lib0 = await run.sizeOf('/var/lib/waagent');
    const log0 = await logBytes(run);
    const t0 = Date.now();
    const watch = new MemoryWatch({ pids: run.agentPids, intervalMs: 20 }).start();
    await sleep(seconds * 1000);
    watch.sample();
    const peaks = watch.stop();
    const cpu1 = run.cpu();
    const wb1 = run.writeBytes();
    const elapsed = (Date.now() - t0) / 1000;
    const idleRate = (cpu1.self + cpu1.children - cpu0.self - cpu0.children) / elapsed;
    const preCpu = preEnd.cpu.self + preEnd.cpu.children - pre.cpu.self - pre.cpu.children;
    const now = run.agentPids().map(statusMemory);
    if (run.child.exitCode !== null) throw new Error(`${agent} exited during the window:\n${run.output().slice(-3000)}`);
    return {
      agent,
      seconds: elapsed,
      processes: peaks.processes,
      rss: now.reduce((a, m) => a + (m?.vmRss ?? 0), 0),
      anon: now.reduce((a, m) => a + (m?.rssAnon ?? 0), 0),
      hwm: peaks.hwm,
      anonPeak: peaks.anon,
      cpuSelf: cpu1.self - cpu0.self,
      cpuChildren: cpu1.children - cpu0.children,
      requests: countByEndpoint((await run.emu.requests()).slice(reqs0)),
      writeBytes: wb1 - wb0,
      libGrowth: (await run.sizeOf('/var/lib/waagent')) - lib0,
      logGrowth: (await logBytes(run)) - log0,
      logCollectionCpu: collected ? Math.max(0, preCpu - (idleRate * (preEnd.t - pre.t)) / 1000) : null,
    };
  } finally {
    await run.close();
  }
}

async function main(): Promise<void> {
  const opts = options();
  if (!process.versions.node.startsWith('24.')) fail('run it with the pinned Node 24: ./node_modules/.bin/node bench/daemon.ts', 2);
  if (process.getuid?.() !== 0) fail('the benchmark needs root (it creates namespaces and mounts)');
  let agents = opts.agents;
  const notes: string[] = [];
  if (agents.includes('python') && !existsSync(PYTHON_WAAGENT)) {
    notes.push(
      `the Python agent (${PYTHON_WAAGENT}) is not installed (bash scripts/bootstrap.sh --bench): no baseline, ratios are against ours`,
    );
    agents = agents.filter((a) => a !== 'python');
  }
  process.stderr.write(`idle daemons, ${opts.seconds} s window each, side by side: ${agents.join(', ')}\n`);
  process.stderr.write(`(first the log collection, up to ${opts.logWait} s after the loop is up, kept out of the window)\n`);
  const results = await Promise.all(agents.map((a) => measure(a, opts.seconds, opts.logWait)));
  const baseAgent: LoopAgent = agents.includes('python') ? 'python' : 'ours';
  const b = results.find((r) => r.agent === baseAgent)!;
  const label = (a: LoopAgent) => (a === 'ours' ? 'ours (1 process)' : 'Python (daemon + ExtHandler)');
  const bl = baseAgent === 'python' ? 'Python' : 'ours';
  const perHour = (r: DaemonResult, x: number) => (x * 3600) / r.seconds;
  const total = (m: Map<string, number>) => [...m.values()].reduce((a, c) => a + c, 0);

  console.log(
    `\n== idle -daemon at the default periods: measured over ${opts.seconds} s, "/h" EXTRAPOLATED to one hour; ratios ×${bl} (same run), ${process.arch}`,
  );
  console.log(
    table(
      [
        'agent',
        'RSS MiB',
        `×${bl}`,
        'peak RSS',
        'private MiB',
        `×${bl}`,
        'peak private',
        'CPU s/h',
        `×${bl}`,
        '+children s/h',
        'requests/h',
        `×${bl}`,
        'write_bytes KiB/h',
        `×${bl}`,
        'Lib.Dir KiB/h',
        'logs KiB/h',
      ],
      results.map((r) => [
        label(r.agent),
        MiB(r.rss),
        ratio(r.rss, b.rss),
        MiB(r.hwm),
        MiB(r.anon),
        ratio(r.anon, b.anon),
        MiB(r.anonPeak),
        f(perHour(r, r.cpuSelf), 2),
        ratio(perHour(r, r.cpuSelf), perHour(b, b.cpuSelf)),
        f(perHour(r, r.cpuChildren), 2),
        f(perHour(r, total(r.requests)), 0),
        ratio(perHour(r, total(r.requests)), perHour(b, total(b.requests))),
        f(perHour(r, r.writeBytes) / 1024, 0),
        ratio(perHour(r, r.writeBytes), perHour(b, b.writeBytes)),
        f(perHour(r, r.libGrowth) / 1024, 1),
        f(perHour(r, r.logGrowth) / 1024, 1),
      ]),
    ),
  );
  console.log('\nlog collection (hourly by default, Logs.CollectPeriod), measured before the window and NOT in the figures above:');
  console.log(
    table(
      ['agent', 'CPU s per collection', 'CPU s/h idle + 1 collection', `×${bl}`],
      results.map((r) => {
        const withLogs = (x: DaemonResult) => perHour(x, x.cpuSelf + x.cpuChildren) + (x.logCollectionCpu ?? 0);
        return [
          label(r.agent),
          r.logCollectionCpu === null ? 'none seen' : f(r.logCollectionCpu, 2),
          f(withLogs(r), 2),
          ratio(withLogs(r), withLogs(b)),
        ];
      }),
    ),
  );
  console.log('\nrequests per hour by endpoint (extrapolated):');
  const endpoints = [...new Set(results.flatMap((r) => [...r.requests.keys()]))].sort();
  console.log(
    table(
      ['endpoint', ...results.map((r) => (r.agent === 'ours' ? 'ours' : 'Python'))],
      endpoints.map((e) => [e, ...results.map((r) => f(perHour(r, r.requests.get(e) ?? 0), 0))]),
    ),
  );
  notes.push(
    "RSS = VmRSS at the end, private = RssAnon at the end, summed over the agent's own processes; peak = VmHWM sum and largest RssAnon sum in the window." +
      ' Ours runs a copy of dist/waagent in the page-cache state of a VM after boot (bench/README.md "Memory")',
    'write_bytes counts what the agent processes sent to the block layer (page-cache writeback they caused), not their children;' +
      ' Lib.Dir and logs = growth of du -sb over the window',
    "configuration for both: Debian's packaged waagent.conf with provisioning disabled, no resource disk, no SCSI timeouts (bench/loop/agent-sandbox.ts);" +
      " the Python agent's IMDS requests to 169.254.169.254 go to a blackhole (not counted; its fallback to the WireServer address is), its telemetry goes to the emulator",
  );
  for (const n of notes) console.log(`note: ${n}`);
}

await main();
