// Path rules for extracting a zip without letting it write outside its destination: entry names and
// symlink targets are checked lexically here; zip-read.ts then makes sure the file system agrees.
//
// API:
//   safeEntryPath(name: string, what: string): string       the entry's relative path ("a/b"), or an AgentError
//   symlinkTargetInside(entryPath: string, target: string): boolean
import { posix } from 'node:path';
import { AgentError } from '../util/errors.ts';

function refuse(what: string, name: string, why: string): AgentError {
  return new AgentError('extension', `entry "${name}" of ${what} is refused: ${why}`, { archive: what, entry: name });
}

/**
 * The normalised relative path of an entry name: "." and empty components dropped, a trailing "/" removed.
 * Refused: absolute names, ".." components, backslashes (a Windows "..\" would pass a "/" check), NUL bytes and
 * other control characters (a newline in a file name breaks every log and listing that shows it), and names with
 * nothing left.
 */
export function safeEntryPath(name: string, what: string): string {
  if (name.includes('\0')) throw refuse(what, name, 'its name contains a NUL byte');
  if (/[\x01-\x1f\x7f]/.test(name)) throw refuse(what, JSON.stringify(name).slice(1, -1), 'its name contains a control character');
  if (name.includes('\\')) throw refuse(what, name, 'its name contains a backslash');
  if (name.startsWith('/')) throw refuse(what, name, 'its name is an absolute path');
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw refuse(what, name, 'its name contains a ".." component');
  if (parts.length === 0) throw refuse(what, name, 'its name is empty');
  return parts.join('/');
}

/** A relative symlink target that, resolved from the link's own directory, stays inside the extraction root. */
export function symlinkTargetInside(entryPath: string, target: string): boolean {
  if (target === '' || target.includes('\0') || target.startsWith('/')) return false;
  const resolved = posix.normalize(posix.join(posix.dirname(entryPath), target));
  return resolved !== '..' && !resolved.startsWith('../');
}
