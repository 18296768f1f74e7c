// One provisioning run of one agent in a fresh namespace sandbox (test/sandbox): the emulator on 127.0.0.1:80 and
// :32526 (the Python agent's fixed ports, docs/contract.md §7), the sandbox prepared by bench/python-agent/prepare.sh, then
// the agent started under GNU time. Measured: from just before the agent is spawned to the time the emulator
// recorded the first terminal health report (Ready, or NotReady/ProvisioningFailed), and the peak RSS GNU time
// reports (%M: the largest of the agent's process and the children it waited for), and the agent's peak private
// memory (RssAnon summed over its own processes — the Python agent's daemon and ExtHandler — sampled every 20 ms;
// bench/memory.ts says why peak RSS alone misleads).
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSandbox, WAAGENT, type EmulatorHandle, type Sandbox } from '../../test/sandbox/sandbox.ts';
import type { FaultRule, HealthReport } from '../../test/fabric/types.ts';
import { REPO_ROOT } from '../../test/helpers/paths.ts';
import { cmdline, coldCopy, MemoryWatch, processTree } from '../memory.ts';
import { retryWaitsOf, type RetryWait } from './faults.ts';

const PYTHON_AGENT_DIR = join(REPO_ROOT, 'bench', 'python-agent');
const PREPARE = join(PYTHON_AGENT_DIR, 'prepare.sh');
const CONFIG = join(PYTHON_AGENT_DIR, 'waagent.conf');
const STUB_BIN = join(PYTHON_AGENT_DIR, 'bin');
export const PYTHON_WAAGENT = '/usr/sbin/waagent';

const cold = new Map<string, string>();
/**
 * dist/waagent copied once per benchmark in the page-cache state a VM has it in (bench/memory.ts coldCopy; the
 * warm-up run reads it back in), so its peak RSS is not inflated by how the build wrote the file (bench/README.md
 * "Memory"). Under dist/, which the sandbox sees.
 */
function oursBinary(agent: AgentKind): string {
  // BENCH_WAAGENT: another build of ours; BENCH_WAAGENT_BEFORE: the build 'ours-before' runs (before/after in one sitting)
  const source = agent === 'ours-before' ? process.env.BENCH_WAAGENT_BEFORE : (process.env.BENCH_WAAGENT ?? WAAGENT);
  if (!source) throw new Error('ours-before needs BENCH_WAAGENT_BEFORE=<path of the other build>');
  if (!cold.has(agent)) {
    // named waagent either way: the memory watch finds the agent's processes by that name
    const dir = join(dirname(WAAGENT), '.bench', agent === 'ours' ? '' : 'before');
    mkdirSync(dir, { recursive: true });
    cold.set(agent, coldCopy(source, join(dir, 'waagent')));
  }
  return cold.get(agent)!;
}

/** 'ours-before': another build of ours (BENCH_WAAGENT_BEFORE), interleaved with 'ours' for before/after figures. */
export type AgentKind = 'python' | 'python-stubbed' | 'ours' | 'ours-before';

/** Our agent in either build. */
export function isOurs(agent: AgentKind): boolean {
  return agent === 'ours' || agent === 'ours-before';
}

export interface RunResult {
  agent: AgentKind;
  /** ms from spawn to the emulator's record of the first terminal health report; null when none came */
  ms: number | null;
  /** KiB, GNU time's %M; null when it could not be read */
  rssKiB: number | null;
  /** KiB, the agent process's own VmHWM as last sampled from /proc (every 20 ms) before the report or its exit */
  hwmKiB: number | null;
  /** KiB, the largest sum of RssAnon over the agent's processes (not the commands it runs) sampled every 20 ms */
  anonKiB: number | null;
  /** "Ready", or "NotReady/ProvisioningFailed: why", or "no report: why" */
  outcome: string;
  /** the agent's log, when the run did not reach Ready */
  log?: string;
  /** ours: its "provisioning phases" log line, ms since the process started, by phase (start, media, platform chain, …, Ready) */
  phases?: Record<string, number>;
  /** the binary answered that -provision is not implemented (yet) */
  notImplemented?: boolean;
  /** ms from the first request the emulator recorded to the terminal health report (null when none came) */
  firstRequestMs?: number | null;
  /** ours: the retry waits it logged (bench/provision/faults.ts) */
  retryWaits?: RetryWait[];
}

export interface RunInput {
  /** ovf-env.xml on the host */
  ovfEnv: string;
  /** the same, in a UDF image made by genisoimage -udf (our agent's DVD.Device) */
  udfImage: string;
  timeoutMs: number;
  /** return the agent's log even when it reached Ready */
  keepLog?: boolean;
  /** fault rules set on the emulator before the agent starts (bench/provision/faults.ts) */
  faults?: FaultRule[];
}

// Fast Track off (HostGAPlugin answers 404 to /vmSettings): the recorded vmSettings and ExtensionsConfig are not the
// same goal state, and the Python agent, finding them out of step, would wait a goal-state period (6 s) and fetch
// again. Goal state = ExtensionsConfig, as on a VM without Fast Track.
export const EMULATOR_ARGS = [
  '--wireserver',
  '127.0.0.1:80',
  '--hostplugin',
  '127.0.0.1:32526',
  '--imds',
  '127.0.0.1:0',
  '--blob',
  '127.0.0.1:0',
  '--rewrite-address',
  '127.0.0.1',
  '--no-vm-settings',
];

function isTerminal(r: HealthReport): boolean {
  return r.state === 'Ready' || (r.state === 'NotReady' && r.subStatus === 'ProvisioningFailed');
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The process GNU time started (the agent): the child of the `time` process below `root`. */
function agentPid(root: number): number | null {
  const queue = [root];
  while (queue.length) {
    const pid = queue.shift()!;
    let comm = '';
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    const kids = children(pid);
    if (comm === 'time') return kids[0] ?? null;
    queue.push(...kids);
  }
  return null;
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return Promise.race([new Promise<boolean>((r) => child.once('exit', () => r(true))), sleep(ms).then(() => false)]);
}

function readRss(file: string): number | null {
  if (!existsSync(file)) return null;
  const last = readFileSync(file, 'utf8').trim().split('\n').pop() ?? '';
  return /^\d+$/.test(last) ? Number(last) : null;
}

function configFor(agent: AgentKind, sb: Sandbox, udfImage: string): string {
  let text = readFileSync(CONFIG, 'utf8');
  if (isOurs(agent)) {
    // ours is told where things are instead of discovering them: the lease file read and /dev scan it skips cost
    // microseconds, and DVD.Device is how it reads media the kernel here cannot mount (no udf/iso9660)
    text += [
      'Protocol.WireServerEndpoint=127.0.0.1:80',
      'Protocol.HostGAPluginPort=32526',
      `DVD.Device=${udfImage}`,
      'Logs.File=/var/log/waagent.log',
      '',
    ].join('\n');
  }
  const path = join(sb.dir, 'waagent.conf');
  writeFileSync(path, text);
  return path;
}

function vmHwm(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null; // gone
  }
}

interface Watch {
  pid: number | null;
  hwmKiB: number | null;
  memory: MemoryWatch | null;
}

/** The agent's own processes below `pid` (itself, and the Python agent's ExtHandler child, "python3 -u /usr/sbin/waagent"): argv names waagent. */
export function agentProcesses(pid: number): number[] {
  return processTree(pid).filter((p) =>
    cmdline(p)
      .slice(0, 3)
      .some((a) => /waagent$/.test(a)),
  );
}

async function waitForReport(emu: EmulatorHandle, child: ChildProcess, timeoutMs: number, watch: Watch): Promise<HealthReport | string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (watch.pid === null && child.pid !== undefined) watch.pid = agentPid(child.pid);
    if (watch.pid !== null && watch.memory === null) {
      const root = watch.pid;
      watch.memory = new MemoryWatch({ pids: () => agentProcesses(root), intervalMs: 20 }).start();
    }
    if (watch.pid !== null) watch.hwmKiB = vmHwm(watch.pid) ?? watch.hwmKiB;
    const done = (await emu.healthReports()).find(isTerminal);
    if (done) return done;
    if (child.exitCode !== null || child.signalCode !== null) {
      const late = (await emu.healthReports()).find(isTerminal);
      return late ?? `the agent exited (${child.exitCode ?? child.signalCode}) without reporting`;
    }
    if (Date.now() > deadline) return `nothing within ${timeoutMs / 1000} s`;
    await sleep(20);
  }
}

/** The last "provisioning phases, ms since the process started: start 150, media 170, …" line of our log, parsed. */
export function phasesOf(log: string): Record<string, number> | undefined {
  const lines = log.split('\n').filter((l) => l.includes('provisioning phases, ms since the process started: '));
  const last = lines[lines.length - 1];
  if (!last) return undefined;
  const out: Record<string, number> = {};
  for (const part of last.slice(last.indexOf(': ') + 2).split(', ')) {
    const m = /^(.+) (\d+)$/.exec(part.trim());
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** Provisions once with `agent` in a fresh sandbox and returns what was measured; the sandbox is gone afterwards. */
export async function provisionOnce(agent: AgentKind, input: RunInput): Promise<RunResult> {
  const sb = await createSandbox({ hostname: 'bench-image' });
  try {
    const emu = await sb.startEmulator(EMULATOR_ARGS);
    if (input.faults) await emu.setFaults(input.faults);
    const ovf = join(sb.dir, 'ovf-env.xml');
    copyFileSync(input.ovfEnv, ovf);
    const image = join(sb.dir, 'ovf-env.udf');
    copyFileSync(input.udfImage, image);
    const prep = await sb.exec(['bash', PREPARE, ovf], { cwd: '/' });
    if (prep.code !== 0) throw new Error(`preparing the sandbox failed: ${prep.stderr.trim()}`);
    const conf = configFor(agent, sb, image);
    const cp = await sb.exec(['cp', conf, '/etc/waagent.conf'], { cwd: '/' });
    if (cp.code !== 0) throw new Error(`cannot install the configuration: ${cp.stderr.trim()}`);

    const rssFile = join(sb.dir, 'time.out');
    const argv = isOurs(agent) ? [oursBinary(agent), '-provision'] : [PYTHON_WAAGENT, '-daemon'];
    const env: Record<string, string> =
      agent === 'python-stubbed' ? { PATH: `${STUB_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` } : {};
    const t0 = Date.now();
    const child = sb.spawn(['/usr/bin/time', '-f', '%M', '-o', rssFile, ...argv], { cwd: '/', env });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const watch: Watch = { pid: null, hwmKiB: null, memory: null };
    const report = await waitForReport(emu, child, input.timeoutMs, watch);

    // ours exits after Ready (and logs its phases just before): give it the moment
    if (isOurs(agent)) await exited(child, 2000);
    // the Python daemon goes on to the extension handler after Ready: stop it, and let GNU time report
    if (child.exitCode === null && child.signalCode === null) {
      const pid = watch.pid ?? (child.pid === undefined ? null : agentPid(child.pid));
      if (pid !== null) {
        watch.hwmKiB = vmHwm(pid) ?? watch.hwmKiB;
        watch.memory?.sample();
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // it exited on its own meanwhile (ours does, after Ready)
        }
      }
      await exited(child, 5000);
    }
    const ms = typeof report === 'string' ? null : Date.parse(report.time) - t0;
    const outcome =
      typeof report === 'string'
        ? `no report: ${report}`
        : report.state === 'Ready'
          ? 'Ready'
          : `NotReady/ProvisioningFailed: ${report.description ?? ''}`;
    const peaks = watch.memory?.stop();
    const anonKiB = peaks && peaks.processes > 0 ? peaks.anon : null;
    const result: RunResult = { agent, ms, rssKiB: readRss(rssFile), hwmKiB: watch.hwmKiB, anonKiB, outcome };
    if (input.faults) {
      const first = (await emu.requests())[0];
      result.firstRequestMs = typeof report === 'string' || !first ? null : Date.parse(report.time) - Date.parse(first.time);
    }
    if (isOurs(agent)) {
      try {
        const text = sb.readFile('/var/log/waagent.log');
        result.phases = phasesOf(text);
        result.retryWaits = retryWaitsOf(text);
      } catch {
        // no log written
      }
    }
    if (outcome !== 'Ready' || input.keepLog) {
      let log = '';
      try {
        log = sb.readFile('/var/log/waagent.log');
      } catch {
        // no log written
      }
      const requests = (await emu.requests()).map((q) => `${q.time} ${q.service} ${q.method} ${q.path} -> ${q.status}`);
      result.log = `${output.trim()}\n${log}\n${requests.join('\n')}`
        .trim()
        .split('\n')
        .slice(input.keepLog ? 0 : -40)
        .join('\n');
      if (/-provision is not implemented/.test(output)) result.notImplemented = true;
    }
    return result;
  } finally {
    await sb.close();
  }
}
