// The two removal primitives of the Python agent's fileutil that -deprovision uses (docs/protocol.md §8.1):
// rm_files (each glob's matches that are files, a symlink to a file included) and rm_dirs (the CONTENTS of each
// directory; the directory itself stays, with its mode and owner).
import { globSync, lstatSync, readdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile(); // follows a symlink, as os.path.isfile
  } catch {
    return false;
  }
}

/** Removes the files matching each glob; returns what was removed. */
export function removeFiles(globs: readonly string[]): string[] {
  const removed: string[] = [];
  for (const g of globs) {
    const matches = /[*?[]/.test(g) ? globSync(g) : [g];
    for (const p of matches.sort()) {
      if (!isFile(p)) continue;
      unlinkSync(p);
      removed.push(p);
    }
  }
  return removed;
}

/** Empties each directory that exists (not following a symlinked directory); returns the entries removed. */
export function emptyDirs(dirs: readonly string[]): string[] {
  const removed: string[] = [];
  for (const d of dirs) {
    try {
      if (!lstatSync(d).isDirectory()) continue;
    } catch {
      continue;
    }
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      rmSync(p, { recursive: true, force: true });
      removed.push(p);
    }
  }
  return removed;
}
