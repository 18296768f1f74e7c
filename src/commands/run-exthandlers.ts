// waagent -run-exthandlers (docs/protocol.md §7.1): the goal-state / extensions / status loop alone (the daemon
// runs the same loop in its own process). Every Extensions.GoalStatePeriod (InitialGoalStatePeriod until the first
// goal state converged): fetch the goal state, process extensions on a new extensions goal state id, build and
// upload the status blob. -once: one iteration, then exit.
import type { Invocation } from './invocation.ts';
import { DEFAULT_CONFIG_PATH, type Config } from '../config/index.ts';
import { StopSignal } from '../daemon/stop-signal.ts';
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
  try {
    for (;;) {
      const started = monotonicNow();
      const ok = await loop.cycle();
      if (inv.once) return ok ? 0 : 1;
      if (stop.stopped) return 0;
      await stop.wait(Math.max(0, loop.periodMs() - (monotonicNow() - started)));
      if (stop.stopped) return 0;
    }
  } finally {
    stop.uninstall();
    opts.signal?.removeEventListener('abort', onAbort);
    await loop.close();
  }
}
