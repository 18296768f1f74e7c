// The provisioned user's sudo rule (docs/protocol.md §4.4 step 8, §10 item 34): one line in
// <OS.SudoersDir>/waagent (mode 0440), NOPASSWD only when no password was provisioned, never duplicated,
// and `#includedir` appended to the main sudoers file when the directory had to be created. In os because
// provisioning and the RemoteAccess JIT accounts (§2.9) both use it.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Config } from '../config/index.ts';
import { AgentError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomic } from './atomic-file.ts';
import { run, which } from './exec.ts';

export interface SudoersOptions {
  /** The main sudoers file; default: `sudoers` beside OS.SudoersDir (/etc/sudoers). */
  sudoersFile?: string;
}

export function sudoersLine(user: string, hasPassword: boolean): string {
  return hasPassword ? `${user} ALL=(ALL) ALL` : `${user} ALL=(ALL) NOPASSWD: ALL`;
}

/**
 * The drop-in text with the user's rule: unchanged when the line is there, and a rule of ours in the other form
 * (with/without NOPASSWD, from an earlier provisioning) replaced, so re-provisioning with a password drops NOPASSWD.
 */
export function withSudoersLine(existing: string, user: string, hasPassword: boolean): string {
  const want = sudoersLine(user, hasPassword);
  const other = sudoersLine(user, !hasPassword);
  const lines = existing.split('\n').map((l) => l.replace(/\r$/, ''));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const kept = lines.filter((l) => l.trim() !== other);
  if (!kept.some((l) => l.trim() === want)) kept.push(want);
  return kept.join('\n') + '\n';
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new AgentError('provisioning', `cannot read ${path}: ${(e as Error).message}`, { path }, e);
  }
}

function modeOf(path: string, fallback: number): number {
  try {
    return statSync(path).mode & 0o7777;
  } catch {
    return fallback;
  }
}

/** visudo -c -f on the candidate text (when visudo exists): a broken drop-in would lock everyone out of sudo. */
async function checkSyntax(text: string, file: string): Promise<void> {
  if (!(await which('visudo'))) return;
  const r = await run(['visudo', '-c', '-q', '-f', '-'], { input: text, allowFailure: true, timeoutMs: 5000 });
  if (r.code !== 0) {
    const why = (r.stderr || r.stdout).trim().split('\n')[0] ?? '';
    throw new AgentError('provisioning', `the sudoers rule for ${file} was rejected by visudo: ${why}`, { path: file });
  }
}

export async function grantSudo(config: Config, user: string, hasPassword: boolean, opts: SudoersOptions = {}): Promise<void> {
  if (!/^[a-z_][a-z0-9_.-]*\$?$/i.test(user)) {
    throw new AgentError('provisioning', `the user name "${user}" cannot be written into a sudoers rule`, { user });
  }
  const dir = config.str('OS.SudoersDir');
  if (!dir) throw new AgentError('config', 'OS.SudoersDir is not set, so the sudo rule has no place');
  const file = join(dir, 'waagent');
  if (!existsSync(dir)) {
    // A directory we create is not read by sudo until the main file includes it.
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    const main = opts.sudoersFile ?? join(dirname(dir), 'sudoers');
    const text = readOrEmpty(main);
    if (!text.split('\n').some((l) => /^[#@]includedir\s+/.test(l.trim()) && l.trim().split(/\s+/)[1] === dir)) {
      writeFileAtomic(main, `${text}\n#includedir ${dir}\n`, { mode: modeOf(main, 0o440) });
      log.info(`added #includedir ${dir} to ${main}`);
    }
  }
  const before = readOrEmpty(file);
  const after = withSudoersLine(before, user, hasPassword);
  await checkSyntax(after, file);
  // Rewritten even when unchanged: that also repairs a wrong mode.
  writeFileAtomic(file, after, { mode: 0o440 });
  log.info(`sudo rule for ${user} in ${file}${hasPassword ? '' : ' (NOPASSWD: no password was provisioned)'}`);
}

/** Removes the user's rules of ours (either form) from <OS.SudoersDir>/waagent; nothing to do without the file. */
export function revokeSudo(config: Config, user: string): void {
  const dir = config.str('OS.SudoersDir');
  if (!dir) return;
  const file = join(dir, 'waagent');
  const before = readOrEmpty(file);
  const ours = new Set([sudoersLine(user, true), sudoersLine(user, false)]);
  const lines = before.split('\n');
  const after = lines.filter((l) => !ours.has(l.replace(/\r$/, '').trim()));
  if (after.length === lines.length) return;
  writeFileAtomic(file, after.join('\n'), { mode: 0o440 });
  log.info(`sudo rule for ${user} removed from ${file}`);
}
