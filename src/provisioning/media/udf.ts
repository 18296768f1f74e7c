// UDF (ECMA-167 / OSTA UDF 1.02-2.01) reader for one file in the root directory: anchor at sector 256,
// volume descriptor sequence, partition and logical volume descriptors, file set descriptor, root
// directory ICB, file identifier descriptors, (extended) file entries with short, long, extended or
// embedded allocation descriptors. Used when the kernel has no udf driver. Every position and length
// read from the image is checked and every chain is capped, so a hostile image ends in an error.
import { AgentError } from '../../util/errors.ts';
import { MAX_READ, type ImageFile } from './image-file.ts';
import { descriptorTag, type TagCheck } from './udf-tag.ts';

const ANCHOR_SECTOR = 256;
const BLOCK_SIZES = [2048, 512, 1024, 4096] as const;
const MAX_VDS_SECTORS = 256;
const MAX_VDS_POINTERS = 8;
/** Allocation extent descriptors followed, and extents accepted, for one file. */
const MAX_AD_HOPS = 16;
const MAX_EXTENTS = 4096;

const TAG = { AVDP: 2, VDP: 3, PD: 5, LVD: 6, TD: 8, FSD: 256, FID: 257, AED: 258, FE: 261, EFE: 266 } as const;

interface LbAddr {
  lbn: number;
  partRef: number;
}

interface Volume {
  image: ImageFile;
  blockSize: number;
  /** Partition reference number → [start sector, length in blocks]. */
  partitions: Array<{ start: number; length: number }>;
  fsd: LbAddr;
}

export interface UdfEntry {
  name: string;
  directory: boolean;
  icb: LbAddr;
}

function fail(image: ImageFile, reason: string, extra: Record<string, string | number> = {}): never {
  throw new AgentError('provisioning', `the UDF file system on ${image.path} ${reason}`, { device: image.path, format: 'udf', ...extra });
}

/**
 * True when the volume recognition sequence (from byte 32768) names a UDF volume (NSR02/NSR03). Its
 * descriptors are 2048 bytes apart, or one block apart for larger blocks, so every 2048 bytes is
 * looked at; a damaged ISO 9660 descriptor in front of it does not hide it.
 */
export async function hasUdf(image: ImageFile): Promise<boolean> {
  for (let i = 0; i < 32; i++) {
    const d = await image.probe(32768 + i * 2048, 6, 'UDF volume recognition sequence');
    if (!d) return false;
    const id = d.toString('latin1', 1, 6);
    if (id === 'NSR02' || id === 'NSR03') return true;
    if (id === 'TEA01') return false;
  }
  return false;
}

function check(image: ImageFile, buf: Buffer, want: number, location: number | null, what: string): void {
  const c: TagCheck = descriptorTag(buf, want, location);
  if (c !== 'ok') fail(image, `has a damaged ${what} (${c})`, { location: location ?? -1 });
}

async function findAnchor(image: ImageFile): Promise<{ blockSize: number; anchor: Buffer }> {
  for (const bs of BLOCK_SIZES) {
    if ((ANCHOR_SECTOR + 1) * bs > image.size) continue;
    const anchor = await image.read(ANCHOR_SECTOR * bs, 512, 'UDF anchor volume descriptor pointer');
    if (descriptorTag(anchor, TAG.AVDP, ANCHOR_SECTOR) === 'ok') return { blockSize: bs, anchor };
  }
  return fail(image, 'has no valid anchor volume descriptor pointer at sector 256');
}

async function openVolume(image: ImageFile): Promise<Volume> {
  const { blockSize, anchor } = await findAnchor(image);
  const main = { length: anchor.readUInt32LE(16), location: anchor.readUInt32LE(20) };
  const reserve = { length: anchor.readUInt32LE(24), location: anchor.readUInt32LE(28) };
  try {
    return await readSequence(image, blockSize, main);
  } catch (e) {
    // The reserve sequence is a copy kept for exactly this case.
    try {
      return await readSequence(image, blockSize, reserve);
    } catch {
      throw e;
    }
  }
}

async function readSequence(image: ImageFile, bs: number, extent: { length: number; location: number }): Promise<Volume> {
  const partitionsByNumber = new Map<number, { start: number; length: number }>();
  let lvd: Buffer | null = null;
  let hops = 0;
  let sector = extent.location;
  let end = extent.location + Math.min(Math.floor(extent.length / bs), MAX_VDS_SECTORS);
  while (sector < end) {
    const d = await image.read(sector * bs, bs, 'UDF volume descriptor');
    const id = d.readUInt16LE(0);
    if (descriptorTag(d, id, sector) !== 'ok' || id === TAG.TD) break; // an unrecorded sector ends the sequence too
    if (id === TAG.VDP) {
      if (++hops > MAX_VDS_POINTERS) fail(image, `has more than ${MAX_VDS_POINTERS} volume descriptor pointers`);
      sector = d.readUInt32LE(24);
      end = sector + Math.min(Math.floor(d.readUInt32LE(20) / bs), MAX_VDS_SECTORS);
      continue;
    }
    if (id === TAG.PD) partitionsByNumber.set(d.readUInt16LE(22), { start: d.readUInt32LE(188), length: d.readUInt32LE(192) });
    if (id === TAG.LVD && !lvd) lvd = d;
    sector++;
  }
  if (!lvd) fail(image, 'has no logical volume descriptor');
  if (lvd.readUInt32LE(212) !== bs)
    fail(image, `has a logical block size (${lvd.readUInt32LE(212)}) that differs from its sector size (${bs})`);
  const partitions: Volume['partitions'] = [];
  const mapCount = lvd.readUInt32LE(268);
  let p = 440;
  for (let i = 0; i < mapCount; i++) {
    if (p + 2 > lvd.length) fail(image, 'has partition maps that run past their descriptor');
    const type = lvd[p]!;
    const len = lvd[p + 1]!;
    if (len < 6 || p + len > lvd.length) fail(image, 'has a partition map of an invalid length');
    let number: number;
    if (type === 1) number = lvd.readUInt16LE(p + 4);
    else {
      // Type 2: sparable partitions read like type 1 on an unspared medium; virtual and metadata do not.
      const kind = lvd.toString('latin1', p + 5, p + 28).replace(/\0.*$/s, '');
      if (kind !== '*UDF Sparable Partition' || len < 40) fail(image, `uses a ${kind || 'unknown'} partition map, which is not supported`);
      number = lvd.readUInt16LE(p + 38);
    }
    const pd = partitionsByNumber.get(number);
    if (!pd) fail(image, `has no partition descriptor for partition ${number}`);
    partitions.push(pd);
    p += len;
  }
  return { image, blockSize: bs, partitions, fsd: { lbn: lvd.readUInt32LE(252), partRef: lvd.readUInt16LE(256) } };
}

/** Physical byte offset of `count` blocks at a logical address, checked against the partition. */
function physical(vol: Volume, addr: LbAddr, count = 1): number {
  const part = vol.partitions[addr.partRef];
  if (!part) fail(vol.image, `refers to partition ${addr.partRef}, which the volume does not have`);
  if (addr.lbn + count > part.length) fail(vol.image, `refers to block ${addr.lbn}, past the end of its partition`);
  return (part.start + addr.lbn) * vol.blockSize;
}

async function readBlock(vol: Volume, addr: LbAddr, want: number, what: string): Promise<Buffer> {
  const b = await vol.image.read(physical(vol, addr), vol.blockSize, `UDF ${what}`);
  check(vol.image, b, want, addr.lbn, what);
  return b;
}

async function rootIcb(vol: Volume): Promise<LbAddr> {
  const fsd = await readBlock(vol, vol.fsd, TAG.FSD, 'file set descriptor');
  return { lbn: fsd.readUInt32LE(404), partRef: fsd.readUInt16LE(408) };
}

interface FileEntry {
  fileType: number;
  length: number;
  adType: number;
  ads: Buffer;
  at: LbAddr;
}

async function readFileEntry(vol: Volume, at: LbAddr): Promise<FileEntry> {
  const b = await vol.image.read(physical(vol, at), vol.blockSize, 'UDF file entry');
  const id = b.readUInt16LE(0);
  check(vol.image, b, id === TAG.EFE ? TAG.EFE : TAG.FE, at.lbn, 'file entry');
  const [eaAt, base] = id === TAG.EFE ? [208, 216] : [168, 176];
  const lea = b.readUInt32LE(eaAt);
  const lad = b.readUInt32LE(eaAt + 4);
  if (base + lea + lad > b.length) fail(vol.image, `has a file entry in block ${at.lbn} whose descriptors run past the block`);
  const high = b.readUInt32LE(60);
  const length = high > 0 ? Number.MAX_SAFE_INTEGER : b.readUInt32LE(56);
  return { fileType: b[27]!, length, adType: b.readUInt16LE(34) & 7, ads: b.subarray(base + lea, base + lea + lad), at };
}

interface Extent {
  addr: LbAddr;
  length: number;
  recorded: boolean;
}

/** The data extents of a file, following allocation extent descriptors (type 3) a bounded number of times. */
async function extents(vol: Volume, fe: FileEntry): Promise<Extent[]> {
  const size = fe.adType === 0 ? 8 : fe.adType === 1 ? 16 : fe.adType === 2 ? 20 : 0;
  if (size === 0) fail(vol.image, `has a file entry in block ${fe.at.lbn} with an unknown allocation descriptor type ${fe.adType}`);
  const out: Extent[] = [];
  let ads = fe.ads;
  for (let hop = 0; ; hop++) {
    let next: LbAddr | null = null;
    for (let p = 0; p + size <= ads.length; p += size) {
      const raw = ads.readUInt32LE(p);
      const length = raw & 0x3fffffff;
      const type = raw >>> 30;
      if (length === 0) break;
      const addr: LbAddr =
        fe.adType === 0
          ? { lbn: ads.readUInt32LE(p + 4), partRef: fe.at.partRef }
          : fe.adType === 1
            ? { lbn: ads.readUInt32LE(p + 4), partRef: ads.readUInt16LE(p + 8) }
            : { lbn: ads.readUInt32LE(p + 12), partRef: ads.readUInt16LE(p + 16) };
      if (type === 3) {
        next = addr;
        break;
      }
      if (out.length >= MAX_EXTENTS) fail(vol.image, `has a file with more than ${MAX_EXTENTS} extents`);
      out.push({ addr, length, recorded: type === 0 });
    }
    if (!next) return out;
    if (hop >= MAX_AD_HOPS) fail(vol.image, `has a chain of more than ${MAX_AD_HOPS} allocation extent descriptors (a loop?)`);
    const aed = await readBlock(vol, next, TAG.AED, 'allocation extent descriptor');
    const lad = aed.readUInt32LE(20);
    if (24 + lad > aed.length) fail(vol.image, `has an allocation extent descriptor in block ${next.lbn} that runs past the block`);
    ads = aed.subarray(24, 24 + lad);
  }
}

async function readContents(vol: Volume, fe: FileEntry, max: number, what: string): Promise<Buffer> {
  if (fe.length > max)
    fail(
      vol.image,
      `records ${what} as ${fe.length === Number.MAX_SAFE_INTEGER ? 'more than 4 GiB' : fe.length + ' bytes'}, more than the ${max} accepted`,
    );
  if (fe.adType === 3) {
    if (fe.length > fe.ads.length) fail(vol.image, `records ${what} as longer than the data embedded in its file entry`);
    return Buffer.from(fe.ads.subarray(0, fe.length));
  }
  const parts: Buffer[] = [];
  let left = fe.length;
  for (const x of await extents(vol, fe)) {
    if (left === 0) break;
    const n = Math.min(left, x.length);
    const blocks = Math.ceil(n / vol.blockSize);
    parts.push(x.recorded ? await vol.image.read(physical(vol, x.addr, blocks), n, `UDF data of ${what}`) : Buffer.alloc(n));
    left -= n;
  }
  if (left > 0) fail(vol.image, `has allocation descriptors for ${what} that cover less than its ${fe.length} bytes`);
  return Buffer.concat(parts);
}

function decodeName(b: Buffer): string {
  if (b.length === 0) return '';
  const comp = b[0]!;
  const body = b.subarray(1);
  if (comp === 8 || comp === 254) return body.toString('latin1');
  if (comp === 16 || comp === 255) {
    const s = Buffer.from(body.subarray(0, body.length - (body.length % 2)));
    s.swap16();
    return s.toString('utf16le');
  }
  return '';
}

/** Opens the volume and lists its root directory. */
export async function listUdfRoot(image: ImageFile): Promise<{ vol: Volume; entries: UdfEntry[] }> {
  const vol = await openVolume(image);
  const root = await readFileEntry(vol, await rootIcb(vol));
  if (root.fileType !== 4) fail(image, 'has a root directory ICB that is not a directory');
  const dir = await readContents(vol, root, MAX_READ, 'the root directory');
  const entries: UdfEntry[] = [];
  let p = 0;
  while (p + 38 <= dir.length) {
    const chars = dir[p + 18]!;
    const lfi = dir[p + 19]!;
    const liu = dir.readUInt16LE(p + 36);
    const size = (38 + liu + lfi + 3) & ~3;
    if (p + 38 + liu + lfi > dir.length) fail(image, `has a file identifier descriptor that runs past the root directory`);
    const tag = descriptorTag(dir.subarray(p, p + 38 + liu + lfi), TAG.FID, null);
    if (tag !== 'ok') fail(image, `has a damaged file identifier descriptor at offset ${p} of the root directory (${tag})`);
    const icb = { lbn: dir.readUInt32LE(p + 24), partRef: dir.readUInt16LE(p + 28) };
    const name = decodeName(dir.subarray(p + 38 + liu, p + 38 + liu + lfi));
    if ((chars & 0x0c) === 0 && name) entries.push({ name, directory: (chars & 0x02) !== 0, icb }); // not deleted, not the parent
    p += size;
  }
  return { vol, entries };
}

/** Reads one file of the root directory listing, at most `max` bytes long. */
export async function readUdfEntry(vol: Volume, entry: UdfEntry, max: number): Promise<Buffer> {
  const fe = await readFileEntry(vol, entry.icb);
  if (entry.directory || fe.fileType === 4) fail(vol.image, `records ${entry.name} as a directory, not a file`);
  if (fe.fileType !== 5) fail(vol.image, `records ${entry.name} as a special file (type ${fe.fileType}), not a regular file`);
  return readContents(vol, fe, max, entry.name);
}
