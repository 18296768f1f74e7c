import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  writeFileAtomic,
  writeFileAtomicAsync,
  writeFileAtomicIfChanged,
  writeFileAtomicIfChangedAsync,
} from '../../../src/os/atomic-file.ts';

test('writeFileAtomic: the mode asked for, missing directories made 0700, no temporary file left', () => {
  const root = mkdtempSync(join(tmpdir(), 'atomic-'));
  const path = join(root, 'lib/waagent/TransportPrivate.pem');
  writeFileAtomic(path, 'secret', { mode: 0o600, mkdir: true });
  assert.equal(readFileSync(path, 'utf8'), 'secret');
  assert.equal(statSync(path).mode & 0o7777, 0o600);
  assert.equal(statSync(join(root, 'lib/waagent')).mode & 0o7777, 0o700);
  assert.equal(statSync(join(root, 'lib')).mode & 0o7777, 0o700);
  writeFileAtomic(path, 'new', { mode: 0o600 });
  assert.equal(readFileSync(path, 'utf8'), 'new');
  assert.deepEqual(readdirSync(join(root, 'lib/waagent')), ['TransportPrivate.pem']);
});

test('writeFileAtomic: temporary files a killed writer left are removed on the next write there; a live writer keeps its own', () => {
  const root = mkdtempSync(join(tmpdir(), 'atomic-'));
  // a pid that ran and is gone: a child that has exited
  const gone = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim();
  const stale = `.ovf-env.xml.${gone}.0123456789ab.tmp`;
  const live = `.other.xml.${process.ppid}.0123456789ab.tmp`;
  const foreign = '.notes.tmp';
  for (const n of [stale, live, foreign]) writeFileSync(join(root, n), 'x');
  writeFileAtomic(join(root, 'ovf-env.xml'), '<xml/>', { mode: 0o600 });
  assert.deepEqual(readdirSync(root).sort(), [live, foreign, 'ovf-env.xml'].sort());
});

// Issue 11: a writer killed with SIGKILL whose parent has not reaped it yet is a zombie; kill(pid, 0) still succeeds
// for it, but it writes nothing any more, so its temporary file goes too.
test('writeFileAtomic: the temporary file of a zombie writer is removed as well', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atomic-zombie-'));
  // `sleep 0` exits at once and stays a zombie: its parent became `sleep 5` (exec), which never reaps it
  const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const pid = Number((await new Promise<Buffer>((r) => parent.stdout!.once('data', r))).toString().trim());
    for (let i = 0; i < 50 && !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'latin1')); i++) await new Promise((r) => setTimeout(r, 20));
    assert.match(readFileSync(`/proc/${pid}/stat`, 'latin1'), /\) Z /, 'the writer is a zombie');
    writeFileSync(join(dir, `.state.${pid}.0123456789ab.tmp`), 'half');
    writeFileAtomic(join(dir, 'state'), 'whole');
    assert.deepEqual(readdirSync(dir), ['state']);
  } finally {
    parent.kill('SIGKILL');
  }
});

test('writeFileAtomicIfChanged: the same bytes, mode and owner write nothing; any difference writes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'atomic-if-'));
  const p = join(dir, 'a.crt');
  assert.equal(writeFileAtomicIfChanged(p, 'cert', { mode: 0o644 }), true, 'a missing file is written');
  const ino = statSync(p).ino;
  assert.equal(writeFileAtomicIfChanged(p, 'cert', { mode: 0o644 }), false);
  assert.equal(statSync(p).ino, ino, 'not replaced');
  assert.equal(writeFileAtomicIfChanged(p, 'cert', { mode: 0o600 }), true, 'another mode');
  assert.equal(statSync(p).mode & 0o777, 0o600);
  assert.equal(writeFileAtomicIfChanged(p, 'cerT', { mode: 0o600 }), true, 'other bytes of the same length');
  assert.equal(readFileSync(p, 'utf8'), 'cerT');
  // a link in the file's place is replaced by a regular file, never followed or kept
  const target = join(dir, 'target');
  writeFileSync(target, 'cert');
  const link = join(dir, 'b.crt');
  symlinkSync(target, link);
  assert.equal(writeFileAtomicIfChanged(link, 'cert', { mode: 0o644 }), true);
  assert.ok(lstatSync(link).isFile());
  assert.equal(readFileSync(target, 'utf8'), 'cert');
});

test('writeFileAtomic durable:false: the same atomic replacement, without fsync', () => {
  const dir = mkdtempSync(join(tmpdir(), 'atomic-nd-'));
  const p = join(dir, 'GoalState.xml');
  writeFileAtomic(p, 'one', { mode: 0o600, durable: false });
  writeFileAtomic(p, 'two', { mode: 0o600, durable: false });
  assert.equal(readFileSync(p, 'utf8'), 'two');
  assert.deepEqual(readdirSync(dir), ['GoalState.xml']);
  // the system calls, where strace is installed (this machine; scripts/bootstrap.sh does not install it)
  const fsyncs = (durable: boolean) => {
    const code = `require(${JSON.stringify(join(import.meta.dirname, '../../../src/os/atomic-file.ts'))}).writeFileAtomic(${JSON.stringify(p)}, 'x', { durable: ${durable} })`;
    const r = spawnSync('strace', ['-f', '-e', 'trace=fsync', process.execPath, '-e', code], { encoding: 'utf8' });
    return r.error === undefined && r.status === 0 ? (r.stderr.match(/fsync\(/g) ?? []).length : null;
  };
  const durable = fsyncs(true);
  if (durable !== null) {
    assert.equal(durable, 2, 'the durable write fsyncs the file and the directory');
    assert.equal(fsyncs(false), 0);
  }
});

test('writeFileAtomicAsync: the same replacement as writeFileAtomic (mode, dirs 0700, link replaced not followed), fsyncs on the thread pool', async () => {
  const root = mkdtempSync(join(tmpdir(), 'atomic-async-'));
  const p = join(root, 'lib/ovf-env.xml');
  await writeFileAtomicAsync(p, 'one', { mode: 0o600, mkdir: true });
  assert.equal(readFileSync(p, 'utf8'), 'one');
  assert.equal(statSync(p).mode & 0o7777, 0o600);
  assert.equal(statSync(join(root, 'lib')).mode & 0o7777, 0o700);
  const target = join(root, 'target');
  writeFileSync(target, 'keep');
  const link = join(root, 'lib/link');
  symlinkSync(target, link);
  await writeFileAtomicAsync(link, 'new', { mode: 0o644 });
  assert.ok(lstatSync(link).isFile());
  assert.equal(readFileSync(target, 'utf8'), 'keep');
  assert.deepEqual(readdirSync(join(root, 'lib')).sort(), ['link', 'ovf-env.xml']);
  assert.equal(await writeFileAtomicIfChangedAsync(p, 'one', { mode: 0o600 }), false, 'unchanged: not written');
  assert.equal(await writeFileAtomicIfChangedAsync(p, 'two', { mode: 0o600 }), true);
  assert.equal(readFileSync(p, 'utf8'), 'two');
  // a failure names the file and leaves no temporary file: a directory in the file's place cannot be replaced
  const dirInPlace = join(root, 'lib/dir');
  mkdirSync(dirInPlace);
  await assert.rejects(writeFileAtomicAsync(dirInPlace, 'x'), (e: Error) => e.message.startsWith(`cannot write ${dirInPlace}: `));
  assert.deepEqual(readdirSync(join(root, 'lib')).sort(), ['dir', 'link', 'ovf-env.xml']);
  const code = `require(${JSON.stringify(join(import.meta.dirname, '../../../src/os/atomic-file.ts'))}).writeFileAtomicAsync(${JSON.stringify(join(root, 'x'))}, 'x')`;
  const r = spawnSync('strace', ['-f', '-e', 'trace=fsync', process.execPath, '-e', code], { encoding: 'utf8' });
  if (r.error === undefined && r.status === 0) assert.equal((r.stderr.match(/fsync\(/g) ?? []).length, 2, 'the file and the directory');
});

test('deferDirectorySyncs: files still fsynced before their rename; each directory once, at flushDirectorySyncs, then back to per write', () => {
  const root = mkdtempSync(join(tmpdir(), 'atomic-defer-'));
  const mod = JSON.stringify(join(import.meta.dirname, '../../../src/os/atomic-file.ts'));
  const [a, b] = [join(root, 'a'), join(root, 'b')];
  mkdirSync(a);
  mkdirSync(b);
  const code = `const m = require(${mod});
    m.deferDirectorySyncs();
    m.writeFileAtomic(${JSON.stringify(join(a, '1'))}, 'one');
    m.writeFileAtomic(${JSON.stringify(join(a, '2'))}, 'two');
    m.writeFileAtomicAsync(${JSON.stringify(join(b, '3'))}, 'three').then(async () => {
      process.stderr.write('FLUSH\\n');
      await m.flushDirectorySyncs();
      process.stderr.write('AFTER\\n');
      m.writeFileAtomic(${JSON.stringify(join(b, '4'))}, 'four');
    });`;
  const r = spawnSync('strace', ['-f', '-e', 'trace=fsync,write', process.execPath, '-e', code], { encoding: 'utf8' });
  assert.equal(r.error, undefined, 'strace runs (scripts/bootstrap.sh installs it)');
  assert.equal(r.status, 0, r.stderr);
  const [before, flush, after] = r.stderr.split(/write\(2, "(?:FLUSH|AFTER)\\n"/);
  const count = (s: string | undefined) => (s?.match(/fsync\(/g) ?? []).length;
  assert.equal(count(before), 3, 'the three files, no directory');
  assert.equal(count(flush), 2, 'the two directories, once each');
  assert.equal(count(after), 2, 'no longer deferred: the file and its directory');
  for (const [f, want] of [
    [join(a, '1'), 'one'],
    [join(a, '2'), 'two'],
    [join(b, '3'), 'three'],
    [join(b, '4'), 'four'],
  ] as const) {
    assert.equal(readFileSync(f, 'utf8'), want);
  }
});
