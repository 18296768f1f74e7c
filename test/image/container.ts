// A root file system booted with systemd as PID 1 in a container: systemd-nspawn with a private network (loopback
// only), no registration with a host systemd (this machine's PID 1 is not systemd, hence --register=no
// --keep-unit), and commands run inside through nsenter into the container's PID 1. A reboot inside makes nspawn
// exit with 133; the container is then booted again, as a VM would be. Nothing on the host changes: nspawn makes
// its mounts in a namespace of its own, and the hostname, users and /etc it changes are the container's.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** nspawn's exit status when the container rebooted */
const REBOOT_EXIT = 133;

/** The promise's value, or `fallback` after ms; the timer is cleared either way (no pending timer keeps the test alive). */
function within<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<F>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export interface ContainerOptions {
  root: string;
  /** --bind= host:container (read-write) */
  binds?: Array<[string, string]>;
  /** --bind-ro= host:container */
  bindsRo?: Array<[string, string]>;
  /** arguments for the container's init (systemd reads them as its kernel command line) */
  initArgs?: string[];
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class BootedContainer {
  private readonly opts: ContainerOptions;
  private nspawn: ChildProcess | null = null;
  private pid1 = 0;
  private exited: Promise<number> | null = null;
  /** boots seen so far, reboots included */
  boots = 0;
  /** Date.now() when the current boot's nspawn was started */
  bootStartedAt = 0;
  /** the console output of all boots (the last 200,000 characters) */
  console = '';
  /** set while the diagnostics' own commands run */
  private diagnosing = false;

  constructor(opts: ContainerOptions) {
    this.opts = opts;
  }

  get pid(): number {
    return this.pid1;
  }

  /** Starts nspawn and waits for the container's PID 1 (not for the boot to finish: see waitBooted). */
  async start(): Promise<void> {
    if (this.nspawn) throw new Error('the container runs already');
    const args = ['-b', '-q', '--private-network', '--register=no', '--keep-unit', '--console=read-only', '-D', this.opts.root];
    for (const [h, c] of this.opts.binds ?? []) args.push(`--bind=${h}:${c}`);
    for (const [h, c] of this.opts.bindsRo ?? []) args.push(`--bind-ro=${h}:${c}`);
    args.push(...(this.opts.initArgs ?? []));
    this.bootStartedAt = Date.now();
    const child = spawn('systemd-nspawn', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH, SYSTEMD_LOG_LEVEL: 'warning' } });
    this.nspawn = child;
    this.boots++;
    const log = (s: string) => {
      this.console = (this.console + s).slice(-200_000);
    };
    child.stdout!.on('data', (d: Buffer) => log(d.toString()));
    child.stderr!.on('data', (d: Buffer) => log(d.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`systemd-nspawn exited with ${child.exitCode} before the container's init started`);
      const pid = this.findInit(child.pid!);
      if (pid) {
        this.pid1 = pid;
        return;
      }
      if (Date.now() > deadline) throw new Error('the container did not start its init within 30 s');
      await sleep(20);
    }
  }

  /** The container's PID 1: nspawn's child whose namespace pid is 1. */
  private findInit(nspawnPid: number): number {
    let children: string[] = [];
    try {
      children = readFileSync(`/proc/${nspawnPid}/task/${nspawnPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    } catch {
      return 0;
    }
    for (const c of children) {
      try {
        const status = readFileSync(`/proc/${c}/status`, 'utf8');
        const nspid = /^NSpid:\s+(.+)$/m.exec(status)?.[1]?.trim().split(/\s+/);
        if (nspid && nspid[nspid.length - 1] === '1' && readFileSync(`/proc/${c}/comm`, 'utf8').trim() === 'systemd') return Number(c);
      } catch {
        // gone meanwhile
      }
    }
    return 0;
  }

  /** Waits until systemd inside has finished booting (running or degraded); names the stuck units when it has not. */
  async waitBooted(timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.run(['systemctl', 'is-system-running', '--wait'], { timeoutMs: Math.max(1000, deadline - Date.now()) });
      const state = r.stdout.trim();
      if (state === 'running' || state === 'degraded') return state;
      if (Date.now() > deadline) {
        throw new Error(
          `the container did not finish booting within ${timeoutMs} ms (${state || 'no state'}; ${this.stuckSummary()})\n${this.diagnostics([])}`,
        );
      }
      await sleep(100);
    }
  }

  /** The jobs systemd is working on ("running"), the units everything else waits for; null when they cannot be read. */
  runningJobs(): string[] | null {
    if (!this.pid1) return null;
    let r: RunResult;
    this.diagnosing = true;
    try {
      r = this.run(['systemctl', 'list-jobs', '--no-legend', '--no-pager', '--plain'], { timeoutMs: 10_000 });
    } catch {
      return null;
    } finally {
      this.diagnosing = false;
    }
    // "JOB UNIT TYPE STATE"
    return r.stdout
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 4 && f[3] === 'running')
      .map((f) => `${f[1]} (${f[2]} running)`);
  }

  /** One phrase for a failure message: which units the boot is stuck on. */
  stuckSummary(): string {
    const running = this.runningJobs();
    if (running === null) return 'systemd did not list its jobs';
    return running.length ? `stuck on ${running.join(', ')}` : 'no job running';
  }

  /**
   * What explains a stuck or failed boot, for a failure message: the job queue, failed units, `systemctl status` and
   * the journal of the running jobs' units and of `units`, and the console's tail. Never throws.
   */
  diagnostics(units: string[]): string {
    if (!this.pid1) return `--- container not running; console ---\n${this.consoleTail()}`;
    const stuck = (this.runningJobs() ?? []).map((j) => j.split(' ')[0]!);
    const all = [...new Set([...stuck, ...units])];
    const q = (u: string) => `'${u.replace(/'/g, '')}'`;
    const script = [
      'echo "--- systemctl list-jobs"; systemctl list-jobs --no-pager',
      'echo "--- systemctl --failed"; systemctl --failed --no-pager',
      all.length ? `echo "--- systemctl status"; systemctl status --no-pager --lines=0 ${all.map(q).join(' ')}` : 'true',
      `echo "--- journal"; journalctl -b --no-pager -n 150 -o short-monotonic ${all.map((u) => `-u ${q(u)}`).join(' ')}`,
    ].join('; ');
    let out = '';
    this.diagnosing = true;
    try {
      const r = this.run(['sh', '-c', script], { timeoutMs: 30_000 });
      out = `${r.stdout}${r.stderr}`;
    } catch (e) {
      out = `(diagnostics failed: ${(e as Error).message})`;
    } finally {
      this.diagnosing = false;
    }
    return `${out}\n--- console ---\n${this.consoleTail()}`;
  }

  private consoleTail(): string {
    return this.console.slice(-4000);
  }

  /** Runs a command inside (all of PID 1's namespaces, its root), synchronously. */
  run(argv: string[], o: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {}): RunResult {
    if (!this.pid1) throw new Error('the container is not running');
    const r = spawnSync(
      'nsenter',
      [
        '-t',
        String(this.pid1),
        '-a',
        '-r',
        '-w',
        '--',
        'env',
        '-i',
        `PATH=${PATH}`,
        'HOME=/root',
        'LANG=C.UTF-8',
        ...Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`),
        ...argv,
      ],
      {
        input: o.input ?? '',
        encoding: 'utf8',
        timeout: o.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    if (r.error) {
      // a command that hangs inside usually waits on a job: say which, and show the units' state and journal
      const why = (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? `timed out after ${o.timeoutMs ?? 60_000} ms` : r.error.message;
      // (not while diagnosing: the diagnostics' own commands failing must not diagnose again)
      if (this.diagnosing) throw new Error(`${argv.join(' ')} in the container: ${why}`);
      throw new Error(`${argv.join(' ')} in the container: ${why} (${this.stuckSummary()})\n${this.diagnostics([])}`);
    }
    return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
  }

  /** Runs a command inside and fails with its output unless it exits 0; returns stdout. */
  ok(argv: string[], o: { input?: string; timeoutMs?: number } = {}): string {
    const r = this.run(argv, o);
    if (r.code !== 0) throw new Error(`${argv.join(' ')} exited with ${r.code} in the container: ${r.stderr.trim()} ${r.stdout.trim()}`);
    return r.stdout;
  }

  /** Runs a command on the host inside the container's network namespace only (the host's files and tools). */
  runInNet(argv: string[], timeoutMs = 30_000): RunResult {
    const r = spawnSync('nsenter', ['-t', String(this.pid1), '-n', '--', ...argv], {
      encoding: 'utf8',
      timeout: timeoutMs,
      env: { PATH, HOME: '/nonexistent' },
    });
    if (r.error) throw new Error(`${argv.join(' ')} in the container's network: ${r.error.message}`);
    return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
  }

  /** `systemctl reboot` inside; returns once the new boot's PID 1 runs. */
  async reboot(): Promise<void> {
    this.run(['systemctl', 'reboot']);
    const code = await this.waitExit(60_000);
    if (code !== REBOOT_EXIT) throw new Error(`systemd-nspawn exited with ${code} on reboot, not ${REBOOT_EXIT}`);
    await this.start();
  }

  /** `systemctl poweroff` inside; returns when nspawn has exited 0. */
  async poweroff(): Promise<void> {
    this.run(['systemctl', 'poweroff']);
    const code = await this.waitExit(60_000);
    if (code !== 0) throw new Error(`systemd-nspawn exited with ${code} on power off`);
  }

  private async waitExit(timeoutMs: number): Promise<number> {
    if (!this.exited) throw new Error('the container is not running');
    const code = await within(this.exited, timeoutMs, -1);
    if (code === -1) throw new Error(`the container did not stop within ${timeoutMs} ms`);
    this.nspawn = null;
    this.pid1 = 0;
    this.exited = null;
    return code;
  }

  /** Stops whatever runs: kills the container's PID 1 (the whole pid namespace goes with it), then nspawn. */
  async kill(): Promise<void> {
    if (!this.nspawn) return;
    if (this.pid1 && existsSync(`/proc/${this.pid1}`)) {
      try {
        process.kill(this.pid1, 'SIGKILL');
      } catch {
        // gone
      }
    }
    const exited = this.exited;
    const child = this.nspawn;
    if (exited) await within(exited, 10_000, null);
    if (child.exitCode === null) child.kill('SIGKILL');
    if (exited) await within(exited, 5000, null);
    this.nspawn = null;
    this.pid1 = 0;
    this.exited = null;
  }
}
