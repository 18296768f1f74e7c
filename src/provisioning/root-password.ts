// Provisioning.DeleteRootPassword (docs/protocol.md §4.4 step 10): the root entry of the shadow file becomes
// `root:*LOCK*:14600::::::`, moved to the first line, the file's mode and owner kept.
import { readFileSync, statSync } from 'node:fs';
import type { Config } from '../config/index.ts';
import { AgentError } from '../util/errors.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';

export const LOCKED_ROOT_ENTRY = 'root:*LOCK*:14600::::::';

/** The shadow text with the root entry replaced by the locked one, as the first line. */
export function lockRootEntry(shadow: string): string {
  const lines = shadow.split('\n').filter((l) => !l.startsWith('root:'));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return [LOCKED_ROOT_ENTRY, ...lines].join('\n') + '\n';
}

export function deleteRootPassword(config: Config): void {
  const path = config.str('OS.PasswordPath');
  if (!path) throw new AgentError('config', 'OS.PasswordPath is not set, so the root password cannot be deleted');
  let text: string;
  let st: import('node:fs').Stats;
  try {
    st = statSync(path);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new AgentError(
      'provisioning',
      `cannot read the password file ${path} to delete the root password: ${(e as Error).message}`,
      { path },
      e,
    );
  }
  writeFileAtomic(path, lockRootEntry(text), { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
}
