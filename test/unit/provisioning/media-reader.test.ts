// The user-space UDF and ISO 9660 readers on images made by the real tools, and on damaged copies.
import assert from 'node:assert/strict';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type AgentError, isAgentError } from '../../../src/util/errors.ts';
import { ImageFile } from '../../../src/provisioning/media/image-file.ts';
import { listIsoRoot } from '../../../src/provisioning/media/iso9660.ts';
import { MAX_FILE_SIZE, readFileFromImage } from '../../../src/provisioning/media/read-file.ts';
import { listUdfRoot, readUdfEntry } from '../../../src/provisioning/media/udf.ts';
import {
  FIXTURES,
  OVF_FIXTURES,
  copyImage,
  findTags,
  genisoimage,
  isoRecord,
  mkudffs,
  patch,
  resealTag,
  tempPath,
  within,
} from '../../fixtures/media/make-images.ts';

const ovf = (name: string): Buffer => readFileSync(join(FIXTURES, name));
const BASE = ovf('ovf-env.xml');

/** The error a read gives, checked to be a provisioning AgentError that came back within 5 s. */
async function failure(p: Promise<unknown>): Promise<AgentError> {
  try {
    await within(5000, p);
  } catch (e) {
    assert.ok(isAgentError(e, 'provisioning'), `expected a provisioning AgentError, got ${String(e)}`);
    return e;
  }
  return assert.fail('expected the read to fail');
}

/** Lists the UDF root of an image and reads one entry, bypassing the ISO 9660 fallback. */
async function readUdfOnly(path: string, name: string): Promise<Buffer> {
  const image = await ImageFile.open(path);
  try {
    const { vol, entries } = await listUdfRoot(image);
    const entry = entries.find((e) => e.name === name);
    assert.ok(entry, `${name} is listed`);
    return await readUdfEntry(vol, entry, MAX_FILE_SIZE);
  } finally {
    await image.close();
  }
}

async function isoNames(path: string): Promise<Array<[string, boolean]>> {
  const image = await ImageFile.open(path);
  try {
    return (await listIsoRoot(image)).map((e) => [e.name, e.plain]);
  } finally {
    await image.close();
  }
}

describe('reading ovf-env.xml from images made by genisoimage', () => {
  for (const fixture of OVF_FIXTURES) {
    it(`UDF 1.02 bridge (-udf) holding ${fixture}: read through UDF, byte-identical`, async () => {
      const image = genisoimage({ 'ovf-env.xml': ovf(fixture) }, ['-udf']);
      const r = await readFileFromImage(image, 'ovf-env.xml');
      assert.equal(r.format, 'udf');
      assert.ok(r.data.equals(ovf(fixture)));
    });
    for (const flags of [[], ['-J'], ['-R'], ['-J', '-R']]) {
      it(`ISO 9660 ${flags.join(' ') || 'plain'} holding ${fixture}: byte-identical`, async () => {
        const image = genisoimage({ 'ovf-env.xml': ovf(fixture) }, flags);
        const r = await readFileFromImage(image, 'ovf-env.xml');
        assert.equal(r.format, 'iso9660');
        assert.ok(r.data.equals(ovf(fixture)));
      });
    }
  }

  it('matches the name case-insensitively', async () => {
    const image = genisoimage({ 'OVF-ENV.XML': BASE }, ['-udf']);
    assert.ok((await readFileFromImage(image, 'ovf-env.xml')).data.equals(BASE));
    const rr = genisoimage({ 'Ovf-Env.Xml': BASE }, ['-R']);
    assert.ok((await readFileFromImage(rr, 'ovf-env.xml')).data.equals(BASE));
  });

  it('reads the Joliet and Rock Ridge names, not only the plain 8.3 name', async () => {
    const long = 'a-long-name-for-a-provisioning-file.xml';
    const files = { [long]: BASE, 'ovf-env.xml': ovf('ovf-env-2.xml') };
    for (const flags of [['-J'], ['-R']]) {
      const image = genisoimage(files, flags);
      const names = await isoNames(image);
      assert.ok(
        names.some(([n, plain]) => n === long && !plain),
        `${flags[0]} name listed: ${JSON.stringify(names)}`,
      );
      assert.ok(
        names.some(([n, plain]) => plain && n.startsWith('A_LONG_N')),
        'plain name listed too',
      );
      assert.ok((await readFileFromImage(image, long.toUpperCase())).data.equals(BASE));
      assert.ok((await readFileFromImage(image, 'ovf-env.xml')).data.equals(ovf('ovf-env-2.xml')));
    }
    // Without extensions only the mangled name exists, so the long name cannot be found.
    const plain = genisoimage(files, []);
    assert.deepEqual(
      (await isoNames(plain)).map(([n]) => n),
      ['A_LONG_N.XML', 'OVF_ENV.XML'],
    );
    assert.match(
      (await failure(readFileFromImage(plain, long))).message,
      /has no a-long-name-for-a-provisioning-file\.xml in its root directory$/,
    );
  });

  it('reads a file of several sectors and an empty file', async () => {
    const big = Buffer.alloc(700_000, 'x');
    const image = genisoimage({ 'big.bin': big, 'empty.txt': '' }, ['-udf']);
    assert.ok((await readFileFromImage(image, 'big.bin')).data.equals(big));
    assert.equal((await readFileFromImage(image, 'empty.txt')).data.length, 0);
  });

  it('refuses a file larger than the cap', async () => {
    const image = genisoimage({ 'ovf-env.xml': Buffer.alloc(MAX_FILE_SIZE + 1, 'y') }, ['-udf']);
    assert.match(
      (await failure(readUdfOnly(image, 'ovf-env.xml'))).message,
      /records ovf-env\.xml as 1048577 bytes, more than the 1048576 accepted/,
    );
  });

  it('says when the file is not there', async () => {
    const image = genisoimage({ 'other.xml': BASE }, ['-udf']);
    const e = await failure(readFileFromImage(image, 'ovf-env.xml'));
    assert.equal(e.message, `the provisioning media ${image} has no ovf-env.xml in its root directory`);
    assert.equal(e.context.format, 'udf');
    assert.equal(e.subkind, 'not-found');
  });
});

// udftools is in scripts/bootstrap.sh PKGS, so mkudffs is always there.
describe('UDF 2.01 made by mkudffs', () => {
  // udftools cannot add a file without a kernel mount, so these reach the root directory of an empty volume.
  const variants: string[][] = [
    [],
    ['-b', '2048'],
    ['-b', '4096'],
    ['--udfrev=1.02'],
    ['--noefe'],
    ['--ad=short', '-b', '2048'],
    ['--ad=long'],
    ['-m', 'cdrw', '-b', '2048'],
  ];
  for (const flags of variants) {
    it(`reads the root directory (${flags.join(' ') || 'defaults: 512-byte blocks, extended file entries'})`, async () => {
      const image = mkudffs(flags);
      const fs = await ImageFile.open(image);
      try {
        assert.deepEqual((await listUdfRoot(fs)).entries, []);
      } finally {
        await fs.close();
      }
      const e = await failure(readFileFromImage(image, 'ovf-env.xml'));
      assert.equal(e.message, `the provisioning media ${image} has no ovf-env.xml in its root directory`);
      assert.equal(e.context.format, 'udf');
    });
  }
});

describe('damaged and hostile images fail fast with one clear sentence', () => {
  const bridge = genisoimage({ 'ovf-env.xml': BASE }, ['-udf']);
  const plain = genisoimage({ 'ovf-env.xml': BASE }, []);

  /** The file entry (tag 261) of the one regular file in a genisoimage -udf image. */
  const fileEntry = (b: Buffer): number => findTags(b, 261).find((o) => b[o + 27] === 5)!;
  const rootEntry = (b: Buffer): number => findTags(b, 261).find((o) => b[o + 27] === 4)!;

  it('a truncated image', async () => {
    const cut = copyImage(bridge);
    truncateSync(cut, readFileSync(bridge).indexOf(BASE)); // everything up to the file's data
    const e = await failure(readFileFromImage(cut, 'ovf-env.xml'));
    assert.equal(e.message, `the UDF data of ovf-env.xml on ${cut} lies past the end of the medium (the image is truncated or corrupt)`);
    assert.equal(e.subkind, 'past-end');
    for (const size of [0, 1000, 34_000, 300_000, 530_000]) {
      const short = copyImage(bridge);
      truncateSync(short, size);
      assert.match(
        (await failure(readFileFromImage(short, 'ovf-env.xml'))).message,
        /past the end of the medium|holds neither a UDF nor an ISO 9660 file system|no valid anchor/,
      );
    }
  });

  it('a zeroed anchor falls back to the ISO 9660 side of the bridge; zeroed both sides fail', async () => {
    const img = copyImage(bridge);
    patch(img, (b) => b.fill(0, 256 * 2048, 257 * 2048));
    assert.match((await failure(readUdfOnly(img, 'ovf-env.xml'))).message, /has no valid anchor volume descriptor pointer at sector 256$/);
    const r = await readFileFromImage(img, 'ovf-env.xml');
    assert.equal(r.format, 'iso9660');
    assert.ok(r.data.equals(BASE));
    patch(img, (b) => b.fill(0, 16 * 2048, 17 * 2048)); // the primary volume descriptor
    assert.match(
      (await failure(readFileFromImage(img, 'ovf-env.xml'))).message,
      /^the UDF file system on .* has no valid anchor volume descriptor pointer at sector 256$/,
    );
  });

  it('a zeroed logical volume descriptor: the reserve sequence is used; both zeroed fail', async () => {
    const img = copyImage(bridge);
    const lvds = findTags(readFileSync(img), 6);
    assert.equal(lvds.length, 2, 'main and reserve sequences');
    patch(img, (b) => b.fill(0, lvds[0]!, lvds[0]! + 2048));
    assert.ok((await readUdfOnly(img, 'ovf-env.xml')).equals(BASE));
    patch(img, (b) => b.fill(0, lvds[1]!, lvds[1]! + 2048));
    assert.match((await failure(readUdfOnly(img, 'ovf-env.xml'))).message, /has no logical volume descriptor$/);
  });

  it('a corrupted file entry (bad CRC)', async () => {
    const img = copyImage(bridge);
    patch(img, (b) => (b[fileEntry(b) + 100] ^= 0xff));
    assert.match((await failure(readUdfOnly(img, 'ovf-env.xml'))).message, /has a damaged file entry \(bad CRC\)$/);
  });

  it('a file length of 4 GiB', async () => {
    const img = copyImage(bridge);
    patch(img, (b) => {
      const fe = fileEntry(b);
      b.writeUInt32LE(0, fe + 56);
      b.writeUInt32LE(1, fe + 60);
      resealTag(b, fe);
    });
    assert.match(
      (await failure(readUdfOnly(img, 'ovf-env.xml'))).message,
      /records ovf-env\.xml as more than 4 GiB, more than the 1048576 accepted$/,
    );

    const iso = copyImage(plain);
    patch(iso, (b) => {
      const rec = isoRecord(b, 'OVF_ENV.XML;1');
      b.writeUInt32LE(0xffffffff, rec + 10);
      b.writeUInt32BE(0xffffffff, rec + 14);
    });
    const e = await failure(readFileFromImage(iso, 'ovf-env.xml'));
    assert.equal(e.message, `the ISO 9660 file system on ${iso} records OVF_ENV.XML as 4294967295 bytes, more than the 1048576 accepted`);
  });

  it('a UDF directory entry that points at its own directory', async () => {
    const img = copyImage(bridge);
    patch(img, (b) => {
      const rootLbn = b.readUInt32LE(rootEntry(b) + 12);
      const dir = findTags(b, 257)[0]!; // the sector of the root directory's identifiers
      // The second identifier (after the parent entry) is ovf-env.xml.
      const first = (38 + b.readUInt16LE(dir + 36) + b[dir + 19]! + 3) & ~3;
      const fid = dir + first;
      assert.equal(b.readUInt16LE(fid), 257);
      b.writeUInt32LE(rootLbn, fid + 24);
      resealTag(b, fid);
    });
    assert.match((await failure(readUdfOnly(img, 'ovf-env.xml'))).message, /records ovf-env\.xml as a directory, not a file$/);
  });

  it('a loop of UDF allocation extent descriptors', async () => {
    const img = copyImage(bridge);
    patch(img, (b) => {
      const fe = fileEntry(b);
      const partStart = fe / 2048 - b.readUInt32LE(fe + 12);
      const dataLbn = b.readUInt32LE(fe + 176 + 4);
      // The file's only extent becomes "the next descriptors are at block D", and block D says the same of itself.
      b.writeUInt32LE(((3 << 30) | 2048) >>> 0, fe + 176);
      resealTag(b, fe);
      const aed = (partStart + dataLbn) * 2048;
      b.fill(0, aed, aed + 2048);
      b.writeUInt16LE(258, aed);
      b.writeUInt16LE(2, aed + 2);
      b.writeUInt16LE(16, aed + 10);
      b.writeUInt32LE(dataLbn, aed + 12);
      b.writeUInt32LE(8, aed + 20);
      b.writeUInt32LE(((3 << 30) | 2048) >>> 0, aed + 24);
      b.writeUInt32LE(dataLbn, aed + 28);
      resealTag(b, aed);
    });
    assert.match(
      (await failure(readUdfOnly(img, 'ovf-env.xml'))).message,
      /has a chain of more than 16 allocation extent descriptors \(a loop\?\)$/,
    );
  });

  it('a UDF root directory of 4 GiB', async () => {
    const img = copyImage(bridge);
    patch(img, (b) => {
      const root = rootEntry(b);
      b.writeUInt32LE(0xffffffff, root + 56);
      resealTag(b, root);
    });
    const fs = await ImageFile.open(img);
    try {
      assert.match(
        (await failure(listUdfRoot(fs))).message,
        /records the root directory as 4294967295 bytes, more than the 4194304 accepted$/,
      );
    } finally {
      await fs.close();
    }
  });

  it('an ISO 9660 entry that points at the root directory it is in', async () => {
    const iso = copyImage(plain);
    patch(iso, (b) => {
      const rec = isoRecord(b, 'OVF_ENV.XML;1');
      const root = 16 * 2048 + 156;
      b.copy(b, rec + 2, root + 2, root + 18); // extent and length of the root directory
      b[rec + 25] = 0x02;
    });
    assert.match((await failure(readFileFromImage(iso, 'ovf-env.xml'))).message, /records OVF_ENV\.XML as a directory, not a file$/);
  });

  it('an ISO 9660 root directory that points at the volume descriptor, or is absurdly large', async () => {
    const iso = copyImage(plain);
    patch(iso, (b) => b.writeUInt32LE(16, 16 * 2048 + 156 + 2));
    assert.match((await failure(readFileFromImage(iso, 'ovf-env.xml'))).message, /directory record|has no ovf-env\.xml/);
    const big = copyImage(plain);
    patch(big, (b) => b.writeUInt32LE(0xfffff000, 16 * 2048 + 156 + 10));
    assert.match(
      (await failure(readFileFromImage(big, 'ovf-env.xml'))).message,
      /has a root directory of an absurd size \(4294963200 bytes\)$/,
    );
  });

  it('an ISO 9660 directory record with an impossible length', async () => {
    const iso = copyImage(plain);
    patch(iso, (b) => (b[isoRecord(b, 'OVF_ENV.XML;1')] = 20));
    assert.match(
      (await failure(readFileFromImage(iso, 'ovf-env.xml'))).message,
      /has a directory record with an invalid length \(20 bytes at offset \d+\)$/,
    );
  });

  it('a Rock Ridge continuation area that continues into itself', async () => {
    const iso = copyImage(genisoimage({ 'ovf-env.xml': BASE }, ['-R']));
    patch(iso, (b) => {
      const rec = isoRecord(b, 'OVF_ENV.XML;1');
      const px = b.indexOf('PX', rec + 33 + 13 + 1, 'latin1');
      assert.ok(px > rec && px < rec + b[rec]!, 'the record has a PX entry');
      const len = b[px + 2]!;
      b.fill(0, px, px + len);
      b.write('CE', px, 'latin1');
      b[px + 2] = len;
      b[px + 3] = 1;
      b.writeUInt32LE(Math.floor(px / 2048), px + 4);
      b.writeUInt32LE(px % 2048, px + 12);
      b.writeUInt32LE(len, px + 20);
    });
    assert.match(
      (await failure(readFileFromImage(iso, 'ovf-env.xml'))).message,
      /has a Rock Ridge continuation chain longer than 8 areas$/,
    );
  });

  it('a zeroed primary volume descriptor, an empty file, a missing path, a directory', async () => {
    const iso = copyImage(plain);
    patch(iso, (b) => b.fill(0, 16 * 2048, 17 * 2048));
    assert.equal(
      (await failure(readFileFromImage(iso, 'ovf-env.xml'))).message,
      `the provisioning media ${iso} holds neither a UDF nor an ISO 9660 file system`,
    );
    const empty = tempPath('empty.img');
    writeFileSync(empty, '');
    assert.equal(
      (await failure(readFileFromImage(empty, 'ovf-env.xml'))).message,
      `the provisioning media ${empty} holds neither a UDF nor an ISO 9660 file system`,
    );
    const gone = tempPath('gone.iso');
    await assert.rejects(
      readFileFromImage(gone, 'ovf-env.xml'),
      (e: unknown) => isAgentError(e, 'io') && e.message === `the provisioning media ${gone} does not exist`,
    );
    await assert.rejects(
      readFileFromImage('/tmp', 'ovf-env.xml'),
      (e: unknown) => isAgentError(e, 'io') && e.message === 'the provisioning media /tmp is a directory, not a device or an image file',
    );
  });
});
