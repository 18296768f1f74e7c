// The Instance Metadata Service client (docs/protocol.md §1.3): instance and compute metadata, with the
// `Metadata: true` header, never through a proxy.
import { AgentError } from '../util/errors.ts';
import { imdsUrl, type PlatformEndpoints } from './endpoints.ts';
import type { HttpClient } from './http.ts';

export const IMDS_API_VERSION = '2018-02-01';
const MAX_IMDS_BYTES = 1024 * 1024;

export class ImdsClient {
  readonly #http: HttpClient;
  readonly #endpoints: PlatformEndpoints;

  constructor(http: HttpClient, endpoints: PlatformEndpoints) {
    this.#http = http;
    this.#endpoints = endpoints;
  }

  async #json(path: string): Promise<Record<string, unknown>> {
    const res = await this.#http.request({
      url: imdsUrl(this.#endpoints, `${path}?api-version=${IMDS_API_VERSION}`),
      headers: { Metadata: 'true' },
      maxBodyBytes: MAX_IMDS_BYTES,
    });
    let data: unknown;
    try {
      data = JSON.parse(res.text());
    } catch {
      throw new AgentError('json', `the IMDS answer for ${path} is not valid JSON`, { path });
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      throw new AgentError('json', `the IMDS answer for ${path} is not a JSON object`, { path });
    }
    return data as Record<string, unknown>;
  }

  /** GET /metadata/instance: the heartbeat document (network, compute). */
  instance(): Promise<Record<string, unknown>> {
    return this.#json('/metadata/instance');
  }

  /** GET /metadata/instance/compute: location, subscriptionId, vmId, image … for telemetry. */
  compute(): Promise<Record<string, unknown>> {
    return this.#json('/metadata/instance/compute');
  }
}
