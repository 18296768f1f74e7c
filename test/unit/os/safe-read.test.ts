// The symlink-safe file access of src/os/safe-read.ts (issue 11): reads that never follow a link or block on a
// FIFO, an owner check, a head read of a file of any size, and chown/chmod through the open descriptor.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  readHeadNoFollow,
  readRegularFile,
  readTextNoFollow,
  setOwnerAndModeNoFollow,
  UnsafeFileError,
} from '../../../src/os/safe-read.ts';

function tree(t: { after(fn: () => void): void }): string {
  const root = mkdtempSync(join(tmpdir(), 'safe-read-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

const refused = (fn: () => unknown, reason: string, message: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof UnsafeFileError && e.reason === reason && message.test(e.message));

test('readTextNoFollow: null when missing; links, FIFOs, large files, other owners refused with one sentence', (t) => {
  const root = tree(t);
  const target = join(root, 'secret');
  writeFileSync(target, 'root:x:secret');
  writeFileSync(join(root, 'state'), 'Enabled');
  symlinkSync(target, join(root, 'link'));
  execFileSync('mkfifo', [join(root, 'fifo')]);
  writeFileSync(join(root, 'big'), Buffer.alloc(200));
  const uid = process.geteuid?.() ?? 0;
  assert.equal(readTextNoFollow(join(root, 'state'), { maxBytes: 100, owner: uid, within: root }), 'Enabled');
  assert.equal(readTextNoFollow(join(root, 'missing'), { maxBytes: 100 }), null);
  refused(
    () => readTextNoFollow(join(root, 'link'), { maxBytes: 100 }),
    'symlink',
    /link is a symbolic link, which the agent does not follow/,
  );
  refused(() => readTextNoFollow(join(root, 'fifo'), { maxBytes: 100 }), 'not-regular', /fifo is a FIFO, not a regular file/);
  refused(() => readTextNoFollow(join(root, 'big'), { maxBytes: 100 }), 'too-large', /big is 200 bytes, over the 100-byte limit/);
  refused(
    () => readTextNoFollow(join(root, 'state'), { maxBytes: 100, owner: uid + 1 }),
    'wrong-owner',
    /belongs to uid \d+, not to uid \d+ as expected/,
  );
});

test('readRegularFile gives the fstat of the descriptor it read; readHeadNoFollow reads at most n bytes of any size', (t) => {
  const root = tree(t);
  writeFileSync(join(root, 'log'), 'a'.repeat(10_000));
  const r = readRegularFile(join(root, 'log'), { maxBytes: 20_000 });
  assert.equal(r.data.length, 10_000);
  assert.equal(r.stats.size, 10_000);
  assert.equal(r.stats.mtimeMs, statSync(join(root, 'log')).mtimeMs);
  assert.equal(readHeadNoFollow(join(root, 'log'), 4096).length, 4096);
  execFileSync('mkfifo', [join(root, 'fifo')]);
  refused(() => readHeadNoFollow(join(root, 'fifo'), 4096), 'not-regular', /is a FIFO/);
});

// runs as root (chown), as the unit tests do on this project's machines
test('setOwnerAndModeNoFollow: changes a real file or directory through its descriptor, refuses a link and the wrong kind', (t) => {
  const root = tree(t);
  const outside = join(root, 'outside');
  mkdirSync(outside, { mode: 0o755 });
  mkdirSync(join(root, 'home'), { mode: 0o755 });
  symlinkSync(outside, join(root, 'home/.ssh'));
  writeFileSync(join(root, 'file'), 'x', { mode: 0o644 });
  setOwnerAndModeNoFollow(join(root, 'home'), { uid: 65534, gid: 65534, mode: 0o700, kind: 'directory' });
  const st = statSync(join(root, 'home'));
  assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [65534, 65534, 0o700]);
  refused(
    () => setOwnerAndModeNoFollow(join(root, 'home/.ssh'), { uid: 65534, mode: 0o700, kind: 'directory' }),
    'symlink',
    /\.ssh is a symbolic link, which the agent does not follow/,
  );
  const o = statSync(outside);
  assert.deepEqual([o.uid, o.mode & 0o7777], [0, 0o755], 'the link target keeps its owner and mode');
  refused(() => setOwnerAndModeNoFollow(join(root, 'file'), { mode: 0o700, kind: 'directory' }), 'not-regular', /is not a directory/);
  refused(() => setOwnerAndModeNoFollow(join(root, 'home'), { mode: 0o600 }), 'not-regular', /is a directory, not a regular file/);
  setOwnerAndModeNoFollow(join(root, 'file'), { mode: 0o744 });
  assert.equal(statSync(join(root, 'file')).mode & 0o7777, 0o744);
  chownSync(join(root, 'home'), 0, 0);
});
