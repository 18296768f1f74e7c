// Entry point: parse the command line, load the configuration, set up logging, run one command.
// Command modules are imported lazily so that -version and -help stay cheap to start.
import { fstatSync } from 'node:fs';
import { parseArgs, USAGE } from './cli.ts';
import type { Invocation } from './commands/invocation.ts';
import { AgentError, describeError } from './util/errors.ts';
import { log, stderrIsJournal } from './log/logger.ts';
import { loadConfig, DEFAULT_CONFIG_PATH, Config } from './config/index.ts';
import { detectProfile, type DistroProfile } from './os/distro-profile.ts';

const READ_ONLY = new Set<Invocation['command']>(['help', 'version', 'show-configuration']);

// The distro profile is read once here (from /etc/os-release) and handed to the command; no module below detects it.
async function dispatch(inv: Invocation, config: Config, profile: DistroProfile): Promise<number> {
  switch (inv.command) {
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    case 'version': {
      const { versionText } = await import('./commands/version.ts');
      process.stdout.write(versionText(profile.distro) + '\n');
      return 0;
    }
    case 'show-configuration': {
      const { showConfiguration } = await import('./commands/show-configuration.ts');
      process.stdout.write(showConfiguration(config) + '\n');
      return 0;
    }
    case 'goal-state': {
      const { goalState } = await import('./commands/goal-state.ts');
      process.stdout.write(JSON.stringify(await goalState(config, profile), null, 2) + '\n');
      return 0;
    }
    case 'provision': {
      const { provisionCommand } = await import('./commands/provision.ts');
      return provisionCommand(config, inv, profile);
    }
    case 'daemon': {
      const { daemonCommand } = await import('./commands/daemon.ts');
      return daemonCommand(config, inv, profile);
    }
    case 'run-exthandlers': {
      const { runExtHandlersCommand } = await import('./commands/run-exthandlers.ts');
      return runExtHandlersCommand(config, inv, profile);
    }
    case 'start': {
      const { startCommand } = await import('./commands/start.ts');
      return startCommand(config, inv);
    }
    case 'deprovision':
    case 'deprovision+user': {
      const { deprovisionCommand } = await import('./commands/deprovision.ts');
      return deprovisionCommand(config, inv, profile, { withUser: inv.command === 'deprovision+user' });
    }
    case 'serialconsole': {
      const { serialconsoleCommand } = await import('./commands/serialconsole.ts');
      return serialconsoleCommand(config, inv, profile);
    }
    case 'collect-logs': {
      const { collectLogsCommand } = await import('./commands/collect-logs.ts');
      return collectLogsCommand(config, inv);
    }
    case 'register-service': {
      const { registerServiceCommand } = await import('./commands/register-service.ts');
      return registerServiceCommand(config, inv, profile);
    }
    case 'setup-firewall': {
      const { setupFirewallCommand } = await import('./commands/setup-firewall.ts');
      return setupFirewallCommand(config, inv);
    }
    default: {
      // every command of cli.ts has its case above: the compiler checks it here
      const unhandled: never = inv.command;
      throw new AgentError('usage', `unknown command -${String(unhandled)}`);
    }
  }
}

function setUpLogging(inv: Invocation, config: Config): void {
  const file = config.str('Logs.File');
  const verbose = inv.verbose || config.bool('Logs.Verbose');
  if (file) log.addFile(file, verbose ? 'VERBOSE' : 'INFO');
  // Under systemd, INFO and above also go to the journal (the Python agent writes INFO to stdout); -verbose
  // already sends every line to stderr, which then is the journal itself.
  if (inv.verbose) log.addStderr('VERBOSE');
  else if (stderrIsJournal(process.env, fstatOrNull(2))) log.addJournal('INFO');
}

function fstatOrNull(fd: number): { dev: number; ino: number } | null {
  try {
    return fstatSync(fd);
  } catch {
    return null;
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  // What `ps`, `pgrep waagent` and `systemctl status` show (Node's main thread would be "MainThread"). The kernel's
  // comm keeps 15 bytes of it: "waagent -daemon".
  process.title = ['waagent', ...argv].join(' ');
  let inv: Invocation;
  try {
    inv = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`waagent: ${describeError(e)}\n${USAGE}`);
    return 2;
  }
  if (inv.command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  let config: Config;
  try {
    // -version must work on a machine with no configuration file at all.
    config = inv.command === 'version' && inv.configPath === null ? Config.defaults() : loadConfig(inv.configPath ?? DEFAULT_CONFIG_PATH);
  } catch (e) {
    process.stderr.write(`waagent: ${describeError(e)}\n`);
    return e instanceof AgentError ? e.exitCode : 2;
  }
  // Read-only commands leave no trace on the machine: no log file is opened for them.
  if (!READ_ONLY.has(inv.command)) setUpLogging(inv, config);
  for (const w of config.warnings) {
    process.stderr.write(`waagent: warning: ${w.message}\n`);
    log.warn(w.message);
  }
  try {
    return await dispatch(inv, config, detectProfile());
  } catch (e) {
    const msg = describeError(e);
    process.stderr.write(`waagent: ${msg}\n`);
    log.error(msg);
    return e instanceof AgentError ? e.exitCode : 1;
  }
}
