// The IMDS health check of upstream's heartbeat (common/protocol/imds.py ImdsClient.validate): GET
// /metadata/instance?api-version=2018-02-01 with the health User-Agent. Only a failure of the service itself counts as
// unhealthy — a 5xx or 410, a body that is not JSON, or a network section without the primary interface's MAC and
// private IP; a connection failure or another 4xx is the guest's problem, not IMDS's, and reads as healthy.
import { isAgentError } from '../util/errors.ts';
import { USER_AGENT } from '../util/version.ts';
import { imdsUrl, type PlatformEndpoints } from './endpoints.ts';
import type { HttpClient } from './http.ts';

export const IMDS_HEALTH_API_VERSION = '2018-02-01';
export const HEALTH_USER_AGENT = `${USER_AGENT}+health`;

export interface ImdsHealth {
  healthy: boolean;
  /** why, when something failed (upstream's "response", sent as the observation's value) */
  response: string;
}

const RESOURCE = 'instance';

function field(obj: unknown, name: string): unknown {
  const v = obj !== null && typeof obj === 'object' ? (obj as Record<string, unknown>)[name] : undefined;
  if (v === undefined || v === null) throw new Error(`Missing field: [${name}]`);
  return v;
}

/** upstream's check_field chain on the network section. */
export function validateInstanceMetadata(text: string): ImdsHealth {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { healthy: false, response: `JSON parsing failed: ${(e as Error).message}` };
  }
  try {
    const nic = (field(field(doc, 'network'), 'interface') as unknown[])[0];
    field(nic, 'macAddress');
    const ip = (field(field(nic, 'ipv4'), 'ipAddress') as unknown[])[0];
    field(ip, 'privateIpAddress');
  } catch (e) {
    return { healthy: false, response: (e as Error).message };
  }
  return { healthy: true, response: '' };
}

export async function imdsHealth(http: HttpClient, endpoints: PlatformEndpoints): Promise<ImdsHealth> {
  const where = `IMDS error in /metadata/${RESOURCE}`;
  try {
    const res = await http.request({
      url: imdsUrl(endpoints, `/metadata/${RESOURCE}?api-version=${IMDS_HEALTH_API_VERSION}`),
      // upstream sends the Python value True, which reaches the wire as "True"
      headers: { Metadata: 'True', 'User-Agent': HEALTH_USER_AGENT },
      maxAttempts: 1,
      maxBodyBytes: 1024 * 1024,
    });
    return validateInstanceMetadata(res.text());
  } catch (e) {
    if (isAgentError(e, 'resource-gone')) return { healthy: false, response: `${where}: HTTP Failed with Status Code 410: Gone` };
    const status = isAgentError(e, 'http') ? Number(e.context.status ?? 0) : 0;
    if (status >= 500) return { healthy: false, response: `${where}: HTTP status ${status}` };
    if (status === 0) return { healthy: true, response: `${where}: Unable to connect to endpoint` };
    return { healthy: true, response: `${where}: HTTP status ${status}` };
  }
}
