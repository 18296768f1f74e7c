// -serialconsole (docs/protocol.md §8.2): the legacy agent's `console=ttyS0 earlyprintk=ttyS0` on the kernel
// command line. GRUB 2 distros: GRUB_CMDLINE_LINUX in /etc/default/grub, then the distro's grub-mkconfig /
// grub2-mkconfig / update-grub. Flatcar has no /etc/default/grub: linux_append in the OEM partition's grub.cfg.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Invocation } from './invocation.ts';
import type { Config } from '../config/index.ts';
import { AgentError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';
import type { DistroProfile } from '../os/distro-profile.ts';
import { run, which } from '../os/exec.ts';

export const SERIAL_ARGS = ['console=ttyS0', 'earlyprintk=ttyS0'];

/** The arguments still missing from a command line (`console=ttyS0,115200` counts as console=ttyS0). */
function missingArgs(cmdline: string): string[] {
  const words = cmdline.split(/\s+/).filter(Boolean);
  return SERIAL_ARGS.filter((a) => !words.some((w) => w === a || w.startsWith(a + ',')));
}

const unquote = (v: string) => (/^(["']).*\1$/s.test(v) ? v.slice(1, -1) : v);

/** /etc/default/grub with the serial console on GRUB_CMDLINE_LINUX (its last assignment); null when already there. */
export function grubDefaultWithSerialConsole(text: string): string | null {
  const lines = text.split('\n');
  let at = -1;
  for (let i = 0; i < lines.length; i++) if (/^\s*GRUB_CMDLINE_LINUX=/.test(lines[i]!)) at = i;
  if (at < 0) {
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return [...lines, `GRUB_CMDLINE_LINUX="${SERIAL_ARGS.join(' ')}"`].join('\n') + '\n';
  }
  const m = /^(\s*GRUB_CMDLINE_LINUX=)(.*?)\s*$/.exec(lines[at]!)!;
  const value = unquote(m[2]!);
  const missing = missingArgs(value);
  if (missing.length === 0) return null;
  const quote = m[2]!.startsWith("'") ? "'" : '"';
  lines[at] = `${m[1]}${quote}${[value.trim(), ...missing].filter(Boolean).join(' ')}${quote}`;
  return lines.join('\n');
}

/** Flatcar's OEM grub.cfg with the serial console in linux_append; null when a live line already has both. */
export function flatcarGrubCfgWithSerialConsole(text: string): string | null {
  const lines = text.split('\n');
  const live = lines.filter((l) => !l.trim().startsWith('#')).join(' ');
  const missing = missingArgs(live.replace(/["']/g, ' '));
  if (missing.length === 0) return null;
  let at = -1;
  for (let i = 0; i < lines.length; i++) if (/^\s*set\s+linux_append=/.test(lines[i]!)) at = i;
  if (at < 0) {
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return [...lines, `set linux_append="$linux_append ${missing.join(' ')}"`].join('\n') + '\n';
  }
  const m = /^(\s*set\s+linux_append=)(.*?)\s*$/.exec(lines[at]!)!;
  lines[at] = `${m[1]}"${[unquote(m[2]!).trim(), ...missing].filter(Boolean).join(' ')}"`;
  return lines.join('\n');
}

function modeOf(path: string): number {
  try {
    return statSync(path).mode & 0o7777;
  } catch {
    return 0o644;
  }
}

export interface SerialConsoleOptions {
  output?: NodeJS.WritableStream;
}

export async function serialconsoleCommand(
  _config: Config,
  _inv: Invocation,
  profile: DistroProfile,
  opts: SerialConsoleOptions = {},
): Promise<number> {
  const out = opts.output ?? process.stdout;
  const grub = profile.grub;
  if (grub.kind === 'flatcar-oem') {
    // The OEM partition is mounted at /oem on current Flatcar, /usr/share/oem before; a missing grub.cfg is created.
    const path = grub.paths.find((p) => existsSync(p)) ?? grub.paths.find((p) => existsSync(dirname(p)));
    if (!path)
      throw new AgentError('io', `none of ${grub.paths.join(', ')} nor their directories exist, so the boot loader cannot be configured`);
    const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
    const next = flatcarGrubCfgWithSerialConsole(text);
    if (next !== null) writeFileAtomic(path, next, { mode: modeOf(path) });
    out.write(
      next === null
        ? `${path} already sends the console to ttyS0\n`
        : `${path}: linux_append now has ${SERIAL_ARGS.join(' ')}; it applies at the next boot\n`,
    );
    log.info(`serialconsole: ${path} ${next === null ? 'unchanged' : 'updated'}`);
    return 0;
  }
  let text: string;
  try {
    text = readFileSync(grub.defaultFile, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (e as Error).message;
    throw new AgentError(
      'io',
      `${grub.defaultFile} ${why}, so the boot loader cannot be configured for the serial console`,
      { path: grub.defaultFile },
      e,
    );
  }
  const next = grubDefaultWithSerialConsole(text);
  if (next !== null) writeFileAtomic(grub.defaultFile, next, { mode: modeOf(grub.defaultFile) });
  let tool: string[] | null = null;
  for (const argv of grub.commands) {
    if (await which(argv[0]!)) {
      tool = argv;
      break;
    }
  }
  if (tool === null) {
    throw new AgentError(
      'command',
      `${grub.defaultFile} was updated but none of ${grub.commands.map((c) => c[0]).join(', ')} is installed to rebuild the GRUB configuration`,
    );
  }
  await run(tool, { timeoutMs: 300_000 });
  out.write(`${grub.defaultFile}: GRUB_CMDLINE_LINUX has ${SERIAL_ARGS.join(' ')}; ${tool.join(' ')} done; it applies at the next boot\n`);
  log.info(`serialconsole: ${grub.defaultFile} ${next === null ? 'unchanged' : 'updated'}, ran ${tool.join(' ')}`);
  return 0;
}
