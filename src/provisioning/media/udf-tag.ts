// The 16-byte descriptor tag that starts every UDF descriptor (ECMA-167 3/7.2): identifier,
// checksum over the tag, CRC-ITU-T over the descriptor body, and the block it claims to live in.

export type TagCheck = 'ok' | 'wrong identifier' | 'bad tag checksum' | 'bad CRC' | 'wrong location' | 'too short';

/** CRC-ITU-T (polynomial 0x1021, initial 0), as ECMA-167 1/7.2.6 uses it. */
export function crcItu(b: Uint8Array): number {
  let crc = 0;
  for (const byte of b) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** Checks the tag at the start of `b`; `location` null skips the location check. */
export function descriptorTag(b: Buffer, identifier: number, location: number | null): TagCheck {
  if (b.length < 16) return 'too short';
  if (b.readUInt16LE(0) !== identifier) return 'wrong identifier';
  let sum = 0;
  for (let i = 0; i < 16; i++) if (i !== 4) sum += b[i]!;
  if ((sum & 0xff) !== b[4]) return 'bad tag checksum';
  const crcLength = b.readUInt16LE(10);
  if (16 + crcLength <= b.length && crcItu(b.subarray(16, 16 + crcLength)) !== b.readUInt16LE(8)) return 'bad CRC';
  if (location !== null && b.readUInt32LE(12) !== location) return 'wrong location';
  return 'ok';
}
