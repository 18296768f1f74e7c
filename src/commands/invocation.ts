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
}
