// Blob storage as the status blob upload (docs/protocol.md §6.2) and artifact downloads use it: PUT of a
// BlockBlob, PageBlob create and page writes (direct, or relayed by the HostGAPlugin's PUT /status), GET of uploaded
// blobs and of files from --blob-dir.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, normalize } from 'node:path';
import { findArtifact } from './artifacts.ts';
import { header, notFound, reply, type Reply, type Request } from './http.ts';
import type { FabricState } from './state.ts';

export interface BlobPut {
  /** the SAS URL or path+query the upload targets */
  uri: URL;
  /** lower-case header names */
  headers: Record<string, string>;
  body: Buffer;
}

/** Applies a PUT to the blob store and records the status upload; the Reply is what storage would answer. */
export function putBlob(state: FabricState, via: 'blob' | 'hostplugin', put: BlobPut): Reply {
  const key = decodeURIComponent(put.uri.pathname);
  const isPage = put.uri.searchParams.get('comp') === 'page';
  let blobType: string;
  if (isPage) {
    const blob = state.blobs.get(key);
    if (!blob) return reply(404, 'BlobNotFound: a page write to a blob that was not created\n', 'text/plain');
    const m = /^bytes=(\d+)-(\d+)$/.exec(put.headers['x-ms-range'] ?? '');
    if (!m) return reply(400, 'InvalidHeaderValue: x-ms-range must be bytes=START-END\n', 'text/plain');
    const start = Number(m[1]);
    const end = Number(m[2]);
    if (start % 512 !== 0 || (end + 1) % 512 !== 0 || end < start || end >= blob.length || end - start + 1 !== put.body.length) {
      return reply(416, 'InvalidPageRange: the range is not 512-aligned, exceeds the blob or does not match the body\n', 'text/plain');
    }
    put.body.copy(blob, start);
    blobType = 'PageBlob';
  } else {
    blobType = put.headers['x-ms-blob-type'] ?? '';
    if (blobType === 'BlockBlob') state.blobs.set(key, Buffer.from(put.body));
    else if (blobType === 'PageBlob') {
      const size = Number(put.headers['x-ms-blob-content-length']);
      if (!Number.isInteger(size) || size < 0 || size % 512 !== 0) {
        return reply(400, 'InvalidHeaderValue: x-ms-blob-content-length must be a multiple of 512\n', 'text/plain');
      }
      state.blobs.set(key, Buffer.alloc(size));
    } else return reply(400, 'MissingRequiredHeader: x-ms-blob-type must be BlockBlob or PageBlob\n', 'text/plain');
  }
  state.statusUploads.push({
    time: new Date().toISOString(),
    via,
    blob: key,
    blobType,
    operation: isPage ? 'page' : 'create',
    // page blobs are zero-filled to the declared size, and the HGAP path pads the JSON with spaces (§6.2)
    content: state.blobs
      .get(key)!
      .toString('utf8')
      .replace(/[\0 ]+$/, ''),
  });
  return reply(201);
}

function lowerHeaders(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/** A file of --blob-dir for a blob URL: by host and path, by path, then by file name. */
export function blobFile(state: FabricState, uri: URL): Buffer | null {
  const uploaded = state.blobs.get(decodeURIComponent(uri.pathname));
  if (uploaded) return uploaded;
  const registered = findArtifact(state, uri);
  if (registered) return registered;
  const dir = state.options.blobDir;
  if (!dir) return null;
  const path = decodeURIComponent(uri.pathname);
  for (const rel of [join(uri.hostname, path), path, basename(path)]) {
    const clean = normalize(rel).replace(/^(\.\.(\/|$))+/, '');
    const p = join(dir, clean);
    if (p.startsWith(dir) && existsSync(p) && statSync(p).isFile()) return readFileSync(p);
  }
  return null;
}

export function blobService(state: FabricState, req: Request): Reply {
  if (req.method === 'PUT') return putBlob(state, 'blob', { uri: req.url, headers: lowerHeaders(req), body: req.body });
  if (req.method === 'GET' || req.method === 'HEAD') {
    const data = blobFile(state, req.url);
    return data ? reply(200, data, 'application/octet-stream') : notFound(`BlobNotFound: ${req.url.pathname}`);
  }
  return reply(405, `method ${req.method} not allowed\n`, 'text/plain');
}

/** The artifact the HostGAPlugin proxies (x-ms-artifact-location), served from the blob store. */
export function artifact(state: FabricState, req: Request): Reply {
  const location = header(req, 'x-ms-artifact-location');
  if (!location) return reply(400, 'the request has no x-ms-artifact-location header\n', 'text/plain');
  let uri: URL;
  try {
    uri = new URL(location);
  } catch {
    return reply(400, 'x-ms-artifact-location is not a URL\n', 'text/plain');
  }
  const data = blobFile(state, uri);
  return data ? reply(200, data, 'application/octet-stream') : notFound(`no artifact for ${uri.origin}${uri.pathname}`);
}

/** A storage URL moved to the emulator's blob service: same path and SAS query, host http://HOST:PORT. */
export function emulatorBlobUrl(url: string, host: string, port: number): string {
  return url.replace(/^https?:\/\/[^/?#\s"<]+/i, `http://${host}:${port}`);
}

/**
 * With --rewrite-address, the status blob URL of ExtensionsConfig (<StatusUploadBlob>) and of vmSettings
 * (statusUploadBlob.value, keys in any case) points at the emulator's blob service, so that direct BlockBlob /
 * PageBlob uploads (§6.2) land in /status-uploads instead of going to a real storage account.
 */
export function rewriteStatusBlobUrl(text: string, host: string, blobPort: number): string {
  const move = (_m: string, head: string, url: string) => head + emulatorBlobUrl(url, host, blobPort);
  return text
    .replace(/(<StatusUploadBlob\b[^>]*>\s*)(https?:\/\/[^<\s]+)/g, move)
    .replace(/("statusUploadBlob"\s*:\s*\{[^}]*?"value"\s*:\s*")(https?:\/\/[^"\s]+)/gi, move);
}
