// The zip format, read in process: the central directory, stored and deflated entries, CRC-32 checked.
// Callers import it through zip-read.ts, which adds the safe extractor.
//
// API:
//   readZipEntries(buf: Buffer, what?: string): ZipEntry[]
//       Parses the central directory and checks each local header; `what` names the archive in errors
//       (default "the zip file"). Throws AgentError('extension') for a corrupt, truncated, encrypted,
//       multi-disk or ZIP64 archive (bytes after the end-of-central-directory record count as corrupt).
//   readZipEntryData(buf: Buffer, entry: ZipEntry, what?: string): Buffer
//       The entry's bytes, inflated in memory (never more than its header declares), size and CRC-32 checked.
//   zipEntryChunks(buf: Buffer, entry: ZipEntry, what?: string): AsyncGenerator<Buffer>
//       The same bytes as a stream of chunks (bounded memory), checked as they pass; for large entries.
//   interface ZipEntry { name, isDirectory, isSymlink, mode, method, crc32, compressedSize, uncompressedSize,
//                        modified, dataOffset }
import { crc32, createInflateRaw, inflateRawSync } from 'node:zlib';
import { AgentError } from '../util/errors.ts';

export interface ZipEntry {
  /** The name as stored: UTF-8 when flagged (general purpose bit 11), else code page 437. */
  readonly name: string;
  readonly isDirectory: boolean;
  /** Unix mode says S_IFLNK: the entry's data is the link target. */
  readonly isSymlink: boolean;
  /** Permission bits (0o7777) from the unix external attributes, or null when the archive was not made on unix. */
  readonly mode: number | null;
  /** 0 = stored, 8 = deflate (anything else is refused when the data is read). */
  readonly method: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  /** The DOS timestamp, read as local time the way Info-ZIP does. */
  readonly modified: Date;
  /** Offset of the entry's (compressed) data in the archive buffer. */
  readonly dataOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const EOCD_SIZE = 22;
const HOST_UNIX = 3;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const CHUNK = 64 * 1024;

// Code page 437, bytes 0x80..0xFF (the default encoding of zip names without the UTF-8 flag).
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

function decodeName(bytes: Buffer, utf8: boolean): string {
  if (utf8) return bytes.toString('utf8');
  let s = '';
  for (const b of bytes) s += b < 0x80 ? String.fromCharCode(b) : CP437_HIGH[b - 0x80];
  return s;
}

function corrupt(what: string, why: string, entry?: string): AgentError {
  const where = entry === undefined ? what : `entry "${entry}" of ${what}`;
  return new AgentError('extension', `${where} is corrupt: ${why}`, { archive: what, entry });
}

function findEndOfCentralDirectory(buf: Buffer, what: string): number {
  if (buf.length < EOCD_SIZE) throw corrupt(what, `it is only ${buf.length} bytes long (truncated or not a zip)`);
  const stop = Math.max(0, buf.length - EOCD_SIZE - 0xffff);
  for (let i = buf.length - EOCD_SIZE; i >= stop; i--) {
    // The comment length must reach exactly to the end of the file, which rules out a signature inside a comment.
    if (buf.readUInt32LE(i) === SIG_EOCD && i + EOCD_SIZE + buf.readUInt16LE(i + 20) === buf.length) return i;
  }
  throw corrupt(what, 'no end-of-central-directory record was found (truncated or not a zip)');
}

function dosTime(date: number, time: number): Date {
  return new Date(1980 + (date >> 9), ((date >> 5) & 0xf) - 1, date & 0x1f, time >> 11, (time >> 5) & 0x3f, (time & 0x1f) * 2);
}

export function readZipEntries(buf: Buffer, what = 'the zip file'): ZipEntry[] {
  const eocd = findEndOfCentralDirectory(buf, what);
  const disk = buf.readUInt16LE(eocd + 4);
  const cdDisk = buf.readUInt16LE(eocd + 6);
  const countHere = buf.readUInt16LE(eocd + 8);
  const count = buf.readUInt16LE(eocd + 10);
  const cdSize = buf.readUInt32LE(eocd + 12);
  const cdOffset = buf.readUInt32LE(eocd + 16);
  if (
    (eocd >= 20 && buf.readUInt32LE(eocd - 20) === SIG_ZIP64_LOCATOR) ||
    count === 0xffff ||
    cdOffset === 0xffffffff ||
    cdSize === 0xffffffff
  ) {
    throw new AgentError('extension', `${what} is a ZIP64 archive, which is not supported`, { archive: what });
  }
  if (disk !== 0 || cdDisk !== 0 || countHere !== count) {
    throw new AgentError('extension', `${what} spans several disks, which is not supported`, { archive: what });
  }
  if (cdOffset + cdSize > eocd) throw corrupt(what, 'the central directory lies outside the file');

  const entries: ZipEntry[] = [];
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > eocd || buf.readUInt32LE(p) !== SIG_CENTRAL)
      throw corrupt(what, `central directory record ${i + 1} of ${count} is missing or damaged`);
    const madeBy = buf.readUInt16LE(p + 4);
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const time = buf.readUInt16LE(p + 12);
    const date = buf.readUInt16LE(p + 14);
    const crc = buf.readUInt32LE(p + 16);
    const compressedSize = buf.readUInt32LE(p + 20);
    const uncompressedSize = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const externalAttrs = buf.readUInt32LE(p + 38);
    const localOffset = buf.readUInt32LE(p + 42);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > eocd) throw corrupt(what, `central directory record ${i + 1} of ${count} runs past the directory`);
    const nameBytes = buf.subarray(p + 46, p + 46 + nameLen);
    const name = decodeName(nameBytes, (flags & 0x800) !== 0);
    p = end;

    if (compressedSize === 0xffffffff || uncompressedSize === 0xffffffff || localOffset === 0xffffffff) {
      throw new AgentError('extension', `entry "${name}" of ${what} uses ZIP64 sizes, which are not supported`, {
        archive: what,
        entry: name,
      });
    }
    if (flags & 0x1) {
      throw new AgentError('extension', `entry "${name}" of ${what} is encrypted, which is not supported`, { archive: what, entry: name });
    }
    // The local header repeats the name; its own name/extra lengths decide where the data starts.
    if (localOffset + 30 > buf.length || buf.readUInt32LE(localOffset) !== SIG_LOCAL) {
      throw corrupt(what, 'its local header is missing', name);
    }
    const localNameLen = buf.readUInt16LE(localOffset + 26);
    const localExtraLen = buf.readUInt16LE(localOffset + 28);
    const dataOffset = localOffset + 30 + localNameLen + localExtraLen;
    if (!buf.subarray(localOffset + 30, localOffset + 30 + localNameLen).equals(nameBytes)) {
      throw corrupt(what, 'its local header names a different file', name);
    }
    if (dataOffset + compressedSize > cdOffset) throw corrupt(what, 'its data runs past the end of the file data (truncated)', name);

    const unixMode = madeBy >> 8 === HOST_UNIX ? externalAttrs >>> 16 : 0;
    const type = unixMode & S_IFMT;
    entries.push({
      name,
      isDirectory: name.endsWith('/') || type === S_IFDIR || (unixMode === 0 && (externalAttrs & 0x10) !== 0),
      isSymlink: type === S_IFLNK,
      mode: unixMode === 0 ? null : unixMode & 0o7777,
      method,
      crc32: crc,
      compressedSize,
      uncompressedSize,
      modified: dosTime(date, time),
      dataOffset,
    });
  }
  return entries;
}

function checkMethod(entry: ZipEntry, what: string): void {
  if (entry.method !== 0 && entry.method !== 8) {
    throw new AgentError(
      'extension',
      `entry "${entry.name}" of ${what} uses compression method ${entry.method}; only stored and deflate are supported`,
      {
        archive: what,
        entry: entry.name,
      },
    );
  }
}

function checkResult(entry: ZipEntry, what: string, size: number, crc: number): void {
  if (size !== entry.uncompressedSize) throw corrupt(what, `it holds ${size} bytes, its header says ${entry.uncompressedSize}`, entry.name);
  if (crc !== entry.crc32) throw corrupt(what, 'its CRC-32 does not match', entry.name);
}

function compressedData(buf: Buffer, entry: ZipEntry): Buffer {
  return buf.subarray(entry.dataOffset, entry.dataOffset + entry.compressedSize);
}

export function readZipEntryData(buf: Buffer, entry: ZipEntry, what = 'the zip file'): Buffer {
  checkMethod(entry, what);
  const raw = compressedData(buf, entry);
  let data: Buffer;
  if (entry.method === 0) {
    data = raw;
  } else {
    try {
      // maxOutputLength: a lying header cannot make us allocate more than it declared (plus one byte to notice).
      data = inflateRawSync(raw, { maxOutputLength: entry.uncompressedSize + 1 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw corrupt(what, `it inflates to more than the ${entry.uncompressedSize} bytes its header declares`, entry.name);
      }
      throw corrupt(what, `its deflate data is damaged (${(e as Error).message})`, entry.name);
    }
  }
  checkResult(entry, what, data.length, crc32(data));
  return data;
}

export async function* zipEntryChunks(buf: Buffer, entry: ZipEntry, what = 'the zip file'): AsyncGenerator<Buffer> {
  checkMethod(entry, what);
  const raw = compressedData(buf, entry);
  let size = 0;
  let crc = 0;
  const pass = (chunk: Buffer): Buffer => {
    size += chunk.length;
    if (size > entry.uncompressedSize)
      throw corrupt(what, `it inflates to more than the ${entry.uncompressedSize} bytes its header declares`, entry.name);
    crc = crc32(chunk, crc);
    return chunk;
  };
  if (entry.method === 0) {
    for (let off = 0; off < raw.length; off += CHUNK) yield pass(raw.subarray(off, off + CHUNK));
  } else {
    const inflater = createInflateRaw();
    // Feed the input a piece at a time so the inflater's output is pulled, not piled up in memory.
    const feed = (async () => {
      for (let off = 0; off < raw.length; off += CHUNK) {
        if (inflater.destroyed) return;
        if (!inflater.write(raw.subarray(off, off + CHUNK))) await new Promise<void>((r) => inflater.once('drain', r).once('close', r));
      }
      inflater.end();
    })();
    try {
      for await (const chunk of inflater) yield pass(chunk as Buffer);
    } catch (e) {
      if (e instanceof AgentError) throw e;
      throw corrupt(what, `its deflate data is damaged (${(e as Error).message})`, entry.name);
    } finally {
      inflater.destroy();
      await feed;
    }
  }
  checkResult(entry, what, size, crc);
}
