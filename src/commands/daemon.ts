// waagent -daemon (docs/contract.md §3, docs/protocol.md §7.1): provisioning, then the goal-state / extension / status
// loop and the periodic OS duties, in this one process until SIGTERM.
import type { Invocation } from './invocation.ts';
import { DEFAULT_CONFIG_PATH, type Config } from '../config/index.ts';
import { runDaemon } from '../daemon/daemon.ts';
import { openExtensionsLoop } from '../extensions/loop.ts';
import type { DistroProfile } from '../os/distro-profile.ts';

export async function daemonCommand(config: Config, inv: Invocation, profile: DistroProfile): Promise<number> {
  return runDaemon(config, profile, {
    // Only the daemon sends its own DHCPDISCOVER and makes a fresh transport certificate (§10 item 39). The stop
    // signal reaches the HTTP client: SIGTERM during a WireServer outage must not sit out minutes of retries.
    openExtensionsLoop: async (c, stop) =>
      openExtensionsLoop(c, {
        configPath: inv.configPath ?? DEFAULT_CONFIG_PATH,
        profile,
        session: { newTransportCert: true, dhcp: {}, stop },
      }),
  });
}
