// Extension manifests and packages from storage (docs/protocol.md §3.5, §5.2, §5.3, §10 item 25): the direct
// channel (GET of the blob URL, through the proxy when one is configured) and the HostGAPlugin channel
// (/extensionArtifact, never proxied), the default one first; when the other one succeeds it becomes the default
// for the rest of the process. URIs are shuffled and tried in turn; one download gives up after 5 minutes.
// Packages stream to a temporary file beside `<Lib.Dir>/<Name>__<Version>.zip` and are renamed into place only
// when complete (length and zip central directory checked), so no partial zip is ever left behind.
//
// API:
//   downloadManifest(ctx: DownloadContext, handler: { name; manifestUris }, opts?: { fastTrack? }): Promise<DownloadedManifest>
//   downloadHandlerPackage(ctx: DownloadContext, req: PackageRequest): Promise<string>   (the zip's path)
//   packageZipPath(libDir: string, name: string, version: string): string
//   isCompleteZip(path: string): boolean
//   class ChannelPreference { hostPluginFirst }, processChannel (the process-wide one)
//   DOWNLOAD_TIMEOUT_MS, MAX_MANIFEST_BYTES, MAX_PACKAGE_BYTES
import { closeSync, existsSync, fstatSync, openSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AgentError, describeError, isAgentError } from '../util/errors.ts';
import type { HostPluginClient } from '../fabric/hostplugin.ts';
import type { HttpClient } from '../fabric/http.ts';
import { log } from '../log/logger.ts';
import { redactUrl } from '../log/redact.ts';
import { renameIntoPlace, tempPathBeside } from '../os/atomic-file.ts';
import { packageZipName } from './package/layout.ts';
import { parseExtensionManifest, type ExtensionManifest } from './manifest.ts';
import { monotonicNow } from '../util/clock.ts';

/** §3.5: the whole download (every URI, both channels, every retry) is abandoned after 5 minutes. */
export const DOWNLOAD_TIMEOUT_MS = 5 * 60_000;
/**
 * One attempt at a package may take the whole download deadline (the HTTP client cuts it to what is left): the
 * client's 10 s default is for platform documents, and a 200 MiB package from slow storage takes longer. Upstream's
 * socket timeout is per read, not per answer.
 */
const PACKAGE_ATTEMPT_MS = DOWNLOAD_TIMEOUT_MS;
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_PACKAGE_BYTES = 256 * 1024 * 1024;
/** The direct channel gets few attempts: its fallback is the HostGAPlugin, not more waiting (a storage 403 throttles). */
const DIRECT_ATTEMPTS = 2;

/** Which channel goes first. §3.5: one flag for the whole process, flipped when the fallback succeeds. */
export class ChannelPreference {
  hostPluginFirst = false;
}
export const processChannel = new ChannelPreference();

export interface DownloadContext {
  /** The HTTP client; its proxy settings apply to the direct channel only. */
  http: HttpClient;
  hostPlugin: HostPluginClient;
  /** The HTTP client's clock (both must agree for the 5-minute cap). */
  now?: () => number;
  /** Default: processChannel. */
  channel?: ChannelPreference;
  /** For the URI shuffle; default Math.random. */
  random?: () => number;
  /** Default DOWNLOAD_TIMEOUT_MS. */
  timeoutMs?: number;
}

export interface DownloadedManifest {
  manifest: ExtensionManifest;
  /** The document as received, for the goal-state history (`<Name>.manifest.xml`). */
  xml: string;
  /** The manifest URI that worked (sent as x-ms-artifact-manifest-location with the package). */
  uri: string;
}

export interface PackageRequest {
  /** Lib.Dir */
  libDir: string;
  /** Publisher.Type */
  name: string;
  version: string;
  /** The chosen manifest package's URIs. */
  uris: readonly string[];
  /** DownloadedManifest.uri, or null when unknown. */
  manifestUri: string | null;
  /** Default MAX_PACKAGE_BYTES. */
  maxBytes?: number;
}

/** `<Lib.Dir>/<Name>__<Version>.zip` (§5.3). */
export function packageZipPath(libDir: string, name: string, version: string): string {
  return join(libDir, packageZipName(name, version));
}

const EOCD_SIG = 0x06054b50;
const EOCD_SIZE = 22;

/**
 * True when `path` ends with a zip End Of Central Directory record whose central directory lies inside the file:
 * the cheap check that catches a truncated download (the central directory is written last). Entries and CRCs
 * are checked on extraction.
 */
export function isCompleteZip(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false;
  }
  try {
    const size = fstatSync(fd).size;
    if (size < EOCD_SIZE) return false;
    const tailLen = Math.min(size, EOCD_SIZE + 0xffff);
    const tail = Buffer.alloc(tailLen);
    readSync(fd, tail, 0, tailLen, size - tailLen);
    for (let i = tailLen - EOCD_SIZE; i >= 0; i--) {
      if (tail.readUInt32LE(i) !== EOCD_SIG) continue;
      const eocdAt = size - tailLen + i;
      const cdSize = tail.readUInt32LE(i + 12);
      const cdOffset = tail.readUInt32LE(i + 16);
      const commentLen = tail.readUInt16LE(i + 20);
      if (i + EOCD_SIZE + commentLen === tailLen && cdOffset + cdSize <= eocdAt) return true;
    }
    return false;
  } finally {
    closeSync(fd);
  }
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

type Channel = 'direct' | 'hostplugin';
type Fetch<T> = (uri: string, channel: Channel, deadline: number) => Promise<T>;

/**
 * Tries every URI (shuffled) on the default channel, then on the other; flips the default when the other one
 * succeeds. Throws AgentError('extension', operation Download) naming `what` and the last error.
 */
async function withFallback<T>(ctx: DownloadContext, what: string, uris: readonly string[], fetch: Fetch<T>): Promise<T> {
  const now = ctx.now ?? monotonicNow;
  const pref = ctx.channel ?? processChannel;
  const limitMs = ctx.timeoutMs ?? DOWNLOAD_TIMEOUT_MS;
  const deadline = now() + limitMs;
  if (uris.length === 0) throw new AgentError('extension', `cannot download ${what}: it has no URIs`, { operation: 'Download' });
  let lastError = 'no attempt was made';
  let outOfTime = false;
  outer: for (const uri of shuffled(uris, ctx.random ?? Math.random)) {
    const order: Channel[] = pref.hostPluginFirst ? ['hostplugin', 'direct'] : ['direct', 'hostplugin'];
    for (const [i, channel] of order.entries()) {
      if (now() >= deadline) {
        outOfTime = true;
        break outer;
      }
      try {
        const result = await fetch(uri, channel, deadline);
        if (i === 1) {
          pref.hostPluginFirst = channel === 'hostplugin';
          log.info(`downloaded ${what} through the ${channel} channel after the other failed; it goes first from now on`);
        }
        return result;
      } catch (e) {
        lastError = describeError(e);
        log.warn(`downloading ${what} from ${redactUrl(uri)} through the ${channel} channel failed: ${lastError}`);
        // A full disk is not a channel problem: trying elsewhere cannot help.
        if (isAgentError(e, 'io')) throw e;
      }
    }
  }
  if (now() >= deadline) outOfTime = true;
  const limit = limitMs % 60_000 === 0 ? `${limitMs / 60_000} minutes` : `${Math.round(limitMs / 1000)} seconds`;
  const why = outOfTime
    ? `gave up after ${limit} (last error: ${lastError})`
    : `every URI failed on both channels (last error: ${lastError})`;
  throw new AgentError('extension', `cannot download ${what}: ${why}`, { operation: 'Download', uris: uris.length });
}

/** The host's artifact channel, after its /versions check (§3.3: unavailable without 2015-09-01). */
async function viaHostPlugin(ctx: DownloadContext): Promise<HostPluginClient> {
  if (!(await ctx.hostPlugin.checkVersions())) {
    throw new AgentError('protocol', 'the HostGAPlugin does not support API version 2015-09-01', {});
  }
  return ctx.hostPlugin;
}

/**
 * Fetches and parses a handler's manifest from its manifest URIs (§5.2). Fast Track goal states add
 * x-ms-verify-from-artifacts-blob on the HostGAPlugin channel. A document that does not parse counts as a failed
 * attempt, so the next channel or URI is tried.
 */
export async function downloadManifest(
  ctx: DownloadContext,
  handler: { name: string; manifestUris: readonly string[] },
  opts: { fastTrack?: boolean } = {},
): Promise<DownloadedManifest> {
  const what = `the manifest of ${handler.name}`;
  return withFallback(ctx, what, handler.manifestUris, async (uri, channel, deadline) => {
    let body: Buffer;
    if (channel === 'direct') {
      const res = await ctx.http.request({
        url: uri,
        target: 'external',
        deadline,
        maxAttempts: DIRECT_ATTEMPTS,
        throttleRaisesAttempts: false,
        maxBodyBytes: MAX_MANIFEST_BYTES,
      });
      body = res.body;
    } else {
      const hp = await viaHostPlugin(ctx);
      body = await hp.extensionArtifact(uri, { verifyFromArtifactsBlob: opts.fastTrack === true, deadline, maxBytes: MAX_MANIFEST_BYTES });
    }
    const xml = body.toString('utf8');
    return { manifest: parseExtensionManifest(xml, what), xml, uri };
  });
}

/**
 * Makes sure `<Lib.Dir>/<Name>__<Version>.zip` exists and is complete, downloading it when needed; returns its path.
 * An existing complete zip (a crash leftover, §5.3) is kept; an incomplete one is discarded first.
 */
export async function downloadHandlerPackage(ctx: DownloadContext, req: PackageRequest): Promise<string> {
  const zip = packageZipPath(req.libDir, req.name, req.version);
  const what = `the package ${req.name} ${req.version}`;
  if (existsSync(zip)) {
    if (isCompleteZip(zip)) {
      log.info(`${zip} is already there; using it instead of downloading ${what} again`);
      return zip;
    }
    log.warn(`${zip} is not a complete zip file; discarding it and downloading ${what} again`);
    rmSync(zip, { force: true });
  }
  const maxBytes = req.maxBytes ?? MAX_PACKAGE_BYTES;
  const tmp = tempPathBeside(zip);
  try {
    await withFallback(ctx, what, req.uris, async (uri, channel, deadline) => {
      if (channel === 'direct') {
        await ctx.http.request({
          url: uri,
          target: 'external',
          deadline,
          timeoutMs: PACKAGE_ATTEMPT_MS,
          maxAttempts: DIRECT_ATTEMPTS,
          throttleRaisesAttempts: false,
          maxBodyBytes: maxBytes,
          toFile: tmp,
        });
      } else {
        const hp = await viaHostPlugin(ctx);
        await hp.extensionArtifact(uri, {
          ...(req.manifestUri ? { manifestLocation: req.manifestUri } : {}),
          deadline,
          attemptTimeoutMs: PACKAGE_ATTEMPT_MS,
          maxBytes,
          toFile: tmp,
        });
      }
      if (!isCompleteZip(tmp)) {
        throw new AgentError('extension', `the download from ${redactUrl(uri)} is not a complete zip file (no central directory)`, {
          channel,
        });
      }
    });
    renameIntoPlace(tmp, zip);
  } finally {
    rmSync(tmp, { force: true });
  }
  log.info(`downloaded ${what} to ${zip}`);
  return zip;
}
