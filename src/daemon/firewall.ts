// The WireServer firewall (docs/protocol.md §7.1, OS.EnableFirewall): only root may open TCP connections to the
// WireServer (DNS on port 53 excepted), so an unprivileged process cannot ask it for certificates or settings.
// iptables (the security table's OUTPUT chain, as upstream) when present, else nftables. Checked every
// OS.EnableFirewallPeriod and put back when something removed the rules.
import type { Config } from '../config/index.ts';
import { AgentError, describeError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { run, which } from '../os/exec.ts';
import type { PeriodicTask } from '../util/periodic.ts';

const TIMEOUT_MS = 10_000;

/** The three rules, in order, as iptables arguments after `-t security -A OUTPUT`. */
export function iptablesRules(wireServer: string, uid = 0): string[][] {
  return [
    ['-d', wireServer, '-p', 'tcp', '--destination-port', '53', '-j', 'ACCEPT'],
    ['-d', wireServer, '-p', 'tcp', '-m', 'owner', '--uid-owner', String(uid), '-j', 'ACCEPT'],
    ['-d', wireServer, '-p', 'tcp', '-m', 'conntrack', '--ctstate', 'INVALID,NEW', '-j', 'DROP'],
  ];
}

/** The nftables equivalent: one table of ours, replaced as a whole (`nft -f -` is atomic). */
export function nftRuleset(wireServer: string, uid = 0): string {
  return [
    'table ip walinuxagent {',
    '  chain output {',
    '    type filter hook output priority 0; policy accept;',
    `    ip daddr ${wireServer} tcp dport != 53 skuid != ${uid} ct state invalid,new counter drop`,
    '  }',
    '}',
    '',
  ].join('\n');
}

async function iptablesHas(iptables: string, rule: string[]): Promise<boolean> {
  const r = await run([iptables, '-w', '-t', 'security', '-C', 'OUTPUT', ...rule], { allowFailure: true, timeoutMs: TIMEOUT_MS });
  return r.code === 0;
}

export type FirewallOutcome = 'unchanged' | 'added' | 'replaced';

/** Makes sure the rules are in place; returns what it had to do. */
export async function ensureFirewall(wireServer: string, uid = 0): Promise<FirewallOutcome> {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(wireServer)) {
    throw new AgentError('config', `the WireServer address ${wireServer} is not an IPv4 address; no firewall rule can name it`);
  }
  const iptables = await which('iptables');
  if (iptables) {
    const rules = iptablesRules(wireServer, uid);
    const present = await Promise.all(rules.map((r) => iptablesHas(iptables, r)));
    if (present.every(Boolean)) return 'unchanged';
    // Order matters (the ACCEPTs before the DROP): remove what is there and add all three again.
    for (const [i, rule] of rules.entries())
      if (present[i]) await run([iptables, '-w', '-t', 'security', '-D', 'OUTPUT', ...rule], { timeoutMs: TIMEOUT_MS });
    for (const rule of rules) await run([iptables, '-w', '-t', 'security', '-A', 'OUTPUT', ...rule], { timeoutMs: TIMEOUT_MS });
    log.info(`firewall: only ${uid === 0 ? 'root' : `uid ${uid}`} may reach the WireServer ${wireServer} (iptables security table)`);
    return present.some(Boolean) ? 'replaced' : 'added';
  }
  const nft = await which('nft');
  if (!nft) throw new AgentError('command', 'OS.EnableFirewall is set but neither iptables nor nft is installed');
  const wanted = nftRuleset(wireServer, uid);
  const listed = await run([nft, 'list', 'table', 'ip', 'walinuxagent'], { allowFailure: true, timeoutMs: TIMEOUT_MS });
  if (listed.code === 0 && listed.stdout.includes(`ip daddr ${wireServer} tcp dport != 53 skuid != ${uid} ct state invalid,new`))
    return 'unchanged';
  const script = (listed.code === 0 ? 'delete table ip walinuxagent\n' : '') + wanted;
  await run([nft, '-f', '-'], { input: script, timeoutMs: TIMEOUT_MS });
  log.info(`firewall: only ${uid === 0 ? 'root' : `uid ${uid}`} may reach the WireServer ${wireServer} (nftables table walinuxagent)`);
  return listed.code === 0 ? 'replaced' : 'added';
}

/**
 * The live rules every OS.EnableFirewallPeriod; the first time they are in place in this process, `persist` makes them
 * survive a reboot (upstream's ExtHandler does both once at start, then checks the live rules periodically). A failed
 * persist is logged, not retried, as upstream's.
 */
export function firewallTask(
  config: Config,
  wireServer: () => string | null,
  persist?: (wireServer: string) => Promise<unknown>,
): PeriodicTask {
  let persisted = false;
  return {
    name: 'WireServer firewall',
    periodMs: config.int('OS.EnableFirewallPeriod') * 1000,
    async run() {
      const ws = wireServer();
      if (!ws) return;
      await ensureFirewall(ws);
      if (persisted || !persist) return;
      persisted = true;
      log.info('Setting up persistent firewall rules');
      try {
        await persist(ws);
      } catch (e) {
        log.error(`Unable to setup the persistent firewall rules: ${describeError(e)}`);
      }
    },
  };
}
