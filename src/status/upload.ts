// Uploading the status blob every cycle (docs/protocol.md §3.5, §6.2, §10 items 9–11): through the HostGAPlugin's
// PUT /status first; on its 410 the HGAP context is refreshed and the upload waits for the next cycle; on any other
// HGAP failure the blob is written directly to storage with the SAS URL (proxy allowed). BlockBlob or PageBlob as
// the goal state says (BlockBlob when unknown). SAS tokens never reach a log.
//
// API:
//   uploadStatus(json: string, opts: UploadStatusOptions): Promise<UploadOutcome>
//     throws AgentError('http') "failed to upload the status blob via either channel: …"
//   putStatusDirect(http, blob: { url, type }, data: Uint8Array, now): Promise<void>
//   putStatusViaHostPlugin(hostPlugin, blob, data, now): Promise<void>
import { AgentError, describeError, isAgentError } from '../util/errors.ts';
import type { StatusUploadBlob } from '../fabric/documents/index.ts';
import type { HostPluginClient } from '../fabric/hostplugin.ts';
import type { HttpClient } from '../fabric/http.ts';
import { log } from '../log/logger.ts';
import { redactUrl } from '../log/redact.ts';
import {
  blockBlobHeaders,
  padWithSpaces,
  pageBlobCreateHeaders,
  pageWriteHeaders,
  pageWrites,
  pageWriteUrl,
  roundUpToPage,
} from './page-blob.ts';

export interface UploadStatusOptions {
  http: HttpClient;
  /** null when there is no HostGAPlugin client (the direct path is used alone). */
  hostPlugin: HostPluginClient | null;
  /** The current goal state's status blob (ExtensionsConfig or vmSettings). */
  blob: StatusUploadBlob;
  /** A forced full goal-state refresh, used once when the blob URL is unknown (§6.2); returns the new blob. */
  refreshBlob?: () => Promise<StatusUploadBlob>;
  /** After an HGAP 410: refresh the container id / config name for the next cycle (§3.5). */
  onHostPluginGone?: () => Promise<void>;
  /** upstream report_status_event (ReportStatus telemetry): the fallback to the direct route, its failure. */
  onStatusEvent?: (message: string, isSuccess: boolean) => void;
  now?: () => Date;
}

export type UploadOutcome =
  | { uploaded: true; channel: 'hostplugin' | 'direct' }
  | { uploaded: false; reason: 'no-status-blob' | 'hostplugin-gone' };

type Blob = { url: string; type: StatusUploadBlob['type'] };

/** A storage PUT that must answer 201 Created (§6.2). */
async function storagePut(http: HttpClient, url: string, headers: Record<string, string>, body: Uint8Array): Promise<void> {
  const res = await http.request({ method: 'PUT', url, headers, body, target: 'external', maxBodyBytes: 64 * 1024 });
  if (res.status !== 201) {
    throw new AgentError('http', `PUT ${redactUrl(url)} answered ${res.status} instead of 201 Created`, {
      url: redactUrl(url),
      status: res.status,
    });
  }
}

/** Direct to storage: one BlockBlob PUT, or a PageBlob create then zero-padded page writes of ≤ 4 MiB. */
export async function putStatusDirect(http: HttpClient, blob: Blob, data: Uint8Array, now: () => Date): Promise<void> {
  if (blob.type === 'BlockBlob') return storagePut(http, blob.url, blockBlobHeaders(data.length, now()), data);
  await storagePut(http, blob.url, pageBlobCreateHeaders(roundUpToPage(data.length), now()), new Uint8Array(0));
  const url = pageWriteUrl(blob.url);
  for (const w of pageWrites(data)) await storagePut(http, url, pageWriteHeaders(w.start, w.end, now()), w.body);
}

/** Through the HostGAPlugin's PUT /status; a page blob is first padded with spaces to a multiple of 512. */
export async function putStatusViaHostPlugin(hostPlugin: HostPluginClient, blob: Blob, data: Uint8Array, now: () => Date): Promise<void> {
  if (!(await hostPlugin.checkVersions())) throw new AgentError('protocol', 'the HostGAPlugin does not support API version 2015-09-01');
  if (blob.type === 'BlockBlob') return hostPlugin.putStatus(blob.url, blockBlobHeaders(data.length, now()), data);
  const padded = padWithSpaces(data);
  await hostPlugin.putStatus(blob.url, pageBlobCreateHeaders(padded.length, now()), null);
  const url = pageWriteUrl(blob.url);
  for (const w of pageWrites(padded)) await hostPlugin.putStatus(url, pageWriteHeaders(w.start, w.end, now()), w.body);
}

export async function uploadStatus(json: string, opts: UploadStatusOptions): Promise<UploadOutcome> {
  const now = opts.now ?? (() => new Date());
  let target = opts.blob;
  if (target.url === null && opts.refreshBlob) {
    log.info('the goal state has no status upload blob: refreshing the goal state');
    target = await opts.refreshBlob();
  }
  if (target.url === null) {
    log.warn('Status upload uri is missing: the status blob is not uploaded this cycle');
    return { uploaded: false, reason: 'no-status-blob' };
  }
  const blob: Blob = { url: target.url, type: target.type };
  const data = Buffer.from(json, 'utf8');
  let hgapError = 'there is no HostGAPlugin client';
  if (opts.hostPlugin) {
    try {
      await putStatusViaHostPlugin(opts.hostPlugin, blob, data, now);
      log.verbose(`uploaded the status blob (${blob.type}, ${data.length} bytes) through the HostGAPlugin`);
      return { uploaded: true, channel: 'hostplugin' };
    } catch (e) {
      if (isAgentError(e, 'resource-gone')) {
        // §3.5, §10 item 10: no direct fallback; refresh the context and upload again next cycle
        log.info(`the HostGAPlugin answered the status upload with ${e.context.status}: refreshing its context, uploading next cycle`);
        await opts.onHostPluginGone?.();
        return { uploaded: false, reason: 'hostplugin-gone' };
      }
      hgapError = describeError(e);
      log.info(`Falling back to direct upload: ${hgapError}`);
      opts.onStatusEvent?.(`Falling back to direct upload: ${hgapError}`, true);
    }
  }
  try {
    await putStatusDirect(opts.http, blob, data, now);
    log.verbose(`uploaded the status blob (${blob.type}, ${data.length} bytes) directly to ${redactUrl(blob.url)}`);
    return { uploaded: true, channel: 'direct' };
  } catch (e) {
    const url = redactUrl(blob.url);
    opts.onStatusEvent?.(`Exception uploading status blob: ${describeError(e)}`, false);
    throw new AgentError(
      'http',
      `failed to upload the status blob via either channel (HostGAPlugin: ${hgapError}; direct: ${describeError(e)})`,
      { url },
      e,
    );
  }
}
