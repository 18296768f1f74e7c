// When cloud-init provisions (docs/protocol.md §4.4, last paragraph): the agent waits for cloud-init's copy of
// ovf-env.xml in Lib.Dir (to honour ProvisionGuestAgent) and then for the SSH host key of the configured type,
// polling once a second for up to 1800 s each, as upstream does.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { libDirOf, type Config } from '../config/index.ts';
import { AgentError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { hostKeyType } from './host-keys.ts';
import { parseOvfEnv, type OvfEnv } from './ovf-env.ts';
import { monotonicNow } from '../util/clock.ts';

export const CLOUD_INIT_WAIT_MS = 1800_000;
const POLL_MS = 1000;

function hostKeyPath(config: Config): string {
  const type = hostKeyType(config) === 'auto' ? 'rsa' : hostKeyType(config);
  return join(config.str('OS.SshDir'), `ssh_host_${type}_key.pub`);
}

/**
 * Waits for `what`; for 'ovf-env' returns the parsed document. Throws a provisioning error naming the file when it
 * does not appear in time.
 */
export async function waitForCloudInit(config: Config, what: 'ovf-env' | 'host-key', waitMs = CLOUD_INIT_WAIT_MS): Promise<OvfEnv | null> {
  const path = what === 'ovf-env' ? join(libDirOf(config), 'ovf-env.xml') : hostKeyPath(config);
  const deadline = monotonicNow() + waitMs;
  let logged = false;
  for (;;) {
    if (existsSync(path)) return what === 'ovf-env' ? parseOvfEnv(readFileSync(path, 'utf8')) : null;
    if (monotonicNow() >= deadline) {
      throw new AgentError('provisioning', `cloud-init did not write ${path} within ${Math.round(waitMs / 1000)} s`, { path });
    }
    if (!logged) log.info(`waiting for cloud-init to write ${path}`);
    logged = true;
    await sleep(POLL_MS);
  }
}
