// Bounded positional reads from a block device or an image file, for the user-space media readers.
// Nothing is ever read whole: every read names its offset and length, is capped, and a read past the
// end of the medium is an error instead of a short buffer.
import { open, type FileHandle } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { AgentError, isAgentError } from '../../util/errors.ts';

/** The largest single read the readers ever ask for (a directory or the file itself). */
export const MAX_READ = 4 * 1024 * 1024;

export class ImageFile {
  readonly path: string;
  /** Size in bytes; Infinity when a block device does not say. */
  readonly size: number;
  private readonly fh: FileHandle;

  private constructor(path: string, fh: FileHandle, size: number) {
    this.path = path;
    this.fh = fh;
    this.size = size;
  }

  static async open(path: string): Promise<ImageFile> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why =
        code === 'ENOENT'
          ? 'does not exist'
          : code === 'ENOMEDIUM'
            ? 'has no medium in it'
            : code === 'EACCES'
              ? 'is not readable'
              : `cannot be opened (${code ?? (e as Error).message})`;
      throw new AgentError('io', `the provisioning media ${path} ${why}`, { device: path, code }, e);
    }
    try {
      const st = await fh.stat();
      if (st.isDirectory())
        throw new AgentError('io', `the provisioning media ${path} is a directory, not a device or an image file`, { device: path });
      const size = st.isFile() ? st.size : blockDeviceSize(st.rdev);
      return new ImageFile(path, fh, size);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  /** Exactly `length` bytes at `offset`; `what` names the structure in the error when they are not there. */
  async read(offset: number, length: number, what: string): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || length > MAX_READ) {
      throw new AgentError(
        'provisioning',
        `the ${what} on ${this.path} has an impossible position or size (offset ${offset}, ${length} bytes)`,
        {
          device: this.path,
          offset,
          length,
        },
      );
    }
    if (offset + length > this.size) throw this.pastEnd(what, offset, length);
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      let n: number;
      try {
        ({ bytesRead: n } = await this.fh.read(buf, got, length - got, offset + got));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new AgentError(
          'io',
          `reading the ${what} from ${this.path} failed (${code ?? (e as Error).message})`,
          { device: this.path, offset, code },
          e,
        );
      }
      if (n === 0) throw this.pastEnd(what, offset, length);
      got += n;
    }
    return buf;
  }

  /** Like read(), but null when the bytes lie past the end of the medium (for probing a format). */
  async probe(offset: number, length: number, what: string): Promise<Buffer | null> {
    try {
      return await this.read(offset, length, what);
    } catch (e) {
      if (isAgentError(e, undefined, 'past-end')) return null;
      throw e;
    }
  }

  private pastEnd(what: string, offset: number, length: number): AgentError {
    const size = Number.isFinite(this.size) ? this.size : null;
    const message = `the ${what} on ${this.path} lies past the end of the medium (the image is truncated or corrupt)`;
    return new AgentError('provisioning', message, { device: this.path, offset, length, size }, undefined, 'past-end');
  }
}

/** A block device's size from sysfs (512-byte sectors); Infinity when unknown. */
function blockDeviceSize(rdev: number): number {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((Math.floor(rdev / 0x100000) & 0xfff) << 8);
  try {
    const sectors = Number.parseInt(readFileSync(`/sys/dev/block/${major}:${minor}/size`, 'utf8').trim(), 10);
    return Number.isSafeInteger(sectors) && sectors > 0 ? sectors * 512 : Infinity;
  } catch {
    return Infinity;
  }
}
