// What the command line asks for (docs/contract.md §3), as the command modules receive it. src/cli.ts parses
// argv into it; it lives here so that commands never import the process's entry layer.
export const COMMANDS = [
  'help',
  'version',
  'daemon',
  'start',
  'provision',
  'run-exthandlers',
  'deprovision',
  'deprovision+user',
  'serialconsole',
  'show-configuration',
  'collect-logs',
  'register-service',
  'goal-state',
  'setup-firewall',
] as const;
export type CommandName = (typeof COMMANDS)[number];

export interface Invocation {
  command: CommandName;
  verbose: boolean;
  force: boolean;
  once: boolean;
  /** -full: with -collect-logs, the Python agent's full collection mode */
  full: boolean;
  configPath: string | null;
  /**
   * -setup-firewall's arguments, in either spelling upstream has used: 2.15's `-setup-firewall=<IP>`, or the earlier
   * `-setup-firewall -dst_ip=<IP> -uid=<UID> [-w]` (its `-w` asked for iptables' wait option, which we always use).
   */
  firewall?: { dstIp: string | null; uid: number | null };
}
