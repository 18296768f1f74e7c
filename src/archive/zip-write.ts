// A small zip writer, in memory: stored or deflated entries with unix modes, UTF-8 names, no ZIP64.
// Used by -collect-logs and by tests to build extension packages (including hostile ones).
//
// API:
//   createZip(entries: ZipWriteEntry[], opts?: ZipWriteOptions): Buffer
//   interface ZipWriteEntry { name: string; data: Buffer | string; mode?: number }
//       A name ending in "/" is a directory (mode defaults to 0o040755); a mode with S_IFLNK (0o120000) makes a
//       symlink whose data is the target; anything else is a regular file (mode defaults to 0o100644; permission
//       bits alone, e.g. 0o755, are taken as a regular file's).
//   interface ZipWriteOptions { deflate?: boolean; raw?: boolean; modified?: Date }
//       deflate (default true) compresses entries that get smaller; raw writes names as given (tests build
//       "../evil" or "/abs" entries with it; without it such names are refused); modified is the timestamp of
//       every entry (default now).
import { crc32, deflateRawSync } from 'node:zlib';
import { AgentError } from '../util/errors.ts';
import { safeEntryPath } from './zip-paths.ts';

export interface ZipWriteEntry {
  name: string;
  data: Buffer | string;
  mode?: number;
}

export interface ZipWriteOptions {
  deflate?: boolean;
  raw?: boolean;
  modified?: Date;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const MADE_BY_UNIX_20 = (3 << 8) | 20;
const LIMIT_32 = 0xffffffff;

function dosDateTime(d: Date): { date: number; time: number } {
  const year = Math.min(Math.max(d.getFullYear(), 1980), 2107);
  return {
    date: ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1),
  };
}

function fullMode(e: ZipWriteEntry): number {
  const isDir = e.name.endsWith('/');
  if (e.mode === undefined) return isDir ? S_IFDIR | 0o755 : S_IFREG | 0o644;
  if ((e.mode & S_IFMT) !== 0) return e.mode;
  return (isDir ? S_IFDIR : S_IFREG) | e.mode;
}

export function createZip(entries: ZipWriteEntry[], opts: ZipWriteOptions = {}): Buffer {
  const { date, time } = dosDateTime(opts.modified ?? new Date());
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  const names = new Set<string>();
  for (const e of entries) {
    if (!opts.raw) {
      safeEntryPath(e.name, 'the zip being written');
      if (names.has(e.name)) throw new AgentError('extension', `the zip being written already has an entry "${e.name}"`, { entry: e.name });
      names.add(e.name);
    }
    const name = Buffer.from(e.name, 'utf8');
    const data = typeof e.data === 'string' ? Buffer.from(e.data, 'utf8') : e.data;
    const mode = fullMode(e);
    const isDir = (mode & S_IFMT) === S_IFDIR;
    let method = 0;
    let stored = data;
    if (opts.deflate !== false && data.length > 0) {
      const packed = deflateRawSync(data);
      if (packed.length < data.length) {
        method = 8;
        stored = packed;
      }
    }
    if (data.length > LIMIT_32 || offset > LIMIT_32) {
      throw new AgentError('io', `the zip being written would need ZIP64 at entry "${e.name}", which is not supported`, { entry: e.name });
    }
    const crc = crc32(data);
    const flags = /[^\x00-\x7f]/.test(e.name) ? 0x800 : 0;
    const needed = isDir || method === 8 ? 20 : 10;

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(needed, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(time, 10);
    local.writeUInt16LE(date, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(stored.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(MADE_BY_UNIX_20, 4);
    central.writeUInt16LE(needed, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(time, 12);
    central.writeUInt16LE(date, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(stored.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    // extra length, comment length, disk number start, internal attributes: 0
    central.writeUInt32LE(((mode << 16) | (isDir ? 0x10 : 0)) >>> 0, 38);
    central.writeUInt32LE(offset, 42);

    locals.push(local, name, stored);
    centrals.push(central, name);
    offset += local.length + name.length + stored.length;
  }
  if (entries.length > 0xfffe)
    throw new AgentError('io', `the zip being written has ${entries.length} entries, more than a zip without ZIP64 holds`);
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}
