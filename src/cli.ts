// The waagent command line (docs/contract.md §3): single-dash spellings as the Python agent accepts them
// (it strips any leading "-" or "/"), and "--" spellings.
import { COMMANDS, type CommandName, type Invocation } from './commands/invocation.ts';
import { AgentError } from './util/errors.ts';

const ALIASES: Record<string, CommandName> = { usage: 'help', h: 'help', '?': 'help' };
const FLAGS = new Set(['verbose', 'force', 'once', 'debug', 'full']);

export const USAGE = `usage: waagent [-verbose] [-force] [-configuration-path:<path>] <command>

commands:
  -help                 show this help
  -version              show the agent version and the distribution
  -daemon               run the agent: provisioning, then the goal-state, extension and status loop
  -start                run -daemon in the background
  -provision            run only the provisioning phase once and exit (0 when Ready was reported)
  -run-exthandlers      run the goal-state, extension and status loop (with -once: one iteration)
  -deprovision          clean the VM for capture as an image (asks first unless -force)
  -deprovision+user     as -deprovision, and also delete the last provisioned user
  -serialconsole        configure the boot loader to use ttyS0 as the console
  -show-configuration   print every configuration key with its effective value
  -collect-logs         write a zip of the agent's logs and state, secrets redacted
  -register-service     install the systemd unit
  -goal-state           fetch the goal state once and print it as JSON
  -setup-firewall=<IP>  allow only root to reach the WireServer at <IP> (run at boot by waagent-network-setup.service);
                        the earlier spelling -setup-firewall -dst_ip=<IP> -uid=<UID> [-w] works too

flags:
  -verbose              also log VERBOSE lines, and log to stderr
  -force                do not ask for confirmation
  -once                 with -run-exthandlers: one iteration, then exit
  -full                 with -collect-logs: collect everything, not only the default set
  -configuration-path:<path>   read this file instead of /etc/waagent.conf
`;

// -setup-firewall's arguments (agent.py's parse_args: an address is [\d.]{7,}, checked as IPv4 here)
const SETUP_FIREWALL = /^setup-firewall(?:=(.*))?$/;
const DST_IP = /^dst_ip=(.*)$/;
const UID = /^uid=(.*)$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

function firewallAddress(arg: string, value: string): string {
  if (!IPV4.test(value))
    throw new AgentError('usage', `the option ${arg} needs the WireServer's IPv4 address, as in -setup-firewall=168.63.129.16`);
  return value;
}

export function parseArgs(argv: readonly string[]): Invocation {
  const inv: Invocation = { command: 'help', verbose: false, force: false, once: false, full: false, configPath: null };
  let command: CommandName | null = null;
  for (const arg of argv) {
    const word = arg.replace(/^[-/]+/, '');
    const cfg = /^configuration-path(?:[:=](.*))?$/.exec(word);
    if (cfg) {
      if (!cfg[1]) throw new AgentError('usage', `the option ${arg} needs a file name: -configuration-path:<file>`);
      inv.configPath = cfg[1];
      continue;
    }
    const fw = SETUP_FIREWALL.exec(word) ?? DST_IP.exec(word) ?? UID.exec(word) ?? (word === 'w' || word === 'wait' ? [word] : null);
    if (fw) {
      inv.firewall ??= { dstIp: null, uid: null };
      const f = inv.firewall;
      if (word.startsWith('uid=')) {
        if (!/^\d{1,10}$/.test(fw[1] ?? '')) throw new AgentError('usage', `the option ${arg} needs a numeric user id, as in -uid=0`);
        f.uid = Number(fw[1]);
      } else if (word.startsWith('dst_ip=') || fw[1] !== undefined) {
        f.dstIp = firewallAddress(arg, fw[1] ?? '');
      }
      if (word.startsWith('setup-firewall')) {
        if (command !== null && command !== 'setup-firewall') throw new AgentError('usage', `two commands given: -${command} and ${arg}`);
        command = 'setup-firewall';
      }
      continue;
    }
    if (FLAGS.has(word)) {
      if (word === 'verbose' || word === 'debug') inv.verbose = true;
      if (word === 'force') inv.force = true;
      if (word === 'once') inv.once = true;
      if (word === 'full') inv.full = true;
      continue;
    }
    const name = (COMMANDS as readonly string[]).includes(word) ? (word as CommandName) : ALIASES[word];
    // A bare word works as in the Python agent, whose patterns are ^[-/]*<command> (`waagent version`).
    if (!name || word === '') {
      throw new AgentError('usage', `unknown command or option: ${arg}`);
    }
    if (command !== null && command !== name) {
      throw new AgentError('usage', `two commands given: -${command} and ${arg}`);
    }
    command = name;
  }
  if (inv.firewall && command !== 'setup-firewall') {
    throw new AgentError('usage', '-dst_ip, -uid and -w go only with -setup-firewall');
  }
  inv.command = command ?? 'help';
  return inv;
}
