// Storage request shapes for the status blob (docs/protocol.md §6.2, §10 item 11): the headers of a BlockBlob put,
// a PageBlob create and a page write, and the split of a page blob into ≤ 4 MiB, 512-aligned, zero-padded writes.
//
// API:
//   STORAGE_VERSION, PAGE_SIZE, MAX_PAGE_WRITE
//   blockBlobHeaders(len, now), pageBlobCreateHeaders(size, now), pageWriteHeaders(start, end, now)
//   pageWrites(data: Uint8Array): PageWrite[]       padded chunks
//   roundUpToPage(n), padWithSpaces(data), pageWriteUrl(sasUrl)
import { statusTimestamp } from './aggregate.ts';

export const STORAGE_VERSION = '2014-02-14';
export const PAGE_SIZE = 512;
export const MAX_PAGE_WRITE = 4 * 1024 * 1024;

export function roundUpToPage(n: number): number {
  return Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
}

/** x-ms-date as the agent sends it: `%Y-%m-%dT%H:%M:%SZ` (§6.2). */
function date(now: Date): string {
  return statusTimestamp(now);
}

export function blockBlobHeaders(length: number, now: Date): Record<string, string> {
  return { 'Content-Length': String(length), 'x-ms-blob-type': 'BlockBlob', 'x-ms-date': date(now), 'x-ms-version': STORAGE_VERSION };
}

export function pageBlobCreateHeaders(size: number, now: Date): Record<string, string> {
  return {
    'Content-Length': '0',
    'x-ms-blob-content-length': String(size),
    'x-ms-blob-type': 'PageBlob',
    'x-ms-date': date(now),
    'x-ms-version': STORAGE_VERSION,
  };
}

/** Headers of a page write of bytes [start, end) (end exclusive, 512-aligned). */
export function pageWriteHeaders(start: number, end: number, now: Date): Record<string, string> {
  return {
    'Content-Length': String(end - start),
    'x-ms-date': date(now),
    'x-ms-range': `bytes=${start}-${end - 1}`,
    'x-ms-page-write': 'update',
    'x-ms-version': STORAGE_VERSION,
  };
}

/** The SAS URL with comp=page added, after an existing query when there is one. */
export function pageWriteUrl(sasUrl: string): string {
  return sasUrl.includes('?') ? `${sasUrl}&comp=page` : `${sasUrl}?comp=page`;
}

export interface PageWrite {
  readonly start: number;
  /** exclusive, a multiple of 512 */
  readonly end: number;
  readonly body: Buffer;
}

/** Chunks of ≤ 4 MiB of `data`, each zero-padded to a multiple of 512 bytes. Empty data gives no writes. */
export function pageWrites(data: Uint8Array): PageWrite[] {
  const out: PageWrite[] = [];
  for (let start = 0; start < data.length; start += MAX_PAGE_WRITE) {
    const stop = Math.min(data.length, start + MAX_PAGE_WRITE);
    const end = roundUpToPage(stop);
    const body = Buffer.alloc(end - start);
    body.set(data.subarray(start, stop), 0);
    out.push({ start, end, body });
  }
  return out;
}

/** The HostGAPlugin path pads the JSON text with spaces to a multiple of 512 (§6.2). */
export function padWithSpaces(data: Uint8Array): Buffer {
  const out = Buffer.alloc(roundUpToPage(data.length), 0x20);
  out.set(data, 0);
  return out;
}
