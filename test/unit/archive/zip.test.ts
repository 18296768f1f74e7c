import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { extractZipSafely, readZipEntries, readZipEntryData, zipEntryChunks, type ExtractLimits } from '../../../src/archive/zip-read.ts';
import { createZip, type ZipWriteEntry } from '../../../src/archive/zip-write.ts';
import { isAgentError, type ErrorKind } from '../../../src/util/errors.ts';
import { FIXTURES } from '../../helpers/paths.ts';

const VMACCESS = join(FIXTURES, 'tests/data/signing/Microsoft.OSTCExtensions.Edp.VMAccessForLinux__1.7.0.zip');
const LIMITS: ExtractLimits = { maxTotalBytes: 10 * 1024 * 1024, maxEntries: 1000 };

const made: string[] = [];
process.once('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
function temp(): string {
  const d = mkdtempSync(join(tmpdir(), 'waagent-zip-'));
  made.push(d);
  return d;
}

/** Every file below dir (relative path -> content, or "-> target" for links, "<dir>" for directories). */
function tree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      const rel = relative(dir, p);
      if (st.isSymbolicLink()) out.set(rel, `-> ${readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.set(rel, '<dir>');
        walk(p);
      } else out.set(rel, readFileSync(p).toString('base64'));
    }
  };
  walk(dir);
  return out;
}

function rejects(kind: ErrorKind, pattern: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(isAgentError(e, kind), `expected AgentError(${kind}), got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  };
}

/** Extracts a hostile zip: it must fail with the message, and leave nothing in the parent directory. */
async function refused(entries: ZipWriteEntry[] | Buffer, pattern: RegExp, limits = LIMITS, kind: ErrorKind = 'extension'): Promise<void> {
  const root = temp();
  const zip = join(root, 'pkg.zip');
  writeFileSync(zip, Buffer.isBuffer(entries) ? entries : createZip(entries, { raw: true }));
  const parent = join(root, 'lib');
  mkdirSync(parent);
  await assert.rejects(extractZipSafely(zip, join(parent, 'Handler-1.0'), limits), rejects(kind, pattern));
  assert.deepEqual(readdirSync(parent), [], 'a failed extraction leaves nothing behind');
  assert.ok(!existsSync(join(root, 'evil')) && !existsSync(join(root, 'outside')), 'nothing was written outside');
}

const SAMPLE: ZipWriteEntry[] = [
  { name: 'bin/', data: '' },
  { name: 'bin/enable.sh', data: '#!/bin/sh\necho enabled\n'.repeat(20), mode: 0o755 },
  { name: 'HandlerManifest.json', data: '[{"version": 1.0}]' },
  { name: 'empty', data: '' },
  { name: 'random.bin', data: Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 251)) },
  { name: 'data/zeros', data: Buffer.alloc(100_000) },
  { name: 'naïve-ünïcode.txt', data: 'ünïcode ✓' },
  { name: 'link-to-enable', data: 'bin/enable.sh', mode: 0o120777 },
];

describe('zip writer and reader', () => {
  for (const deflate of [true, false]) {
    it(`round-trips names, modes, symlinks and data (${deflate ? 'deflate' : 'stored'})`, async () => {
      const buf = createZip(SAMPLE, { deflate });
      const entries = readZipEntries(buf);
      assert.deepEqual(
        entries.map((e) => e.name),
        SAMPLE.map((e) => e.name),
      );
      for (const [i, e] of entries.entries()) {
        const want = SAMPLE[i]!;
        const data = Buffer.isBuffer(want.data) ? want.data : Buffer.from(want.data);
        assert.deepEqual(readZipEntryData(buf, e), data, e.name);
        const chunks: Buffer[] = [];
        for await (const c of zipEntryChunks(buf, e)) chunks.push(c);
        assert.deepEqual(Buffer.concat(chunks), data, `${e.name} streamed`);
      }
      const byName = new Map(entries.map((e) => [e.name, e]));
      assert.equal(byName.get('bin/')!.isDirectory, true);
      assert.equal(byName.get('bin/enable.sh')!.mode, 0o755);
      assert.equal(byName.get('empty')!.mode, 0o644);
      assert.equal(byName.get('link-to-enable')!.isSymlink, true);
      assert.equal(byName.get('data/zeros')!.method, deflate ? 8 : 0);
    });
  }

  it('writes zips that Info-ZIP lists and tests, with modes and symlinks', () => {
    const root = temp();
    const zip = join(root, 'sample.zip');
    writeFileSync(zip, createZip(SAMPLE));
    const list = spawnSync('unzip', ['-l', zip], { encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    for (const e of SAMPLE) assert.ok(list.stdout.includes(e.name), `unzip -l lists ${e.name}`);
    assert.match(list.stdout, /8 files/);
    const test = spawnSync('unzip', ['-t', zip], { encoding: 'utf8' });
    assert.equal(test.status, 0, test.stdout + test.stderr);
    assert.match(test.stdout, /No errors detected/);
    const info = spawnSync('zipinfo', [zip], { encoding: 'utf8' });
    assert.match(info.stdout, /-rwxr-xr-x .* bin\/enable\.sh/);
    assert.match(info.stdout, /lrwxrwxrwx .* link-to-enable/);
  });

  it('reads zips made by Info-ZIP zip (deflate, unix modes, stored symlinks)', async () => {
    const root = temp();
    const src = join(root, 'src');
    mkdirSync(join(src, 'scripts'), { recursive: true });
    writeFileSync(join(src, 'scripts/install.sh'), '#!/bin/sh\nexit 0\n'.repeat(50), { mode: 0o750 });
    writeFileSync(join(src, 'README'), 'hello\n');
    spawnSync('ln', ['-s', 'scripts/install.sh', join(src, 'install')]);
    const zip = join(root, 'made.zip');
    const z = spawnSync('zip', ['-q', '-r', '-y', zip, '.'], { cwd: src, encoding: 'utf8' });
    assert.equal(z.status, 0, z.stderr);
    await extractZipSafely(zip, join(root, 'out'), LIMITS);
    assert.deepEqual(tree(join(root, 'out')), tree(src));
    assert.equal(statSync(join(root, 'out/scripts/install.sh')).mode & 0o777, 0o750);
  });

  // Issue 11: an agent killed in the middle of an extraction leaves its `.<dir>.<hex>.extracting` folder; the next
  // extraction of the same directory removes it (and only it), so nothing half-unpacked stays in Lib.Dir.
  it('removes what a killed extraction of the same directory left, nothing else', async () => {
    const root = temp();
    mkdirSync(join(root, '.H-1.0.0123456789ab.extracting/bin'), { recursive: true });
    mkdirSync(join(root, '.H-1.0.0.0123456789ab.extracting/bin'), { recursive: true });
    writeFileSync(join(root, '.H-1.0.0.0123456789ab.extracting/bin/half'), 'x');
    mkdirSync(join(root, '.H-2.0.0.0123456789ab.extracting'));
    const zip = join(root, 'h.zip');
    writeFileSync(zip, createZip([{ name: 'a.txt', data: 'a' }]));
    await extractZipSafely(zip, join(root, 'H-1.0.0'), LIMITS);
    assert.deepEqual(readdirSync(root).sort(), ['.H-1.0.0123456789ab.extracting', '.H-2.0.0.0123456789ab.extracting', 'H-1.0.0', 'h.zip']);
  });

  it('extracts the recorded VMAccess package exactly as unzip does', async () => {
    const root = temp();
    mkdirSync(join(root, 'unzip'));
    const u = spawnSync('unzip', ['-q', VMACCESS, '-d', join(root, 'unzip')], { encoding: 'utf8' });
    assert.equal(u.status, 0, u.stderr);
    await extractZipSafely(VMACCESS, join(root, 'ours'), LIMITS);
    assert.deepEqual(tree(join(root, 'ours')), tree(join(root, 'unzip')));
    assert.equal(tree(join(root, 'ours')).size, 22, '20 files in 2 directories');
    assert.equal(
      statSync(join(root, 'ours/extension_shim.sh')).mode & 0o777,
      0o755,
      'executable bit kept from the external attributes, group write masked',
    );
    assert.equal(statSync(join(root, 'ours/vmaccess.py')).mode & 0o777, 0o644);
  });

  it('decodes names without the UTF-8 flag as code page 437', () => {
    const buf = createZip([{ name: 'cafX', data: 'x' }], { deflate: false });
    assert.equal(readZipEntries(buf)[0]!.name, 'cafX');
    // Rewrite the name's last byte as CP437 0x82 (é) in both headers; the UTF-8 flag is not set for an ASCII name.
    for (let at = buf.indexOf('cafX'); at >= 0; at = buf.indexOf('cafX', at + 1)) buf[at + 3] = 0x82;
    assert.equal(readZipEntries(buf)[0]!.name, 'café');
  });

  it('refuses unsafe names unless raw is asked for', () => {
    assert.throws(() => createZip([{ name: '../evil', data: 'x' }]), rejects('extension', /"\.\.\/evil".*"\.\." component/));
    assert.throws(
      () =>
        createZip([
          { name: 'a', data: 'x' },
          { name: 'a', data: 'y' },
        ]),
      rejects('extension', /already has an entry "a"/),
    );
    assert.equal(readZipEntries(createZip([{ name: '../evil', data: 'x' }], { raw: true }))[0]!.name, '../evil');
  });
});

describe('safe extraction', () => {
  it('extracts into place with modes, directories and in-tree symlinks; setuid bits dropped', async () => {
    const root = temp();
    const zip = join(root, 'p.zip');
    writeFileSync(
      zip,
      createZip([
        ...SAMPLE,
        { name: 'suid', data: 'x', mode: 0o4755 },
        { name: 'ro/', data: '', mode: 0o555 },
        { name: 'ro/f', data: 'f' },
      ]),
    );
    const dest = join(root, 'lib', 'H-1.0');
    await extractZipSafely(zip, dest, LIMITS);
    assert.equal(readFileSync(join(dest, 'bin/enable.sh'), 'utf8'), '#!/bin/sh\necho enabled\n'.repeat(20));
    assert.equal(statSync(join(dest, 'bin/enable.sh')).mode & 0o7777, 0o755);
    assert.equal(statSync(join(dest, 'empty')).mode & 0o7777, 0o644);
    assert.equal(statSync(join(dest, 'suid')).mode & 0o7777, 0o755);
    assert.equal(statSync(join(dest, 'ro')).mode & 0o7777, 0o555);
    assert.equal(readFileSync(join(dest, 'ro/f'), 'utf8'), 'f');
    assert.equal(statSync(dest).mode & 0o777, 0o755);
    assert.equal(readlinkSync(join(dest, 'link-to-enable')), 'bin/enable.sh');
    assert.deepEqual(readFileSync(join(dest, 'data/zeros')), Buffer.alloc(100_000));
    assert.deepEqual(readdirSync(join(root, 'lib')), ['H-1.0'], 'no temporary directory left');
  });

  it('refuses a destination that already exists, and leaves it alone', async () => {
    const root = temp();
    const zip = join(root, 'p.zip');
    writeFileSync(zip, createZip(SAMPLE));
    mkdirSync(join(root, 'H-1.0'));
    writeFileSync(join(root, 'H-1.0', 'keep'), 'k');
    await assert.rejects(extractZipSafely(zip, join(root, 'H-1.0'), LIMITS), rejects('io', /already exists/));
    assert.deepEqual(readdirSync(join(root, 'H-1.0')), ['keep']);
  });

  it('reports a missing zip as an io error', async () => {
    await assert.rejects(
      extractZipSafely(join(temp(), 'none.zip'), join(temp(), 'x'), LIMITS),
      rejects('io', /cannot read the zip file .*none\.zip/),
    );
  });

  it('refuses an absolute name', () =>
    refused(
      [
        { name: 'ok', data: 'x' },
        { name: '/tmp/evil', data: 'x' },
      ],
      /entry "\/tmp\/evil" .* absolute path/,
    ));
  it('refuses ".." components', () => refused([{ name: 'a/../../evil', data: 'x' }], /entry "a\/\.\.\/\.\.\/evil" .* "\.\." component/));
  it('refuses a leading ".."', () => refused([{ name: '../evil', data: 'x' }], /entry "\.\.\/evil"/));
  it('refuses control characters in names (a newline, an escape)', async () => {
    await refused(
      [
        { name: 'ok', data: 'x' },
        { name: 'bin/en\nable.sh', data: 'x' },
      ],
      /entry "bin\/en\\nable\.sh" .* control character/,
    );
    await refused([{ name: '\x1b[31mred', data: 'x' }], /entry "\\u001b\[31mred" .* control character/);
  });
  it('masks group/world write and special bits on files and directories', async () => {
    const root = temp();
    const zip = join(root, 'pkg.zip');
    writeFileSync(
      zip,
      createZip([
        { name: 'open', data: 'x', mode: 0o666 },
        { name: 'run.sh', data: 'x', mode: 0o6777 },
        { name: 'd/', data: '', mode: 0o1777 },
      ]),
    );
    const dest = join(root, 'Handler-1.0');
    await extractZipSafely(zip, dest, LIMITS);
    assert.equal(statSync(join(dest, 'open')).mode & 0o7777, 0o644);
    assert.equal(statSync(join(dest, 'run.sh')).mode & 0o7777, 0o755);
    assert.equal(statSync(join(dest, 'd')).mode & 0o7777, 0o755);
  });
  it('refuses backslashes', () => refused([{ name: '..\\evil', data: 'x' }], /entry "\.\.\\evil" .* backslash/));
  it('refuses duplicate names, also spelled differently', async () => {
    await refused(
      [
        { name: 'a', data: 'x' },
        { name: 'a', data: 'y' },
      ],
      /entry "a" .* same path as entry "a"/,
    );
    await refused(
      [
        { name: 'd/f', data: 'x' },
        { name: './d//f', data: 'y' },
      ],
      /entry "\.\/d\/\/f" .* same path as entry "d\/f"/,
    );
  });
  it('refuses a file that other entries use as a directory', () =>
    refused(
      [
        { name: 'a', data: 'x' },
        { name: 'a/b', data: 'y' },
      ],
      /entry "a" .* not a directory/,
    ));
  it('refuses an absolute symlink', () =>
    refused([{ name: 'passwd', data: '/etc/passwd', mode: 0o120777 }], /entry "passwd" .* symlink to "\/etc\/passwd", outside/));
  it('refuses a symlink that climbs out', () =>
    refused([{ name: 'd/out', data: '../../outside', mode: 0o120777 }], /entry "d\/out" .* symlink to "\.\.\/\.\.\/outside"/));
  it('refuses a symlink placed through another symlink', () =>
    refused(
      [
        { name: 'a/b/up', data: '../..', mode: 0o120777 },
        { name: 'a/b/up/x', data: '../evil', mode: 0o120777 },
      ],
      /entry "a\/b\/up" .* not a directory/,
    ));
  it('refuses a symlink whose target does not exist', () =>
    refused([{ name: 'dangling', data: 'nothing/here', mode: 0o120777 }], /entry "dangling" .* does not exist/));
  it('refuses a symlink that escapes through an in-tree directory link', () =>
    refused(
      [
        { name: 'a/', data: '' },
        { name: 'a/self', data: '.', mode: 0o120777 },
        { name: 'p', data: 'a/self/self/../..', mode: 0o120777 },
      ],
      // lexically a/self/self/../.. is "." (inside); physically ".." is followed after the links: <dest>/..
      /entry "p" .* symlink to "a\/self\/self\/\.\.\/\.\.", which resolves outside/,
    ));

  it('refuses more entries than the limit', () => refused(SAMPLE, /has 8 entries, more than the limit of 5/, { ...LIMITS, maxEntries: 5 }));

  it('refuses a zip bomb over the size cap', () =>
    refused(
      [{ name: 'bomb', data: Buffer.alloc(20 * 1024 * 1024) }],
      /declares 20971520 bytes of content, more than the limit of 1048576/,
      {
        maxTotalBytes: 1024 * 1024,
        maxEntries: 10,
      },
    ));

  it('refuses an entry that inflates to more than its header says (headers are not trusted)', async () => {
    const buf = createZip([{ name: 'liar', data: Buffer.alloc(5 * 1024 * 1024) }]);
    // Patch the declared uncompressed size (local header +22, central +24) down to 100 bytes.
    buf.writeUInt32LE(100, 22);
    const cd = buf.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    buf.writeUInt32LE(100, cd + 24);
    assert.ok(buf.length < 1024 * 1024, 'the zip itself is small');
    await refused(buf, /entry "liar" .* inflates to more than the 100 bytes its header declares/, {
      maxTotalBytes: 1024 * 1024,
      maxEntries: 10,
    });
    assert.throws(() => readZipEntryData(buf, readZipEntries(buf)[0]!), rejects('extension', /inflates to more than the 100 bytes/));
  });

  it('refuses a truncated zip', async () => {
    const buf = createZip(SAMPLE);
    await refused(buf.subarray(0, buf.length - 10), /is corrupt: no end-of-central-directory record/);
    await refused(buf.subarray(0, 10), /is corrupt: it is only 10 bytes long|no end-of-central-directory/);
    // Data cut out of the middle: the central directory now points past the local headers.
    const holed = Buffer.concat([buf.subarray(0, 200), buf.subarray(400)]);
    await refused(holed, /is corrupt/);
  });

  it('refuses a bad CRC in a stored entry, naming it', async () => {
    const buf = createZip(
      [
        { name: 'good', data: 'fine' },
        { name: 'bad', data: 'some stored text' },
      ],
      { deflate: false },
    );
    const at = buf.indexOf('some stored text');
    buf[at] = 'S'.charCodeAt(0);
    await refused(buf, /entry "bad" of .* is corrupt: its CRC-32 does not match/);
  });

  it('refuses damaged deflate data, naming the entry', async () => {
    const text = Array.from({ length: 2000 }, (_, i) => `line ${i}`).join('\n');
    const buf = createZip([{ name: 'text', data: text }]);
    const start = 30 + 'text'.length;
    for (let i = start + 10; i < start + 40; i++) buf[i] = buf[i]! ^ 0x5a;
    await refused(buf, /entry "text" of .* is corrupt: (its deflate data is damaged|its CRC-32 does not match|it holds)/);
  });

  it('refuses ZIP64, encrypted and unknown-method archives', async () => {
    const z64 = createZip([{ name: 'a', data: 'x' }]);
    z64.writeUInt16LE(0xffff, z64.length - 22 + 8);
    z64.writeUInt16LE(0xffff, z64.length - 22 + 10);
    await refused(z64, /is a ZIP64 archive, which is not supported/);

    const enc = createZip([{ name: 'secret', data: 'x' }], { deflate: false });
    const cd = enc.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    enc.writeUInt16LE(1, cd + 8);
    await refused(enc, /entry "secret" .* is encrypted/);

    const bz = createZip([{ name: 'bz', data: 'x' }], { deflate: false });
    const cd2 = bz.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    bz.writeUInt16LE(12, cd2 + 10);
    await refused(bz, /entry "bz" .* compression method 12/);
  });

  it('refuses a local header that names another file', async () => {
    const buf = createZip([{ name: 'safe', data: 'x' }], { deflate: false });
    buf.write('evil', 30, 'latin1');
    await refused(buf, /entry "safe" .* local header names a different file/);
  });

  it('accepts content exactly at the cap and refuses one byte more', async () => {
    const entries = [
      { name: 'a', data: Buffer.alloc(600_000) },
      { name: 'b', data: Buffer.alloc(600_000) },
    ];
    await refused(entries, /declares 1200000 bytes of content, more than the limit of 1199999/, {
      maxTotalBytes: 1_199_999,
      maxEntries: 10,
    });
    const root = temp();
    writeFileSync(join(root, 'p.zip'), createZip(entries));
    await extractZipSafely(join(root, 'p.zip'), join(root, 'out'), { maxTotalBytes: 1_200_000, maxEntries: 2 });
    assert.equal(statSync(join(root, 'out/b')).size, 600_000);
  });
});
