// -setup-firewall (agent.py's setup_firewall): the WireServer rules of the daemon's firewall (src/daemon/firewall.ts),
// applied once, at boot, by waagent-network-setup.service before the network comes up and before the agent starts
// (upstream's persist_firewall_rules.py). The address comes on the command line because the agent has not discovered
// it yet at that point. Upstream exits 1 when the rules cannot be added, and so do we; a missing address is that case.
import type { Config } from '../config/index.ts';
import { ensureFirewall } from '../daemon/firewall.ts';
import { log } from '../log/logger.ts';
import { AgentError, describeError } from '../util/errors.ts';
import type { Invocation } from './invocation.ts';

export interface SetupFirewallOptions {
  output?: NodeJS.WritableStream;
}

export async function setupFirewallCommand(_config: Config, inv: Invocation, opts: SetupFirewallOptions = {}): Promise<number> {
  const out = opts.output ?? process.stdout;
  const dstIp = inv.firewall?.dstIp ?? null;
  if (dstIp === null) {
    throw new AgentError(
      'command',
      'Unable to add firewall rules: -setup-firewall needs the WireServer address (-setup-firewall=<IP>, or -dst_ip=<IP>)',
    );
  }
  // 2.15 allows the uid of the process that runs it (root, from the unit); the earlier spelling names it.
  const uid = inv.firewall?.uid ?? process.getuid?.() ?? 0;
  log.info(`Setting up firewall after boot. Endpoint: ${dstIp}`);
  try {
    const outcome = await ensureFirewall(dstIp, uid);
    log.info(`Successfully set the firewall rules (${outcome})`);
    out.write(`Successfully set the firewall rules for ${dstIp} (uid ${uid} allowed)\n`);
    return 0;
  } catch (e) {
    throw new AgentError('command', `Unable to add firewall rules: ${describeError(e)}`, { dstIp, uid }, e);
  }
}
