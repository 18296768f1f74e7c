// waagent -start (docs/contract.md §3): runs -daemon in the background and returns at once, as the Python agent's
// `waagent -start` does. The same executable and configuration file are used.
import type { Invocation } from './invocation.ts';
import type { Config } from '../config/index.ts';
import { log } from '../log/logger.ts';
import { spawnDetached } from '../os/exec.ts';

/** How this program was started: the SEA executable alone, or node and the bundle. */
export function selfArgv(): string[] {
  const script = process.argv[1];
  // In the single executable argv[1] repeats the executable; with node it is the bundle.
  return script && script !== process.execPath && /\.(c|m)?js$/.test(script) ? [process.execPath, script] : [process.execPath];
}

export async function startCommand(_config: Config, inv: Invocation): Promise<number> {
  const argv = [
    ...selfArgv(),
    '-daemon',
    ...(inv.configPath ? [`-configuration-path:${inv.configPath}`] : []),
    ...(inv.verbose ? ['-verbose'] : []),
  ];
  const pid = spawnDetached(argv);
  log.info(`started the daemon in the background (pid ${pid})`);
  process.stdout.write(`waagent daemon started (pid ${pid})\n`);
  return 0;
}
