// -deprovision and -deprovision+user (docs/protocol.md §8.1): print the warnings, ask "Do you want to proceed (y/n)"
// unless -force, then clean the VM for capture. SIGINT aborts while the question is open and is ignored once the
// actions run, as in the Python agent.
import { createInterface } from 'node:readline';
import type { Invocation } from './invocation.ts';
import type { Config } from '../config/index.ts';
import { log } from '../log/logger.ts';
import type { DistroProfile } from '../os/distro-profile.ts';
import { executePlan } from '../deprovision/execute.ts';
import { buildPlan, gatherFacts } from '../deprovision/plan.ts';

export interface DeprovisionOptions {
  /** default: whether the command is -deprovision+user */
  withUser?: boolean;
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  /** present when systemd is PID 1; default /run/systemd/system */
  systemdMarker?: string;
}

/** One line from the stream; null at end of input. */
function readAnswer(input: NodeJS.ReadableStream): { answer: Promise<string | null>; close: () => void } {
  const rl = createInterface({ input, terminal: false });
  const answer = new Promise<string | null>((resolve) => {
    rl.once('line', (l) => resolve(l));
    rl.once('close', () => resolve(null));
  });
  return { answer, close: () => rl.close() };
}

export async function deprovisionCommand(
  config: Config,
  inv: Invocation,
  profile: DistroProfile,
  opts: DeprovisionOptions = {},
): Promise<number> {
  const withUser = opts.withUser ?? inv.command === 'deprovision+user';
  const out = opts.output ?? process.stdout;
  const plan = buildPlan(config, profile, gatherFacts(config), withUser);
  for (const w of plan.warnings) out.write(w + '\n');

  if (!inv.force) {
    out.write('Do you want to proceed (y/n)');
    const { answer, close } = readAnswer(opts.input ?? process.stdin);
    let interrupted = false;
    const onSigint = () => {
      interrupted = true;
      close();
    };
    process.on('SIGINT', onSigint);
    const line = await answer;
    process.off('SIGINT', onSigint);
    close();
    out.write('\n');
    if (interrupted) {
      out.write('Deprovision is interrupted.\n');
      return 0;
    }
    // Not confirmed: nothing is changed, not even the log.
    if (!line?.trim().toLowerCase().startsWith('y')) return 0;
  }

  const ignoreSigint = () => out.write('Deprovisioning may not be interrupted.\n');
  process.on('SIGINT', ignoreSigint);
  try {
    // The agent log is one of the files removed: stop writing it first, or the next line would re-create it.
    log.info(`deprovision${withUser ? '+user' : ''}: ${plan.actions.length} actions on ${profile.distro.name} ${profile.distro.version}`);
    log.closeFile(config.str('Logs.File'));
    const failures = await executePlan(config, profile, plan.actions, { systemdMarker: opts.systemdMarker });
    for (const f of failures) process.stderr.write(`waagent: ${f}\n`);
    return failures.length === 0 ? 0 : 1;
  } finally {
    process.off('SIGINT', ignoreSigint);
  }
}
