// Who provisions this VM (docs/protocol.md §4.1): one decision from Provisioning.Agent, the legacy
// Provisioning.Enabled / Provisioning.UseCloudInit switches, and whether cloud-init is enabled.
import type { Config } from '../config/index.ts';
import { AgentError } from '../util/errors.ts';
import { run } from '../os/exec.ts';

export type Provisioner = 'waagent' | 'cloud-init' | 'disabled';

const AGENTS = ['auto', 'waagent', 'cloud-init', 'disabled'] as const;

/** Each probe is bounded: a hung systemctl must not hold up provisioning. */
const PROBE_TIMEOUT_MS = 3000;

/** `systemctl is-enabled cloud-init-local.service` prints "enabled", or `service cloud-init status` succeeds. */
export async function isCloudInitEnabled(): Promise<boolean> {
  try {
    const r = await run(['systemctl', 'is-enabled', 'cloud-init-local.service'], { allowFailure: true, timeoutMs: PROBE_TIMEOUT_MS });
    if (r.stdout.trim() === 'enabled') return true;
  } catch {
    /* no systemctl */
  }
  try {
    const r = await run(['service', 'cloud-init', 'status'], { allowFailure: true, timeoutMs: PROBE_TIMEOUT_MS });
    return r.code === 0;
  } catch {
    return false;
  }
}

/**
 * The provisioner. Provisioning.Agent wins when it is not `auto`; with `auto`, the legacy switches decide if
 * they were changed from their defaults (Enabled=n: disabled, or cloud-init with UseCloudInit=y;
 * UseCloudInit=y alone: cloud-init); otherwise cloud-init if it is enabled on the machine, else waagent.
 */
export async function decideProvisioner(
  config: Config,
  cloudInitEnabled: () => Promise<boolean> = isCloudInitEnabled,
): Promise<Provisioner> {
  const agent = config.str('Provisioning.Agent').trim().toLowerCase();
  if (!(AGENTS as readonly string[]).includes(agent)) {
    throw new AgentError('config', `Provisioning.Agent=${agent} is not one of auto, waagent, cloud-init or disabled`, { value: agent });
  }
  if (agent !== 'auto') return agent as Provisioner;
  const useCloudInit = config.bool('Provisioning.UseCloudInit');
  if (!config.bool('Provisioning.Enabled')) return useCloudInit ? 'cloud-init' : 'disabled';
  if (useCloudInit) return 'cloud-init';
  return (await cloudInitEnabled()) ? 'cloud-init' : 'waagent';
}
