// ISO 9660 (ECMA-119) reader for one file in the root directory, with Joliet and Rock Ridge names.
// Used when the kernel has no iso9660 driver; every size and position read from the image is checked.
import { AgentError } from '../../util/errors.ts';
import { MAX_READ, type ImageFile } from './image-file.ts';

const SECTOR = 2048;
const FIRST_DESCRIPTOR = 16;
/** Volume descriptors looked at before giving up on a terminator. */
const MAX_DESCRIPTORS = 32;
/** Rock Ridge continuation areas followed per directory record. */
const MAX_CONTINUATIONS = 8;

export interface IsoEntry {
  /** The name as the image records it: Joliet or Rock Ridge when present, else the plain name without ";1". */
  name: string;
  /** True when `name` is the plain ISO 9660 name (upper case, d-characters only). */
  plain: boolean;
  directory: boolean;
  /** Byte offset of the contents on the medium. */
  offset: number;
  length: number;
  multiExtent: boolean;
  interleaved: boolean;
}

interface Volume {
  blockSize: number;
  root: Buffer;
  joliet: boolean;
}

function fail(image: ImageFile, reason: string, extra: Record<string, string | number> = {}): never {
  throw new AgentError('provisioning', `the ISO 9660 file system on ${image.path} ${reason}`, {
    device: image.path,
    format: 'iso9660',
    ...extra,
  });
}

/** True when sector 16 starts a volume descriptor ("CD001"). */
export async function hasIso9660(image: ImageFile): Promise<boolean> {
  const d = await image.probe(FIRST_DESCRIPTOR * SECTOR, 7, 'ISO 9660 volume descriptor');
  return d !== null && d.toString('latin1', 1, 6) === 'CD001';
}

async function volumes(image: ImageFile): Promise<{ primary: Volume; joliet: Volume | null }> {
  let primary: Volume | null = null;
  let joliet: Volume | null = null;
  for (let i = 0; i < MAX_DESCRIPTORS; i++) {
    const d = await image.read((FIRST_DESCRIPTOR + i) * SECTOR, SECTOR, 'ISO 9660 volume descriptor');
    if (d.toString('latin1', 1, 6) !== 'CD001') fail(image, `has a damaged volume descriptor in sector ${FIRST_DESCRIPTOR + i}`);
    const type = d[0]!;
    if (type === 255) break;
    if (type !== 1 && type !== 2) continue;
    const blockSize = d.readUInt16LE(128);
    if (blockSize !== 512 && blockSize !== 1024 && blockSize !== 2048)
      fail(image, `declares an invalid logical block size of ${blockSize} bytes`);
    const vol: Volume = { blockSize, root: d.subarray(156, 156 + 34), joliet: false };
    if (type === 1 && !primary) primary = vol;
    // A supplementary descriptor is Joliet when its escape sequences name UCS-2 level 1, 2 or 3.
    if (type === 2 && !joliet && /^%\/[@CE]/.test(d.toString('latin1', 88, 91))) joliet = { ...vol, joliet: true };
  }
  if (!primary) fail(image, 'has no primary volume descriptor');
  return { primary, joliet };
}

/** Decodes one directory record's location, size and flags. */
function recordInfo(image: ImageFile, rec: Buffer, blockSize: number): Omit<IsoEntry, 'name' | 'plain'> {
  if (rec.length < 34) fail(image, 'has a directory record shorter than 34 bytes');
  const flags = rec[25]!;
  return {
    offset: rec.readUInt32LE(2) * blockSize,
    length: rec.readUInt32LE(10),
    directory: (flags & 0x02) !== 0,
    multiExtent: (flags & 0x80) !== 0,
    interleaved: rec[26] !== 0 || rec[27] !== 0,
  };
}

async function readDirectory(image: ImageFile, vol: Volume): Promise<Buffer> {
  const root = recordInfo(image, vol.root, vol.blockSize);
  if (!root.directory) fail(image, 'has a root directory record that is not a directory');
  if (root.length === 0 || root.length > MAX_READ) fail(image, `has a root directory of an absurd size (${root.length} bytes)`);
  return image.read(root.offset, root.length, 'ISO 9660 root directory');
}

/** Lists the root directory (without "." and ".."), Joliet names first when the image has them. */
export async function listIsoRoot(image: ImageFile): Promise<IsoEntry[]> {
  const { primary, joliet } = await volumes(image);
  const out: IsoEntry[] = [];
  if (joliet) out.push(...(await entries(image, joliet, await readDirectory(image, joliet))));
  out.push(...(await entries(image, primary, await readDirectory(image, primary))));
  return out;
}

async function entries(image: ImageFile, vol: Volume, dir: Buffer): Promise<IsoEntry[]> {
  const out: IsoEntry[] = [];
  let susp: number | null = null; // Rock Ridge skip length, known from the "." record's SP entry
  let pos = 0;
  let index = 0;
  while (pos < dir.length) {
    const len = dir[pos]!;
    if (len === 0) {
      // Records never cross a sector; the rest of this sector is padding. Always moves forward.
      pos = (Math.floor(pos / SECTOR) + 1) * SECTOR;
      continue;
    }
    if (len < 34 || pos + len > dir.length) fail(image, `has a directory record with an invalid length (${len} bytes at offset ${pos})`);
    const rec = dir.subarray(pos, pos + len);
    pos += len;
    const nameLen = rec[32]!;
    if (33 + nameLen > len) fail(image, 'has a directory record whose name runs past the record');
    const suStart = 33 + nameLen + (nameLen % 2 === 0 ? 1 : 0);
    const systemUse = rec.subarray(Math.min(suStart, len));
    if (index++ === 0) {
      // "." of the root: a Rock Ridge image announces SUSP here with an SP entry.
      if (!vol.joliet && systemUse.toString('latin1', 0, 2) === 'SP' && systemUse[4] === 0xbe && systemUse[5] === 0xef)
        susp = systemUse[6]!;
      continue;
    }
    if (nameLen === 1 && (rec[33] === 0 || rec[33] === 1)) continue; // ".." (or a stray ".")
    const raw = rec.subarray(33, 33 + nameLen);
    const info = recordInfo(image, rec, vol.blockSize);
    if (vol.joliet) {
      out.push({ ...info, name: stripVersion(ucs2be(raw)), plain: false });
      continue;
    }
    const rr = susp === null ? null : await rockRidgeName(image, vol, systemUse.subarray(susp));
    if (rr !== null) out.push({ ...info, name: rr, plain: false });
    out.push({ ...info, name: stripVersion(raw.toString('latin1')).replace(/\.$/, ''), plain: true });
  }
  return out;
}

function ucs2be(b: Buffer): string {
  const swapped = Buffer.from(b.subarray(0, b.length - (b.length % 2)));
  swapped.swap16();
  return swapped.toString('utf16le');
}

function stripVersion(name: string): string {
  return name.replace(/;\d*$/, '');
}

/** The Rock Ridge NM name in a system use area (following CE continuations), or null. */
async function rockRidgeName(image: ImageFile, vol: Volume, area: Buffer): Promise<string | null> {
  let name: Buffer[] | null = null;
  for (let hop = 0; hop <= MAX_CONTINUATIONS; hop++) {
    let next: { block: number; offset: number; length: number } | null = null;
    let p = 0;
    while (p + 4 <= area.length) {
      const sig = area.toString('latin1', p, p + 2);
      const len = area[p + 2]!;
      if (len < 4 || p + len > area.length) break; // padding or garbage: stop reading this area
      if (sig === 'ST') break;
      if (sig === 'NM' && len >= 5) {
        const flags = area[p + 4]!;
        if (flags & 0x06) return null; // "." or ".." alias
        name ??= [];
        name.push(area.subarray(p + 5, p + len));
      } else if (sig === 'CE' && len >= 28) {
        next = { block: area.readUInt32LE(p + 4), offset: area.readUInt32LE(p + 12), length: area.readUInt32LE(p + 20) };
      }
      p += len;
    }
    if (!next) break;
    if (hop === MAX_CONTINUATIONS) fail(image, `has a Rock Ridge continuation chain longer than ${MAX_CONTINUATIONS} areas`);
    if (next.length > SECTOR || next.offset + next.length > vol.blockSize)
      fail(image, 'has a Rock Ridge continuation area of an invalid size');
    area = await image.read(next.block * vol.blockSize + next.offset, next.length, 'Rock Ridge continuation area');
  }
  return name ? Buffer.concat(name).toString('utf8') : null;
}

/** Reads the contents of a root-directory entry, at most `max` bytes long. */
export async function readIsoEntry(image: ImageFile, entry: IsoEntry, max: number): Promise<Buffer> {
  if (entry.directory) fail(image, `records ${entry.name} as a directory, not a file`, { name: entry.name });
  if (entry.length > max)
    fail(image, `records ${entry.name} as ${entry.length} bytes, more than the ${max} accepted`, {
      name: entry.name,
      length: entry.length,
    });
  if (entry.multiExtent || entry.interleaved)
    fail(image, `stores ${entry.name} in a split or interleaved extent, which is not supported`, { name: entry.name });
  return image.read(entry.offset, entry.length, `file ${entry.name}`);
}
