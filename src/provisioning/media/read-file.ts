// Reads one file from the root directory of a UDF or ISO 9660 medium in user space (docs/protocol.md
// §4.3: the provisioning media is a UDF or ISO 9660 DVD), for kernels without those file systems.
import { AgentError, describeError, isAgentError } from '../../util/errors.ts';
import { log } from '../../log/logger.ts';
import { ImageFile } from './image-file.ts';
import { hasIso9660, listIsoRoot, readIsoEntry, type IsoEntry } from './iso9660.ts';
import { hasUdf, listUdfRoot, readUdfEntry } from './udf.ts';

/** The provisioning file is a few kilobytes; anything bigger than this is refused. */
export const MAX_FILE_SIZE = 1024 * 1024;

export type MediaFormat = 'udf' | 'iso9660';

export interface MediaFile {
  data: Buffer;
  format: MediaFormat;
}

/** A plain ISO 9660 level-1 name holds only d-characters: "ovf-env.xml" is recorded as "OVF_ENV.XML". */
function isoPlainForm(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9_.]/g, '_');
}

function notFound(path: string, name: string, format: MediaFormat): AgentError {
  return new AgentError(
    'provisioning',
    `the provisioning media ${path} has no ${name} in its root directory`,
    { device: path, format, name },
    undefined,
    'not-found',
  );
}

async function fromUdf(image: ImageFile, name: string, max: number): Promise<Buffer> {
  const { vol, entries } = await listUdfRoot(image);
  const entry = entries.find((e) => e.name.toLowerCase() === name.toLowerCase());
  if (!entry) throw notFound(image.path, name, 'udf');
  return readUdfEntry(vol, entry, max);
}

async function fromIso(image: ImageFile, name: string, max: number): Promise<Buffer> {
  const entries = await listIsoRoot(image);
  const lower = name.toLowerCase();
  const match = (e: IsoEntry): boolean =>
    e.plain ? e.name === isoPlainForm(name) || e.name.toLowerCase() === lower : e.name.toLowerCase() === lower;
  // Joliet and Rock Ridge names first: they are the real names; the plain name is a fallback.
  const entry = entries.find((e) => !e.plain && match(e)) ?? entries.find(match);
  if (!entry) throw notFound(image.path, name, 'iso9660');
  return readIsoEntry(image, entry, max);
}

/**
 * Reads `name` (case-insensitively) from the root directory of the UDF or ISO 9660 file system on a block
 * device or image file. UDF is tried first; a UDF+ISO bridge whose UDF side is damaged is read through ISO 9660.
 */
export async function readFileFromImage(path: string, name: string, max: number = MAX_FILE_SIZE): Promise<MediaFile> {
  const image = await ImageFile.open(path);
  try {
    let udfError: unknown = null;
    if (await hasUdf(image)) {
      try {
        const data = await fromUdf(image, name, max);
        log.verbose(`read ${name} (${data.length} bytes) from the UDF file system on ${path}`);
        return { data, format: 'udf' };
      } catch (e) {
        if (isAgentError(e, undefined, 'not-found')) throw e; // a sound UDF volume is the answer
        udfError = e;
      }
    }
    if (await hasIso9660(image)) {
      let data: Buffer;
      if (udfError) log.warn(`the UDF file system on ${path} could not be read (${describeError(udfError)}); trying ISO 9660`);
      try {
        data = await fromIso(image, name, max);
      } catch (e) {
        // Both sides of a bridge are damaged: the UDF reason is the one to report, it is the primary tree.
        if (!udfError) throw e;
        log.warn(`the ISO 9660 file system on ${path} could not be read either: ${describeError(e)}`);
        throw udfError;
      }
      log.verbose(`read ${name} (${data.length} bytes) from the ISO 9660 file system on ${path}`);
      return { data, format: 'iso9660' };
    }
    if (udfError) throw udfError;
    throw new AgentError('provisioning', `the provisioning media ${path} holds neither a UDF nor an ISO 9660 file system`, {
      device: path,
    });
  } finally {
    await image.close();
  }
}

export interface RootFile {
  name: string;
  data: Buffer;
}

/** A root-directory name safe to write into a directory of ours: no path separators, not "." or "..". */
function safeName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !/[/\0]/.test(name);
}

/**
 * Every regular file of the root directory of a UDF or ISO 9660 medium, read in user space (what a kernel mount would
 * show there, for SCVMM's media when the kernel has neither file system). Plain ISO 9660 names are given in lower
 * case, as Linux shows them. Refused beyond `maxTotal` bytes in all.
 */
export async function readRootFilesFromImage(
  path: string,
  maxEach: number,
  maxTotal: number,
): Promise<{ format: MediaFormat; files: RootFile[] }> {
  const image = await ImageFile.open(path);
  try {
    const files: RootFile[] = [];
    let total = 0;
    const add = (name: string, data: Buffer): void => {
      total += data.length;
      if (total > maxTotal) throw new AgentError('io', `the files of ${path} exceed ${maxTotal} bytes`, { device: path });
      files.push({ name, data });
    };
    if (await hasUdf(image)) {
      const { vol, entries } = await listUdfRoot(image);
      for (const e of entries) if (!e.directory && safeName(e.name)) add(e.name, await readUdfEntry(vol, e, maxEach));
      return { format: 'udf', files };
    }
    if (!(await hasIso9660(image))) {
      throw new AgentError('provisioning', `the media ${path} holds neither a UDF nor an ISO 9660 file system`, { device: path });
    }
    const entries = (await listIsoRoot(image)).filter((e) => !e.directory);
    // one file per extent: a Joliet or Rock Ridge name before the plain one
    const byOffset = new Map<number, IsoEntry>();
    for (const e of entries) if (!byOffset.has(e.offset) || !e.plain) byOffset.set(e.offset, e);
    for (const e of byOffset.values()) {
      const name = e.plain ? e.name.toLowerCase() : e.name;
      if (safeName(name)) add(name, await readIsoEntry(image, e, maxEach));
    }
    return { format: 'iso9660', files };
  } finally {
    await image.close();
  }
}
