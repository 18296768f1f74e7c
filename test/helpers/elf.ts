// A minimal ELF64 reader for checking built executables: machine, notes and section names.
import { readFileSync } from 'node:fs';

export interface ElfInfo {
  machine: 'x86-64' | 'aarch64' | string;
  notes: Array<{ name: string; size: number }>;
  sections: string[];
  seaFuse: boolean;
}

export function readElf(path: string): ElfInfo {
  const b = readFileSync(path);
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) throw new Error(`${path} is not an ELF64 file`);
  const em = b.readUInt16LE(18);
  const phoff = Number(b.readBigUInt64LE(32));
  const shoff = Number(b.readBigUInt64LE(40));
  const phentsize = b.readUInt16LE(54);
  const phnum = b.readUInt16LE(56);
  const shentsize = b.readUInt16LE(58);
  const shnum = b.readUInt16LE(60);
  const shstrndx = b.readUInt16LE(62);
  const notes: ElfInfo['notes'] = [];
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (b.readUInt32LE(p) !== 4) continue; // PT_NOTE
    const off = Number(b.readBigUInt64LE(p + 8));
    const size = Number(b.readBigUInt64LE(p + 32));
    for (let q = off; q + 12 <= off + size; ) {
      const ns = b.readUInt32LE(q);
      const ds = b.readUInt32LE(q + 4);
      notes.push({
        name: b
          .subarray(q + 12, q + 12 + ns)
          .toString('latin1')
          .replace(/\0+$/, ''),
        size: ds,
      });
      q += 12 + ((ns + 3) & ~3) + ((ds + 3) & ~3);
    }
  }
  const sections: string[] = [];
  if (shoff > 0 && shstrndx < shnum) {
    const strOff = Number(b.readBigUInt64LE(shoff + shstrndx * shentsize + 24));
    for (let i = 0; i < shnum; i++) {
      const nameOff = b.readUInt32LE(shoff + i * shentsize);
      const end = b.indexOf(0, strOff + nameOff);
      sections.push(b.subarray(strOff + nameOff, end).toString('latin1'));
    }
  }
  return {
    machine: em === 62 ? 'x86-64' : em === 183 ? 'aarch64' : `em-${em}`,
    notes,
    sections,
    seaFuse: b.includes('NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2:1'),
  };
}
