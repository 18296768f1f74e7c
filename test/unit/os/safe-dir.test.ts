// checkRealDirectory (src/os/safe-read.ts): the directories an extension can change are checked before the agent
// writes in them; a link anywhere below the trusted root is refused with one sentence, a missing part is fine.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { UnsafeFileError, checkRealDirectory } from '../../../src/os/safe-read.ts';

test('checkRealDirectory: real directories pass, a missing part passes, links and files on the way are refused', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'safe-dir-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'H-1.0/config'), { recursive: true });
  checkRealDirectory(join(root, 'H-1.0/config'), root);
  checkRealDirectory(join(root, 'H-1.0/status/sub'), root);
  const elsewhere = mkdtempSync(join(tmpdir(), 'safe-dir-target-'));
  t.after(() => rmSync(elsewhere, { recursive: true, force: true }));
  symlinkSync(elsewhere, join(root, 'H-1.0/status'));
  symlinkSync(elsewhere, join(root, 'G-1.0'));
  writeFileSync(join(root, 'F-1.0'), 'x');
  const refused = (dir: string, reason: string, message: RegExp) =>
    assert.throws(
      () => checkRealDirectory(dir, root),
      (e: unknown) => e instanceof UnsafeFileError && e.reason === reason && message.test(e.message),
    );
  refused(join(root, 'H-1.0/status'), 'symlink', /H-1\.0\/status is a symbolic link, which the agent does not write through/);
  refused(join(root, 'G-1.0/config'), 'symlink', /G-1\.0 is a symbolic link/);
  refused(join(root, 'F-1.0/config'), 'not-regular', /F-1\.0 is a regular file, not a directory/);
  refused('/etc', 'outside', /is not inside/);
  refused(`${root}-other/x`, 'outside', /is not inside/);
});
