// waagent -run-exthandlers (docs/protocol.md §7.1): the goal-state / extensions / status loop alone (the daemon
// runs the same loop in its own process). Every Extensions.GoalStatePeriod (InitialGoalStatePeriod until the first
// goal state converged): fetch the goal state, process extensions on a new extensions goal state id, build and
// upload the status blob. -once: one iteration, then exit. Run on its own (no -once), it also sends the heartbeats of
// upstream's monitor thread, which runs in its ExtHandler process — once per VM: only while it holds the monitor role
// (src/daemon/monitor-role.ts), so beside a running -daemon (which holds it) it sends none.
import type { Invocation } from './invocation.ts';
import { DEFAULT_CONFIG_PATH, libDirOf, type Config } from '../config/index.ts';
import { heartbeatTasks } from '../daemon/heartbeats.ts';
import { MonitorRole } from '../daemon/monitor-role.ts';
import { StopSignal } from '../daemon/stop-signal.ts';
import { PeriodicTasks } from '../util/periodic.ts';
import { openExtensionsLoop } from '../extensions/loop.ts';
import type { DistroProfile } from '../os/distro-profile.ts';
import { monotonicNow } from '../util/clock.ts';

export interface RunExtHandlersOptions {
  /** Stops the loop after the current cycle (tests; the process itself stops on SIGTERM / SIGINT). */
  signal?: AbortSignal;
  /** RemoteAccess (JIT) accounts, default on (see ExtensionsLoopOptions.remoteAccess). */
  remoteAccess?: boolean;
}

/** Exit 0 when stopped (or after -once with the goal state fetched), 1 when -once could not fetch the goal state. */
export async function runExtHandlersCommand(
  config: Config,
  inv: Invocation,
  profile: DistroProfile,
  opts: RunExtHandlersOptions = {},
): Promise<number> {
  const stop = new StopSignal();
  stop.install();
  const onAbort = () => stop.stop();
  opts.signal?.addEventListener('abort', onAbort);
  // The worker reuses the transport certificate and the endpoint the daemon found; no DHCP of its own (§10 item 39).
  // The stop signal also ends the HTTP client's retry waits, so SIGTERM is obeyed within a step, not after them.
  const loop = openExtensionsLoop(config, {
    configPath: inv.configPath ?? DEFAULT_CONFIG_PATH,
    profile,
    session: { stop },
    ...(opts.remoteAccess === false ? { remoteAccess: false } : {}),
  });
  const monitor = new MonitorRole(libDirOf(config));
  try {
    if (inv.once) return (await loop.cycle()) ? 0 : 1;
    // The cycle every period (as before, no back-off of its own), the heartbeats when due in between.
    const tasks = new PeriodicTasks(
      heartbeatTasks(
        () => loop.platform(),
        monotonicNow,
        () => monitor.claim(),
      ),
    );
    for (;;) {
      const started = monotonicNow();
      await loop.cycle();
      for (;;) {
        if (stop.stopped) return 0;
        const taskWait = await tasks.runDue(() => stop.stopped);
        const left = started + loop.periodMs() - monotonicNow();
        if (left <= 0 || stop.stopped) break;
        await stop.wait(Math.min(taskWait, left));
      }
      if (stop.stopped) return 0;
    }
  } finally {
    monitor.release();
    stop.uninstall();
    opts.signal?.removeEventListener('abort', onAbort);
    await loop.close();
  }
}
