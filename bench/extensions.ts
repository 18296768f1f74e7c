#!/usr/bin/env node
// Extensions loop benchmark (issue 5), ours beside the Python agent (Debian's waagent 2.7.3) in the same run, each in
// a fresh namespace sandbox against the fabric emulator (bench/loop/agent-sandbox.ts), with and without an extension
// installed (bench/loop/extension-package.ts):
//  1. the real processes at Extensions.GoalStatePeriod=1 (the schema minimum): ours `dist/waagent -run-exthandlers`,
//     the Python agent `waagent -daemon` (its ExtHandler child runs the loop). Over --period-cycles cycles: requests
//     per cycle by endpoint, CPU per cycle, RSS and private memory; with the extension, the time from a new goal
//     state (new settings, POST /goal-state) to the status blob reporting it enabled, --trials times.
//     Beside them the minimal client (bench/loop/minimal-client.ts: node:http, the same goal state parsed by the same
//     XML layer, the same status JSON built and PUT): the agent's CPU per cycle over the least a loop can cost. At
//     each period of --periods (seconds; default 1 and the default Extensions.GoalStatePeriod, 6).
//  2. --cycles cycles back to back, for memory growth: ours through bench/loop/driver.ts (openExtensionsLoop in
//     process, bundled as the binary is, no wait between cycles), the Python agent with Extensions.GoalStatePeriod=0
//     (its loop then sleeps 0 s). RSS and private memory after the last cycle, and the slope of private memory.
//
//   node bench/extensions.ts [--cycles 1000] [--period-cycles 60] [--trials 5] [--agents ours,python,minimal]
//                            [--periods 1,6] [--no-growth]
//                            [--driver-flags=--max-semi-space-size=1]   (node options for ours' loop driver)
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { RecordedRequest, StatusUpload } from '../test/fabric/types.ts';
import { REPO_ROOT } from '../test/helpers/paths.ts';
import { MemoryWatch, statusMemory, MiB } from './memory.ts';
import { PYTHON_WAAGENT, startAgent, type AgentRun, type LoopAgent } from './loop/agent-sandbox.ts';
import { EXT_NAME } from './loop/extension-package.ts';
import { countByEndpoint, f, median, ratio, slope, table } from './loop/stats.ts';

type Variant = 'without' | 'with';
const VARIANTS: Variant[] = ['without', 'with'];

function fail(message: string, code = 1): never {
  console.error(`bench: ${message}`);
  process.exit(code);
}

function options() {
  let v: {
    cycles?: string;
    'period-cycles'?: string;
    trials?: string;
    agents?: string;
    'driver-flags'?: string;
    periods?: string;
    'no-growth'?: boolean;
  };
  try {
    v = parseArgs({
      options: {
        cycles: { type: 'string' },
        'period-cycles': { type: 'string' },
        trials: { type: 'string' },
        agents: { type: 'string' },
        'driver-flags': { type: 'string' },
        periods: { type: 'string' },
        'no-growth': { type: 'boolean' },
      },
      strict: true,
    }).values;
  } catch (e) {
    return fail((e as Error).message, 2);
  }
  const int = (name: string, value: string | undefined, def: number) => {
    const n = Number(value ?? def);
    if (!Number.isInteger(n) || n < 1) fail(`--${name} needs a positive whole number, not "${value}"`, 2);
    return n;
  };
  const agents = (v.agents ?? 'ours,python,minimal').split(',') as LoopAgent[];
  for (const a of agents)
    if (a !== 'ours' && a !== 'python' && a !== 'minimal') fail(`--agents takes a list of ours, python, minimal, not "${a}"`, 2);
  const periods = (v.periods ?? '1,6').split(',').map(Number);
  for (const p of periods) if (!Number.isInteger(p) || p < 1) fail(`--periods takes whole seconds of at least 1, not "${v.periods}"`, 2);
  const driverFlags = (v['driver-flags'] ?? '').split(/\s+/).filter(Boolean);
  for (const d of driverFlags) if (!d.startsWith('--')) fail(`--driver-flags takes node options (--name[=value]), not "${d}"`, 2);
  return {
    cycles: int('cycles', v.cycles, 1000),
    periodCycles: int('period-cycles', v['period-cycles'], 60),
    trials: int('trials', v.trials, 5),
    agents,
    driverFlags,
    periods,
    growth: v['no-growth'] !== true,
  };
}

/** The fields of a status blob's handler entry read here. */
interface HandlerEntry {
  handlerName?: string;
  status?: string;
  runtimeSettingsStatus?: { sequenceNumber?: number; settingsStatus?: { status?: { status?: string } } };
}

/** The handler's entry in a status blob upload, when it reports settings `seqNo` enabled with success. */
function enabledWith(u: StatusUpload, seqNo: number): boolean {
  try {
    const doc = JSON.parse(u.content) as { aggregateStatus?: { handlerAggregateStatus?: HandlerEntry[] } };
    return (doc.aggregateStatus?.handlerAggregateStatus ?? []).some(
      (h) =>
        h.handlerName === EXT_NAME &&
        h.status === 'Ready' &&
        h.runtimeSettingsStatus?.sequenceNumber === seqNo &&
        h.runtimeSettingsStatus?.settingsStatus?.status?.status === 'success',
    );
  } catch {
    return false;
  }
}

async function waitFor<T>(what: string, run: AgentRun, timeoutMs: number, check: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== null) return v;
    if (run.child.exitCode !== null || run.child.signalCode !== null)
      throw new Error(`the agent exited while waiting for ${what}:\n${run.output().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs / 1000} s:\n${run.output().slice(-3000)}`);
    await sleep(20);
  }
}

/** The agent's loop is running: a status upload (reporting the extension enabled, when there is one) arrived. */
async function loopRunning(run: AgentRun, seqNo: number | null): Promise<void> {
  await waitFor('status upload', run, 180_000, async () => {
    const ups = await run.emu.statusUploads();
    return ups.some((u) => seqNo === null || enabledWith(u, seqNo)) ? true : null;
  });
}

const isGoalStateFetch = (q: RecordedRequest) => q.service === 'wireserver' && q.method === 'GET' && /[?&]comp=goalstate/.test(q.path);

interface PeriodResult {
  agent: LoopAgent;
  variant: Variant;
  /** Extensions.GoalStatePeriod, s */
  period: number;
  cycles: number;
  seconds: number;
  requests: Map<string, number>;
  cpuSelf: number;
  cpuChildren: number;
  /** KiB at the end of the window, summed over the agent's processes */
  rss: number;
  anon: number;
  /** KiB: sum of VmHWM, and the largest RssAnon sum seen in the window */
  hwm: number;
  anonPeak: number;
  processes: number;
  /** ms: POST /goal-state → status blob reporting the new settings enabled; and the part after the fetch */
  latencies: number[];
  processing: number[];
}

async function periodRun(
  agent: LoopAgent,
  variant: Variant,
  period: number,
  opts: ReturnType<typeof options>,
  minimalClient: string,
): Promise<PeriodResult> {
  const seq0 = variant === 'with' ? 0 : null;
  const argv = { ours: ['-run-exthandlers'], python: ['-daemon'], minimal: [String(period * 1000)] }[agent];
  const run = await startAgent({
    agent,
    argv,
    config: { 'Extensions.GoalStatePeriod': String(period), 'Extensions.InitialGoalStatePeriod': String(period) },
    seqNo: seq0,
    minimalClient,
  });
  try {
    await loopRunning(run, seq0);
    const latencies: number[] = [];
    const processing: number[] = [];
    if (variant === 'with' && agent !== 'minimal' && period === opts.periods[0]) {
      for (let t = 1; t <= opts.trials; t++) {
        await sleep(Math.random() * 1000 * period); // a random phase against the period
        const before = (await run.emu.statusUploads()).length;
        const t0 = Date.now();
        await run.newGoalState(t);
        const inc = run.incarnation;
        const up = await waitFor(
          `status blob with settings ${t} enabled`,
          run,
          60_000,
          async () => (await run.emu.statusUploads()).slice(before).find((u) => enabledWith(u, t)) ?? null,
        );
        latencies.push(Date.parse(up.time) - t0);
        const fetched = (await run.emu.requests()).find(
          (q) => Date.parse(q.time) >= t0 && /type=extensionsConfig/.test(q.path) && q.path.includes(`incarnation=${inc}`),
        );
        if (fetched) processing.push(Date.parse(up.time) - Date.parse(fetched.time));
      }
    }
    await sleep(2000); // let the last goal state settle
    const reqs0 = (await run.emu.requests()).length;
    const cpu0 = run.cpu();
    const t0 = Date.now();
    const watch = new MemoryWatch({ pids: run.agentPids, intervalMs: 20 }).start();
    await sleep(opts.periodCycles * period * 1000);
    watch.sample();
    const peaks = watch.stop();
    const cpu1 = run.cpu();
    const seconds = (Date.now() - t0) / 1000;
    const window = (await run.emu.requests()).slice(reqs0);
    const cycles = window.filter(isGoalStateFetch).length;
    const now = run.agentPids().map(statusMemory);
    return {
      agent,
      variant,
      period,
      cycles,
      seconds,
      requests: countByEndpoint(window),
      cpuSelf: cpu1.self - cpu0.self,
      cpuChildren: cpu1.children - cpu0.children,
      rss: now.reduce((a, m) => a + (m?.vmRss ?? 0), 0),
      anon: now.reduce((a, m) => a + (m?.rssAnon ?? 0), 0),
      hwm: peaks.hwm,
      anonPeak: peaks.anon,
      processes: peaks.processes,
      latencies,
      processing,
    };
  } finally {
    await run.close();
  }
}

interface GrowthPoint {
  cycle: number;
  rss: number;
  anon: number;
  heapKiB?: number;
  heapTotalKiB?: number;
  externalKiB?: number;
}

interface GrowthResult {
  agent: LoopAgent;
  variant: Variant;
  cycles: number;
  seconds: number;
  /** requests the emulator saw per cycle over the run */
  reqPerCycle: number;
  points: GrowthPoint[];
}

/** Bundles bench/loop/<entry> as build.mjs bundles the agent (esbuild, CJS, minified, node24). */
async function bundleDriver(dir: string, entry: string, outName: string): Promise<string> {
  const esbuild = await import('esbuild');
  const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const out = join(dir, outName);
  await esbuild.build({
    entryPoints: [join(REPO_ROOT, 'bench', 'loop', entry)],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    minify: true,
    legalComments: 'none',
    define: { __WAAGENT_TS_VERSION__: JSON.stringify(version) },
    logLevel: 'warning',
    outfile: out,
  });
  writeFileSync(join(dir, 'package.json'), '{ "type": "commonjs" }\n');
  return out;
}

async function growthRun(agent: LoopAgent, variant: Variant, cycles: number, driver: string, driverFlags: string[]): Promise<GrowthResult> {
  const seq0 = variant === 'with' ? 0 : null;
  const every = Math.max(1, Math.floor(cycles / 20));
  if (agent === 'ours') {
    // the sandbox, emulator and configuration as for the agent, whose own process here only prints its version
    const run = await startAgent({ agent, argv: ['-version'], seqNo: seq0 });
    // the driver replaces the agent: started inside the same prepared sandbox, on the same configuration
    const copy = join(run.sb.dir, 'loop-driver.cjs');
    copyFileSync(driver, copy);
    writeFileSync(join(run.sb.dir, 'package.json'), '{ "type": "commonjs" }\n');
    try {
      const t0 = Date.now();
      const r = await run.sb.exec(
        [process.execPath, '--expose-gc', ...driverFlags, copy, '/etc/waagent.conf', String(cycles), String(every)],
        { cwd: '/', timeoutMs: 3_600_000 },
      );
      const seconds = (Date.now() - t0) / 1000;
      if (r.code !== 0) throw new Error(`the loop driver failed: ${r.stderr.trim()}`);
      const lines = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as GrowthPoint & { failed: number });
      const last = lines[lines.length - 1]!;
      if (last.failed > 0) throw new Error(`${last.failed} of ${cycles} driver cycles failed`);
      const reqPerCycle = (await run.emu.requests()).length / cycles;
      return { agent, variant, cycles, seconds, reqPerCycle, points: lines };
    } finally {
      await run.close();
    }
  }
  const run = await startAgent({
    agent,
    argv: ['-daemon'],
    config: { 'Extensions.GoalStatePeriod': '0', 'Extensions.InitialGoalStatePeriod': '0' },
    seqNo: seq0,
  });
  try {
    await loopRunning(run, seq0);
    const before = await run.emu.requests();
    const start = before.filter(isGoalStateFetch).length;
    const t0 = Date.now();
    const points: GrowthPoint[] = [];
    let next = every;
    for (;;) {
      const done = (await run.emu.requests()).filter(isGoalStateFetch).length - start;
      if (done >= next || done >= cycles) {
        const ms = run.agentPids().map(statusMemory);
        points.push({ cycle: done, rss: ms.reduce((a, m) => a + (m?.vmRss ?? 0), 0), anon: ms.reduce((a, m) => a + (m?.rssAnon ?? 0), 0) });
        next = done + every;
        if (done >= cycles) break;
      }
      if (run.child.exitCode !== null) throw new Error(`the Python agent exited:\n${run.output().slice(-3000)}`);
      if (Date.now() - t0 > 3_600_000) throw new Error(`${cycles} Python cycles took over an hour`);
      await sleep(200);
    }
    const seconds = (Date.now() - t0) / 1000;
    const window = (await run.emu.requests()).slice(before.length);
    return { agent, variant, cycles, seconds, reqPerCycle: window.length / window.filter(isGoalStateFetch).length, points };
  } finally {
    await run.close();
  }
}

async function main(): Promise<void> {
  const opts = options();
  if (!process.versions.node.startsWith('24.')) fail('run it with the pinned Node 24: ./node_modules/.bin/node bench/extensions.ts', 2);
  if (process.getuid?.() !== 0) fail('the benchmark needs root (it creates namespaces and mounts)');
  const notes: string[] = [];
  let agents = opts.agents;
  if (agents.includes('python') && !existsSync(PYTHON_WAAGENT)) {
    notes.push(`the Python agent (${PYTHON_WAAGENT}) is not installed (bash scripts/bootstrap.sh --bench): ratios are against ours`);
    agents = agents.filter((a) => a !== 'python');
  }
  const tmp = mkdtempSync(join(tmpdir(), 'waagent-bench-ext-'));
  process.once('exit', () => rmSync(tmp, { recursive: true, force: true }));
  const driver = await bundleDriver(tmp, 'driver.ts', 'loop-driver.cjs');
  const minimalClient = await bundleDriver(tmp, 'minimal-client.ts', 'minimal-client.cjs');

  const period: PeriodResult[] = [];
  const growth: GrowthResult[] = [];
  for (const variant of VARIANTS) {
    for (const agent of agents) {
      for (const p of opts.periods) {
        process.stderr.write(`period ${p} s, ${opts.periodCycles} cycles: ${agent}, ${variant} extension\n`);
        period.push(await periodRun(agent, variant, p, opts, minimalClient));
      }
      if (!opts.growth || agent === 'minimal') continue;
      process.stderr.write(`${opts.cycles} cycles back to back: ${agent}, ${variant} extension\n`);
      growth.push(await growthRun(agent, variant, opts.cycles, driver, opts.driverFlags));
    }
  }
  const baseAgent: LoopAgent = agents.includes('python') ? 'python' : 'ours';
  const base = <T extends { agent: LoopAgent; variant: Variant }>(xs: T[], v: Variant) =>
    xs.find((x) => x.agent === baseAgent && x.variant === v)!;
  const basePeriod = (r: PeriodResult, a: LoopAgent = baseAgent) =>
    period.find((x) => x.agent === a && x.variant === r.variant && x.period === r.period);
  const label = (a: LoopAgent) => ({ ours: 'ours', python: 'Python', minimal: 'minimal' })[a];
  const bl = label(baseAgent);

  console.log(
    `\n== extensions loop at Extensions.GoalStatePeriod=${opts.periods.join(', ')} s, ${opts.periodCycles} periods per run (cycles = goal-state fetches); ratios ×${bl} and ×minimal (same variant and period, same run), ${process.arch}`,
  );
  const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  console.log(
    table(
      [
        'agent / extension / period',
        'cycles',
        'req/cycle',
        `×${bl}`,
        'CPU ms/cycle',
        `×${bl}`,
        '×minimal',
        '+children ms',
        'RSS MiB',
        `×${bl}`,
        'peak RSS',
        'private MiB',
        `×${bl}`,
        'peak private',
        'procs',
      ],
      period.map((r) => {
        const b = basePeriod(r) ?? r;
        const m = basePeriod(r, 'minimal');
        const rpc = total(r.requests) / r.cycles;
        const cpc = (r.cpuSelf * 1000) / r.cycles;
        return [
          `${label(r.agent)} / ${r.variant} / ${r.period} s`,
          String(r.cycles),
          f(rpc, 2),
          ratio(rpc, total(b.requests) / b.cycles),
          f(cpc, 2),
          ratio(cpc, (b.cpuSelf * 1000) / b.cycles),
          m ? ratio(cpc, (m.cpuSelf * 1000) / m.cycles) : '-',
          f((r.cpuChildren * 1000) / r.cycles, 2),
          MiB(r.rss),
          ratio(r.rss, b.rss),
          MiB(r.hwm),
          MiB(r.anon),
          ratio(r.anon, b.anon),
          MiB(r.anonPeak),
          String(r.processes),
        ];
      }),
    ),
  );
  console.log('\nrequests per cycle by endpoint:');
  const endpoints = [...new Set(period.flatMap((r) => [...r.requests.keys()]))].sort();
  console.log(
    table(
      ['endpoint', ...period.map((r) => `${label(r.agent)}/${r.variant}/${r.period}s`)],
      endpoints.map((e) => [e, ...period.map((r) => f((r.requests.get(e) ?? 0) / r.cycles, 2))]),
    ),
  );

  const lat = period.filter((r) => r.latencies.length);
  if (lat.length) {
    console.log(
      `\n== new goal state (new settings) → status blob reporting them enabled, ms, ${opts.trials} trials at a random phase of the ${opts.periods[0]} s period`,
    );
    const b = lat.find((r) => r.agent === baseAgent) ?? lat[0]!;
    console.log(
      table(
        ['agent', 'median', `×${bl}`, 'min', 'max', 'after the fetch (median)', `×${bl}`],
        lat.map((r) => [
          label(r.agent),
          f(median(r.latencies), 0),
          ratio(median(r.latencies), median(b.latencies)),
          f(Math.min(...r.latencies), 0),
          f(Math.max(...r.latencies), 0),
          f(median(r.processing), 0),
          ratio(median(r.processing), median(b.processing)),
        ]),
      ),
    );
  }

  if (growth.length)
    console.log(
      `\n== ${opts.cycles} cycles back to back (ours: the loop driver, in process; Python: GoalStatePeriod=0); memory after the last cycle; ratios ×${bl}`,
    );
  if (growth.length)
    console.log(
      table(
        [
          'agent / extension',
          'cycles/s',
          'req/cycle',
          'RSS MiB',
          `×${bl}`,
          'private MiB',
          `×${bl}`,
          'private first→last',
          'slope KiB/1000 cycles, last half',
          'heap-after-GC slope',
        ],
        growth.map((g) => {
          const b = base(growth, g.variant);
          const last = g.points[g.points.length - 1]!;
          const bLast = b.points[b.points.length - 1]!;
          const steady = g.points.filter((p) => p.cycle >= g.cycles / 2);
          const s = slope(steady.map((p) => ({ x: p.cycle, y: p.anon }))) * 1000;
          const h = g.points[0]?.heapKiB === undefined ? NaN : slope(steady.map((p) => ({ x: p.cycle, y: p.heapKiB! }))) * 1000;
          return [
            `${label(g.agent)} / ${g.variant}`,
            f(g.cycles / g.seconds, 0),
            f(g.reqPerCycle, 2),
            MiB(last.rss),
            ratio(last.rss, bLast.rss),
            MiB(last.anon),
            ratio(last.anon, bLast.anon),
            `${MiB(g.points[0]!.anon)}→${MiB(last.anon)}`,
            f(s, 0),
            f(h, 0),
          ];
        }),
      ),
    );
  for (const g of growth) {
    console.log(`  ${label(g.agent)}/${g.variant} private MiB by cycle: ${g.points.map((p) => `${p.cycle}:${MiB(p.anon)}`).join(' ')}`);
    if (g.points[0]?.heapTotalKiB !== undefined) {
      console.log(
        `    V8 heap used after GC / heap total / external MiB by cycle: ${g.points.map((p) => `${p.cycle}:${MiB(p.heapKiB!)}/${MiB(p.heapTotalKiB!)}/${MiB(p.externalKiB!)}`).join(' ')}`,
      );
    }
  }
  notes.push(
    "RSS = VmRSS summed over the agent's own processes (ours: one; Python: daemon + ExtHandler), extension commands excluded; private = RssAnon likewise;" +
      ' peak RSS = sum of VmHWM. ours runs a copy of dist/waagent in the page-cache state of a VM after boot (bench/README.md "Memory")',
    'ours in the back-to-back runs is the bundled loop under plain node (no SEA code cache: ~5 MiB more private than the binary for the same code);' +
      ' slopes are least squares over the last half of the cycles',
    "not compared: the Python agent's IMDS calls to 169.254.169.254 (blackholed in the sandbox: they time out unseen; its fallback to the WireServer address is counted) and" +
      ' its telemetry/monitor threads, which run on their own timers, not per cycle',
  );
  for (const n of notes) console.log(`note: ${n}`);
}

await main();
