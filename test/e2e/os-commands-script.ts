// Runs INSIDE the namespace sandbox (started by deprovision.test.ts, never on the host): calls one of the OS
// commands in-process with the sandbox's /etc/waagent.conf; for -deprovision stdin answers the prompt.
// argv: <deprovision|deprovision+user|serialconsole|collect-logs> [-force] [-full]
import { parseArgs } from '../../src/cli.ts';
import { collectLogsCommand } from '../../src/commands/collect-logs.ts';
import { deprovisionCommand } from '../../src/commands/deprovision.ts';
import { serialconsoleCommand } from '../../src/commands/serialconsole.ts';
import { loadConfig } from '../../src/config/index.ts';
import { describeError } from '../../src/util/errors.ts';
import { log } from '../../src/log/logger.ts';
import { detectProfile } from '../../src/os/distro-profile.ts';

const [command, ...flags] = process.argv.slice(2);
const inv = parseArgs([`-${command}`, ...flags]);
const config = loadConfig('/etc/waagent.conf');
log.addFile(config.str('Logs.File')!, 'VERBOSE');
// the sandbox's os-release (the host's distro), read once as main.ts does
const profile = detectProfile();
const commands = {
  deprovision: () => deprovisionCommand(config, inv, profile),
  'deprovision+user': () => deprovisionCommand(config, inv, profile),
  serialconsole: () => serialconsoleCommand(config, inv, profile),
  'collect-logs': () => collectLogsCommand(config, inv),
};
try {
  process.exitCode = await commands[inv.command as keyof typeof commands]();
} catch (e) {
  process.stderr.write(`waagent: ${describeError(e)}\n`);
  process.exitCode = 1;
}
