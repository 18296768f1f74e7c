// What upstream's telemetry takes from IMDS (common/protocol/imds.py get_compute, common/event.py
// _get_imds_info): GET /metadata/instance/compute?api-version=2018-02-01 with `Metadata: True`; the region, the
// subscription, the resource group, the VM id and the image origin. One attempt: the caller asks again later.
import { USER_AGENT } from '../util/version.ts';
import { imdsUrl, type PlatformEndpoints } from './endpoints.ts';
import type { HttpClient } from './http.ts';

export interface ImdsCompute {
  location: string;
  subscriptionId: string;
  resourceGroupName: string;
  vmId: string;
  /**
   * upstream: 0 unknown, 1 custom (no publisher), 2 endorsed, 3 platform. We do not carry upstream's table of
   * endorsed distributions, so a Marketplace image reads as 0 (unknown) rather than a guess.
   */
  imageOrigin: number;
}

function str(doc: Record<string, unknown>, name: string): string {
  const v = doc[name];
  return typeof v === 'string' ? v : '';
}

export function parseCompute(text: string): ImdsCompute | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return null;
  const d = doc as Record<string, unknown>;
  return {
    location: str(d, 'location'),
    subscriptionId: str(d, 'subscriptionId'),
    resourceGroupName: str(d, 'resourceGroupName'),
    vmId: str(d, 'vmId'),
    imageOrigin: str(d, 'publisher') === '' ? 1 : 0,
  };
}

export async function fetchImdsCompute(http: HttpClient, endpoints: PlatformEndpoints): Promise<ImdsCompute | null> {
  const res = await http.request({
    url: imdsUrl(endpoints, '/metadata/instance/compute?api-version=2018-02-01'),
    headers: { Metadata: 'True', 'User-Agent': USER_AGENT },
    maxAttempts: 1,
    maxBodyBytes: 1024 * 1024,
  });
  return parseCompute(res.text());
}
