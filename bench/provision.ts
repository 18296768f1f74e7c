#!/usr/bin/env node
// Provisioning benchmark (issue 4): the same ovf-env.xml provisioned by the Python agent (Debian's waagent 2.7.3,
// `waagent -daemon`) and by ours (`dist/waagent -provision`), each run in a fresh namespace sandbox against the
// fabric emulator, interleaved so machine noise hits all alike. Measured: process start → the emulator receiving
// Ready, and peak RSS; printed as medians of N runs with the Python/ours ratios of this one run.
//
//   node bench/provision.ts [--runs N] [--agents python,python-stubbed,ours] [--timeout SECONDS] [--faults]
//
// --faults: the recovery scenario instead (bench/provision/faults.ts): the first request of each kind answered with a
// fault; measured from the first request to Ready, with the sum of the retry waits ours chose, each checked against
// the documented back-off (docs/contract.md §4). An agent not Ready within --timeout (default 180 s here) is reported so.
//
// Needs root (namespaces, mounts) and the Python agent (`bash scripts/bootstrap.sh --bench`). Setup details:
// bench/python-agent/prepare.sh; what is measured and how: bench/provision/measure.ts.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchOvfEnv } from './provision/ovf-env.ts';
import { isOurs, provisionOnce, PYTHON_WAAGENT, type AgentKind, type RunInput, type RunResult } from './provision/measure.ts';
import { WAAGENT } from '../test/sandbox/sandbox.ts';
import { LABELS, median, provisionTable } from './provision/table.ts';
import { documentedMaxWait, FAULT_SCENARIO, FAULT_SUMMARY, type RetryWait } from './provision/faults.ts';

const ALL: AgentKind[] = ['python', 'python-stubbed', 'ours', 'ours-before'];
const DEFAULT_AGENTS: AgentKind[] = ['python', 'python-stubbed', 'ours'];

function fail(message: string, code = 1): never {
  console.error(`bench: ${message}`);
  process.exit(code);
}

function options(): { runs: number; agents: AgentKind[]; timeoutMs: number; faults: boolean } {
  let v: { runs?: string; agents?: string; timeout?: string; faults?: boolean };
  try {
    v = parseArgs({
      options: { runs: { type: 'string' }, agents: { type: 'string' }, timeout: { type: 'string' }, faults: { type: 'boolean' } },
      strict: true,
    }).values;
  } catch (e) {
    return fail((e as Error).message, 2);
  }
  const runs = Number(v.runs ?? process.env.BENCH_RUNS ?? 5);
  if (!Number.isInteger(runs) || runs < 1) fail(`--runs needs a positive whole number, not "${v.runs}"`, 2);
  const agents = (v.agents ?? DEFAULT_AGENTS.join(',')).split(',') as AgentKind[];
  for (const a of agents) if (!ALL.includes(a)) fail(`--agents takes a list of ${ALL.join(', ')}, not "${a}"`, 2);
  const timeout = Number(v.timeout ?? (v.faults ? 180 : 120));
  if (!(timeout > 0)) fail(`--timeout needs a number of seconds, not "${v.timeout}"`, 2);
  return { runs, agents, timeoutMs: timeout * 1000, faults: v.faults === true };
}

function tool(argv: string[]): void {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) fail(`${argv.join(' ')} failed: ${r.stderr || r.error?.message}`);
}

/** The ovf-env.xml, and the UDF image holding it (genisoimage -udf, as test/e2e makes media), in a temp dir. */
function makeMedia(dir: string): RunInput {
  tool(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'bench@provision', '-f', join(dir, 'user_key')]);
  const ovfEnv = join(dir, 'ovf-env.xml');
  writeFileSync(
    ovfEnv,
    benchOvfEnv({
      hostName: 'bench-vm',
      userName: 'azureuser',
      password: 'Bench-Pr0vision!',
      publicKey: readFileSync(join(dir, 'user_key.pub'), 'utf8').trim(),
      customData: Buffer.from('#!/bin/sh\necho provisioned\n').toString('base64'),
    }),
  );
  const media = join(dir, 'media');
  mkdirSync(media);
  writeFileSync(join(media, 'ovf-env.xml'), readFileSync(ovfEnv));
  const udfImage = join(dir, 'ovf-env.udf');
  tool(['genisoimage', '-quiet', '-udf', '-o', udfImage, media]);
  return { ovfEnv, udfImage, timeoutMs: 0 };
}

function agentHwm(runs: readonly RunResult[]): string {
  const xs = runs.map((r) => r.hwmKiB).filter((x): x is number => x !== null);
  return xs.length ? (median(xs) / 1024).toFixed(1) : '-';
}

function check(r: RunResult): void {
  if (r.outcome === 'Ready' && r.ms !== null) return;
  console.error(`\nbench: ${r.agent} did not provision: ${r.outcome}\n${r.log ?? ''}`);
  process.exit(1);
}

async function main(): Promise<void> {
  const opts = options();
  if (!process.versions.node.startsWith('24.')) fail('run it with the pinned Node 24: ./node_modules/.bin/node bench/provision.ts', 2);
  if (process.getuid?.() !== 0) fail('the benchmark needs root (it creates namespaces and mounts)');
  for (const t of ['/usr/bin/time', '/usr/bin/genisoimage']) if (!existsSync(t)) fail(`${t} is missing: run "bash scripts/bootstrap.sh"`);
  let agents = opts.agents;
  if (agents.some((a) => !isOurs(a)) && !existsSync(PYTHON_WAAGENT)) {
    fail(`the Python agent (${PYTHON_WAAGENT}) is not installed: run "bash scripts/bootstrap.sh --bench"`);
  }
  const notes: string[] = [];
  if (agents.includes('ours') && !existsSync(process.env.BENCH_WAAGENT ?? WAAGENT)) {
    notes.push('dist/waagent is missing (npm run build): our agent was not measured');
    agents = agents.filter((a) => a !== 'ours');
  }

  const dir = mkdtempSync(join(tmpdir(), 'waagent-bench-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const input = { ...makeMedia(dir), timeoutMs: opts.timeoutMs };
  if (opts.faults) return faultRuns(agents, input, opts.runs, notes);

  // one unmeasured run first (page cache, and whether our binary has -provision yet); the packaged Python agent
  // runs the same code as the stubbed one, which warms both
  for (const a of agents.filter((x) => x !== 'python' || !agents.includes('python-stubbed'))) {
    process.stderr.write(`warm-up: ${a}\n`);
    const r = await provisionOnce(a, input);
    if (a === 'ours' && r.notImplemented) {
      notes.push('dist/waagent answers "-provision is not implemented yet": our agent was not measured');
      agents = agents.filter((x) => x !== 'ours');
      continue;
    }
    check(r);
  }

  const results = new Map<AgentKind, RunResult[]>(agents.map((a) => [a, []]));
  for (let i = 0; i < opts.runs; i++) {
    for (const a of agents) {
      process.stderr.write(`run ${i + 1}/${opts.runs}: ${a}\n`);
      const r = await provisionOnce(a, input);
      check(r);
      results.get(a)!.push(r);
    }
  }

  console.log(`\n== provisioning: process start → Ready received by the emulator; peak RSS — median of ${opts.runs} runs, ${process.arch}`);
  console.log(provisionTable(results));
  for (const kind of ['ours', 'ours-before'] as const) {
    const oursRuns = (results.get(kind) ?? []).filter((r) => r.phases);
    if (!oursRuns.length) continue;
    const names = [...new Set(oursRuns.flatMap((r) => Object.keys(r.phases!)))];
    console.log(
      `\n${kind}, when each phase ended (ms since the process started; the chains run side by side), median of ${oursRuns.length}:`,
    );
    console.log(
      `  ${names.map((n) => `${n} ${median(oursRuns.map((r) => r.phases![n]).filter((x): x is number => x !== undefined)).toFixed(0)}`).join(', ')}`,
    );
  }
  const py = results.get('python');
  const stub = results.get('python-stubbed');
  if (py && stub) {
    const extra = median(py.map((r) => r.ms!)) - median(stub.map((r) => r.ms!));
    notes.push(
      `the packaged Python agent spends ${(extra / 1000).toFixed(1)} s more than with ifup/ifdown stubbed: no ifupdown, so its` +
        ' hostname publishing fails three times with 5 s sleeps (docs/protocol.md §4.6)',
    );
  }
  notes.push(
    'peak RSS = GNU time %M: the largest of the agent process and the commands it waited for (useradd, ssh-keygen, ...);' +
      ` the agent process alone (VmHWM sampled every 20 ms): ${[...results].map(([a, rs]) => `${a} ${agentHwm(rs)}`).join(', ')} MiB;` +
      " private = the largest sum of RssAnon over the agent's own processes (sampled every 20 ms), without the page cache" +
      ' of its executable that peak RSS counts (bench/README.md "Memory")',
  );
  for (const n of notes) console.log(`note: ${n}`);
}

/** The recovery scenario: each agent `runs` times with the faults of bench/provision/faults.ts; a table of what came of it. */
async function faultRuns(agents: AgentKind[], input: RunInput, runs: number, notes: string[]): Promise<void> {
  const results = new Map<AgentKind, RunResult[]>(agents.map((a) => [a, []]));
  for (let i = 0; i < runs; i++) {
    for (const a of agents) {
      process.stderr.write(`faults, run ${i + 1}/${runs}: ${a}\n`);
      const r = await provisionOnce(a, { ...input, faults: FAULT_SCENARIO });
      if (isOurs(a) && r.outcome !== 'Ready') check(r); // ours must recover; the table says how the others did
      results.get(a)!.push(r);
    }
  }
  console.log(`\n== recovery: ${FAULT_SUMMARY}; first request → Ready — median of ${runs} runs, ${process.arch}`);
  console.log(
    'agent                                   first request → Ready ms   start → Ready ms   Ready   retry waits (sum ms)   longer than documented',
  );
  for (const [a, rs] of results) {
    const ready = rs.filter((r) => r.outcome === 'Ready' && r.firstRequestMs !== null && r.firstRequestMs !== undefined);
    const cap = `not Ready in ${input.timeoutMs / 1000} s`;
    const firstMs = ready.length ? median(ready.map((r) => r.firstRequestMs!)).toFixed(0) : cap;
    const startMs = ready.length ? median(ready.map((r) => r.ms!)).toFixed(0) : '-';
    // none logged: an agent (or an older build of ours) that does not log its waits
    const waits = rs.map((r) => r.retryWaits).filter((w) => w !== undefined && w.length > 0) as RetryWait[][];
    const sums = waits.map((w) => w.reduce((x, y) => x + y.ms, 0));
    const over = waits.flat().filter((w) => w.ms > documentedMaxWait(w.url, w.retry));
    console.log(
      `${LABELS[a].padEnd(38)} ${firstMs.padStart(25)} ${startMs.padStart(18)} ${`${ready.length}/${rs.length}`.padStart(7)}` +
        ` ${(sums.length ? median(sums).toFixed(0) : '-').padStart(22)} ${(waits.length ? String(over.length) : '-').padStart(24)}`,
    );
    for (const w of over)
      console.log(
        `  over the documented back-off: retry ${w.retry} of ${w.url} waited ${w.ms} ms (at most ${documentedMaxWait(w.url, w.retry)})`,
      );
  }
  const oursWaits = (results.get('ours') ?? [])[0]?.retryWaits;
  if (oursWaits?.length) {
    console.log(
      `\nours, the waits of the first run: ${oursWaits.map((w) => `${/(?:type|comp)=(\w+)(?!.*(?:type|comp)=)/.exec(w.url)?.[1] ?? w.url} #${w.retry} ${w.ms} ms`).join(', ')}`,
    );
  }
  notes.push('the Python agent waits 2 s before its first retry (30 s for a health report); ours 0.5 s (docs/contract.md §4)');
  for (const n of notes) console.log(`note: ${n}`);
}

await main();
