// One long-running agent (ours or the Python agent) in a fresh namespace sandbox against the fabric emulator, for
// the loop benchmarks (bench/extensions.ts, bench/daemon.ts). The sandbox is set up as for the provisioning
// benchmark (bench/python-agent/prepare.sh: eth0, the dhclient lease with option 245, private /dev) with the
// emulator on 127.0.0.1:80 and :32526 (the Python agent's fixed ports, docs/contract.md §7), Fast Track off, and the
// extensions goal state replaced by the benchmark's own ExtensionsConfig (bench/loop/extension-package.ts).
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
// the emulator as the side-by-side benchmarks run it (Fast Track off, the Python agent's fixed ports): one list
import { EMULATOR_ARGS } from '../provision/measure.ts';
import { join } from 'node:path';
import { createSandbox, WAAGENT, type EmulatorHandle, type Sandbox } from '../../test/sandbox/sandbox.ts';
import { REPO_ROOT } from '../../test/helpers/paths.ts';
import { cmdline, coldCopy, cpuSeconds, ioBytes, processTree } from '../memory.ts';
import { benchOvfEnv } from '../provision/ovf-env.ts';
import { extensionsConfigXml, handlerZip, MANIFEST_PATH, manifestXml, ZIP_PATH } from './extension-package.ts';

export const PYTHON_WAAGENT = '/usr/sbin/waagent';
/** Ours: dist/waagent, or BENCH_WAAGENT (e.g. a copy of an earlier build, for before/after figures in one sitting). */
export const OUR_WAAGENT = process.env.BENCH_WAAGENT ?? WAAGENT;
const PREPARE = join(REPO_ROOT, 'bench', 'python-agent', 'prepare.sh');

/** 'minimal': bench/loop/minimal-client.ts (bundled; AgentStartOptions.minimalClient), configured as ours. */
export type LoopAgent = 'ours' | 'python' | 'minimal';

/**
 * Debian's packaged waagent.conf for both agents, with what cannot or must not run here changed: no provisioning
 * (the loops are measured, not provisioning), no resource disk, no SCSI timeouts (they would write the host's
 * /sys), no firewall (packaged default), no auto-update.
 */
const BASE_CONFIG: Record<string, string> = {
  'Extensions.Enabled': 'y',
  'Provisioning.Agent': 'disabled',
  'Provisioning.MonitorHostName': 'y',
  'Provisioning.DecodeCustomData': 'n',
  'Provisioning.ExecuteCustomData': 'n',
  'ResourceDisk.Format': 'n',
  'ResourceDisk.EnableSwap': 'n',
  'Logs.Verbose': 'n',
  'Logs.Collect': 'y',
  'Logs.CollectPeriod': '3600',
  'OS.EnableFIPS': 'n',
  'OS.OpensslPath': 'None',
  'OS.SshDir': '/etc/ssh',
  'AutoUpdate.Enabled': 'n',
  'OS.EnableFirewall': 'n',
  'Lib.Dir': '/var/lib/waagent',
};

/** Keys only our agent has: it is told where the emulator is, the Python agent finds it in the lease. */
const OURS_CONFIG: Record<string, string> = {
  'Protocol.WireServerEndpoint': '127.0.0.1:80',
  'Protocol.HostGAPluginPort': '32526',
  'Logs.File': '/var/log/waagent.log',
};

export interface AgentStartOptions {
  agent: LoopAgent;
  /** the command line after the executable */
  argv: string[];
  /** configuration keys beyond BASE_CONFIG */
  config?: Record<string, string>;
  /** the first ExtensionsConfig: the benchmark extension with this settings sequence number, or none (null) */
  seqNo: number | null;
  /** agent 'minimal': the bundled minimal client (run by this Node with the emulator's addresses and argv as PERIOD_MS) */
  minimalClient?: string;
}

export interface AgentRun {
  sb: Sandbox;
  emu: EmulatorHandle;
  child: ChildProcess;
  /** http://127.0.0.1:PORT of the emulator's blob service */
  blobBase: string;
  readonly incarnation: number;
  output(): string;
  /** the agent's own processes (ours: one; Python: the daemon and its ExtHandler child), not extension commands */
  agentPids(): number[];
  /** utime+stime of the agent's processes, and of the children they waited for (cutime+cstime), seconds */
  cpu(): { self: number; children: number };
  /** write_bytes of the agent's processes (bytes they sent to the block layer) */
  writeBytes(): number;
  /** serves a new ExtensionsConfig (with the extension at seqNo, or none) as the next incarnation */
  newGoalState(seqNo: number | null): Promise<void>;
  /** bytes under a directory (du -sb) or of a file, inside the sandbox; 0 when missing */
  sizeOf(pathInside: string): Promise<number>;
  close(): Promise<void>;
}

export function isAgentProcess(pid: number): boolean {
  // ours sets its process title ("waagent -daemon"), which replaces the whole command line with one string
  return cmdline(pid)
    .slice(0, 3)
    .some((a) => /waagent$|^waagent\s|loop-driver\.cjs$|minimal-client\.cjs$/.test(a));
}

function childCpu(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[13]) + Number(rest[14])) / 100;
  } catch {
    return 0;
  }
}

export async function startAgent(opts: AgentStartOptions): Promise<AgentRun> {
  const sb = await createSandbox({ hostname: 'bench-vm' });
  try {
    const emu = await sb.startEmulator(EMULATOR_ARGS);
    const blobBase = `http://${emu.blob}`;
    await emu.control.registerArtifacts({ [ZIP_PATH]: handlerZip(), [MANIFEST_PATH]: manifestXml(blobBase) });
    let incarnation = 0;
    const newGoalState = async (seqNo: number | null) => {
      incarnation++;
      const file = join(sb.dir, `ext_conf_${incarnation}.xml`);
      writeFileSync(file, extensionsConfigXml(blobBase, incarnation, seqNo));
      await emu.control.goalState({ docs: { extensionsConfig: file }, incarnation });
    };
    await newGoalState(opts.seqNo);

    // prepare.sh wants provisioning media; the agents are told not to provision, so any ovf-env.xml does
    const ovf = join(sb.dir, 'ovf-env.xml');
    writeFileSync(
      ovf,
      benchOvfEnv({
        hostName: 'bench-vm',
        userName: 'azureuser',
        password: 'unused-Pw0!',
        publicKey: 'ssh-ed25519 AAAA unused',
        customData: '',
      }),
    );
    const prep = await sb.exec(['bash', PREPARE, ovf], { cwd: '/' });
    if (prep.code !== 0) throw new Error(`preparing the sandbox failed: ${prep.stderr.trim()}`);
    const keys = { ...BASE_CONFIG, ...(opts.agent === 'python' ? {} : OURS_CONFIG), ...opts.config };
    sb.writeFile(
      '/etc/waagent.conf',
      Object.entries(keys)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(''),
    );

    // ours runs from a copy in the page-cache state of a VM after boot, not dist/waagent as the build left it
    let argv: string[];
    if (opts.agent === 'python') argv = [PYTHON_WAAGENT, ...opts.argv];
    else if (opts.agent === 'ours') argv = [coldCopy(OUR_WAAGENT, join(sb.dir, 'waagent')), ...opts.argv];
    else {
      if (!opts.minimalClient) throw new Error('the minimal agent needs minimalClient (the bundled bench/loop/minimal-client.ts)');
      const copy = join(sb.dir, 'minimal-client.cjs');
      copyFileSync(opts.minimalClient, copy);
      writeFileSync(join(sb.dir, 'package.json'), '{ "type": "commonjs" }\n');
      argv = [process.execPath, copy, '127.0.0.1:80', '127.0.0.1:32526', ...opts.argv];
    }
    const child = sb.spawn(argv, { cwd: '/' });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-64 * 1024)));
    child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-64 * 1024)));
    const pids = () => (child.pid === undefined ? [] : processTree(child.pid).filter(isAgentProcess));
    const run: AgentRun = {
      sb,
      emu,
      child,
      blobBase,
      get incarnation() {
        return incarnation;
      },
      output: () => out,
      agentPids: pids,
      cpu: () => {
        let self = 0;
        let children = 0;
        for (const p of pids()) {
          self += cpuSeconds(p) ?? 0;
          children += childCpu(p);
        }
        return { self, children };
      },
      writeBytes: () => pids().reduce((a, p) => a + (ioBytes(p)?.writeBytes ?? 0), 0),
      newGoalState,
      async sizeOf(pathInside) {
        const r = await sb.exec(['sh', '-c', 'du -sb "$1" 2>/dev/null | cut -f1', 'sh', pathInside], { cwd: '/' });
        return Number(r.stdout.trim()) || 0;
      },
      close: () => sb.close(),
    };
    return run;
  } catch (e) {
    await sb.close();
    throw e;
  }
}
