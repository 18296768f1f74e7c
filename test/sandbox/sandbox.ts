// The end-to-end test harness of docs/contract.md §5: fresh mount/UTS/network/pid namespaces holding private overlay
// copies of /etc, /home, /root, /var, /mnt, /run and a private /tmp, with loopback as the only network. Tests run
// the built agent and the fabric emulator inside, and read what happened from outside.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ControlClient } from '../fabric/client.ts';
import type { FaultRule, HealthReport, RecordedRequest, StatusUpload } from '../fabric/types.ts';
import { REPO_ROOT } from '../helpers/paths.ts';

/** The executable under test: dist/waagent, or WAAGENT_BIN (npm run test:arm64 names test/sandbox/waagent-arm64.sh). */
export const WAAGENT = process.env.WAAGENT_BIN ? resolve(process.env.WAAGENT_BIN) : join(REPO_ROOT, 'dist', 'waagent');
export const EMULATOR = join(REPO_ROOT, 'test', 'fabric', 'emulator.ts');
const INIT = join(REPO_ROOT, 'test', 'sandbox', 'init.sh');
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ExecOptions {
  input?: string;
  env?: Record<string, string>;
  /** default 60 s; the command is killed and exec rejects when it runs longer */
  timeoutMs?: number;
  /** working directory inside (default: the repository root) */
  cwd?: string;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface EmulatorHandle {
  /** "127.0.0.1:PORT" */
  wireServer: string;
  hostPluginPort: number;
  imds: string;
  blob: string;
  control: ControlClient;
  requests(): Promise<RecordedRequest[]>;
  setFaults(rules: FaultRule[]): Promise<void>;
  healthReports(): Promise<HealthReport[]>;
  statusUploads(): Promise<StatusUpload[]>;
  stop(): Promise<void>;
}

export interface SandboxOptions {
  hostname?: string;
}

export interface Sandbox {
  /** the sandbox's directory on the host, visible at the same path inside */
  dir: string;
  /**
   * The sandbox's file system seen from the host (/proc/PID/root). Absolute symlinks inside resolve against the
   * HOST's root when followed from here: use readFile/writeFile, which run inside, for anything but plain reads.
   */
  root: string;
  exec(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  spawn(argv: string[], opts?: Omit<ExecOptions, 'input' | 'timeoutMs'>): ChildProcess;
  startEmulator(args?: string[]): Promise<EmulatorHandle>;
  writeFile(pathInside: string, content: string | Buffer, mode?: number): void;
  readFile(pathInside: string): string;
  /** writes /etc/waagent.conf pointing at the running emulator; returns its path */
  writeConfig(extra?: Record<string, string>): string;
  close(): Promise<void>;
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('the end-to-end sandbox needs root (it creates namespaces and mounts): run the tests as root');
  }
}

/** Runs fn in a fresh sandbox and closes it afterwards, whether fn returns or throws. */
export async function withSandbox<T>(fn: (sb: Sandbox) => Promise<T>, opts: SandboxOptions = {}): Promise<T> {
  const sb = await createSandbox(opts);
  try {
    return await fn(sb);
  } finally {
    await sb.close();
  }
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return Promise.race([
    new Promise<boolean>((resolve) => child.once('exit', () => resolve(true))),
    // unref'd: once the child is gone, a pending timer must not keep the test file's process alive for `ms`
    sleep(ms, false, { ref: false }),
  ]);
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

const emergencies = new Set<() => void>();
let handlersInstalled = false;

function runEmergencies(): void {
  for (const fn of emergencies) fn();
  emergencies.clear();
}

/** Cleans up open sandboxes when the process exits or is interrupted (then dies of the same signal). */
function onEmergency(fn: () => void): void {
  emergencies.add(fn);
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', runEmergencies);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      runEmergencies();
      process.kill(process.pid, signal);
    });
  }
}

function offEmergency(fn: () => void): void {
  emergencies.delete(fn);
}

export async function createSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  requireRoot();
  const dir = mkdtempSync(join(tmpdir(), 'waagent-sb-'));
  const holder = spawn('unshare', ['--mount', '--uts', '--net', '--pid', '--fork', '--mount-proc', '--kill-child', 'bash', INIT], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { PATH, SB: dir, REPO: REPO_ROOT, SANDBOX_HOSTNAME: opts.hostname ?? 'waagent-sandbox' },
  });
  let holderErr = '';
  holder.stderr!.on('data', (d: Buffer) => (holderErr += d.toString()));
  // If this process dies without close(), the pipe closes, the sandbox's init ends and the namespace dies with it;
  // on exit or SIGINT/SIGTERM the directory goes too.
  const emergency = () => {
    holder.kill('SIGKILL'); // unshare --kill-child takes the namespace's init with it
    rmSync(dir, { recursive: true, force: true });
  };
  onEmergency(emergency);
  const fail = (why: string): never => {
    emergency();
    offEmergency(emergency);
    throw new Error(`the sandbox did not start: ${why}${holderErr ? `: ${holderErr.trim()}` : ''}`);
  };
  const ready = await new Promise<boolean>((resolve) => {
    let out = '';
    holder.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('READY\n')) resolve(true);
    });
    holder.once('exit', () => resolve(false));
    setTimeout(() => resolve(false), 15_000).unref();
  });
  if (!ready) fail('its init script failed or timed out');
  const children = readFileSync(`/proc/${holder.pid}/task/${holder.pid}/children`, 'utf8').trim().split(/\s+/);
  const pid = Number(children[0]);
  if (!pid) fail('the namespace init process was not found');

  const nsenter = (cwd: string) => ['--target', String(pid), '--mount', '--uts', '--net', '--pid', `--wd=${cwd}`, '--'];
  const envOf = (env?: Record<string, string>) => ({ PATH, HOME: '/root', LANG: 'C.UTF-8', ...env });
  const spawned = new Set<ChildProcess>();
  const emulators = new Set<EmulatorHandle>();
  let lastEmulator: EmulatorHandle | null = null;
  let emulatorCount = 0;
  let closed = false;

  const spawnInside = (argv: string[], o: Omit<ExecOptions, 'input' | 'timeoutMs'> = {}): ChildProcess => {
    if (closed) throw new Error('the sandbox is closed');
    if (argv.length === 0) throw new Error('exec needs a command');
    // a process group of its own, so a timeout kills nsenter and what it started
    const child = spawn('nsenter', [...nsenter(o.cwd ?? REPO_ROOT), ...argv], { env: envOf(o.env), detached: true });
    spawned.add(child);
    child.once('exit', () => spawned.delete(child));
    return child;
  };

  const runSync = (argv: string[], input?: string | Buffer) =>
    spawnSync('nsenter', [...nsenter('/'), ...argv], { env: envOf(), input: input ?? '', maxBuffer: 256 * 1024 * 1024 });

  const sb: Sandbox = {
    dir,
    root: `/proc/${pid}/root`,

    exec(argv, o = {}) {
      const child = spawnInside(argv, o);
      const timeoutMs = o.timeoutMs ?? 60_000;
      return new Promise((resolve, reject) => {
        let stdout = '';
        let stderr = '';
        child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        const timer = setTimeout(() => {
          killGroup(child, 'SIGKILL');
          reject(
            new Error(
              `${argv.join(' ')} ran longer than ${timeoutMs} ms in the sandbox; stdout: ${stdout.slice(-2000)} stderr: ${stderr.slice(-2000)}`,
            ),
          );
        }, timeoutMs);
        child.once('error', (e) => {
          clearTimeout(timer);
          reject(new Error(`cannot run nsenter: ${e.message}`));
        });
        // A command may leave a daemon behind that holds stdout open: after the exit, wait for the output a
        // moment, not for the daemon.
        const finish = (code: number | null, signal: NodeJS.Signals | null) => {
          clearTimeout(timer);
          resolve({ code: code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : 1), stdout, stderr });
        };
        child.once('close', finish);
        child.once('exit', (code, signal) => {
          setTimeout(() => {
            child.stdout!.destroy();
            child.stderr!.destroy();
            finish(code, signal);
          }, 200).unref();
        });
        child.stdin!.on('error', () => {});
        child.stdin!.end(o.input ?? '');
      });
    },

    spawn: spawnInside,

    async startEmulator(args = []) {
      const n = ++emulatorCount;
      const portFile = join(dir, `emulator-${n}.ports.json`);
      const socket = join(dir, `emulator-${n}.sock`);
      const child = spawnInside([process.execPath, EMULATOR, '--port-file', portFile, '--control-socket', socket, ...args]);
      let output = '';
      child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      const deadline = Date.now() + 20_000;
      while (!existsSync(portFile)) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the emulator exited before listening: ${output.trim()}`);
        if (Date.now() > deadline) {
          killGroup(child, 'SIGKILL');
          throw new Error(`the emulator did not start within 20 s: ${output.trim()}`);
        }
        await sleep(50);
      }
      const ports = JSON.parse(readFileSync(portFile, 'utf8')) as { wireServer: number; hostPlugin: number; imds: number; blob: number };
      const control = new ControlClient(socket);
      const handle: EmulatorHandle = {
        wireServer: `127.0.0.1:${ports.wireServer}`,
        hostPluginPort: ports.hostPlugin,
        imds: `127.0.0.1:${ports.imds}`,
        blob: `127.0.0.1:${ports.blob}`,
        control,
        requests: () => control.requests(),
        setFaults: (rules) => control.setFaults(rules),
        healthReports: () => control.healthReports(),
        statusUploads: () => control.statusUploads(),
        async stop() {
          emulators.delete(handle);
          if (lastEmulator === handle) lastEmulator = null;
          killGroup(child, 'SIGTERM');
          if (!(await waitForExit(child, 3000))) killGroup(child, 'SIGKILL');
        },
      };
      emulators.add(handle);
      lastEmulator = handle;
      return handle;
    },

    writeFile(pathInside, content, mode = 0o644) {
      if (!pathInside.startsWith('/')) throw new Error(`writeFile needs an absolute path inside the sandbox, not "${pathInside}"`);
      const r = runSync(
        ['sh', '-c', 'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"', 'sh', pathInside, mode.toString(8)],
        content,
      );
      if (r.status !== 0) throw new Error(`cannot write ${pathInside} in the sandbox: ${r.stderr.toString().trim()}`);
    },

    readFile(pathInside) {
      const r = runSync(['cat', '--', pathInside]);
      if (r.status !== 0) throw new Error(`cannot read ${pathInside} in the sandbox: ${r.stderr.toString().trim()}`);
      return r.stdout.toString('utf8');
    },

    writeConfig(extra = {}) {
      const emu = lastEmulator;
      if (!emu) throw new Error('writeConfig needs a running emulator: call startEmulator first');
      const keys: Record<string, string> = {
        'Protocol.WireServerEndpoint': emu.wireServer,
        'Protocol.HostGAPluginPort': String(emu.hostPluginPort),
        'Protocol.ImdsEndpoint': emu.imds,
        'Lib.Dir': '/var/lib/waagent',
        'Logs.File': '/var/log/waagent.log',
        ...extra,
      };
      const path = '/etc/waagent.conf';
      sb.writeFile(
        path,
        Object.entries(keys)
          .map(([k, v]) => `${k}=${v}\n`)
          .join(''),
      );
      return path;
    },

    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...emulators].map((e) => e.stop()));
      for (const c of spawned) killGroup(c, 'SIGKILL');
      holder.stdin!.end(); // init reads EOF and ends: the kernel kills every process of the pid namespace
      if (!(await waitForExit(holder, 5000))) {
        holder.kill('SIGKILL');
        await waitForExit(holder, 5000);
      }
      await Promise.all([...spawned].map((c) => waitForExit(c, 5000)));
      offEmergency(emergency);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return sb;
}
