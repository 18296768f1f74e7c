// The WireServer's HealthService (upstream common/protocol/healthservice.py): observations about the platform's
// endpoints, as the guest sees them, POSTed as JSON to http://<WireServer>:80/HealthService. Upstream sends one
// observation per request (its list is cleared after every report), and so do we.
import { pythonJsonDumps } from '../util/python-json.ts';
import { wireServerUrl, type PlatformEndpoints } from './endpoints.ts';
import type { HttpClient } from './http.ts';

/** Observation names upstream reports; the periodic ones are the HostGAPlugin heartbeat and the IMDS heartbeat. */
export const OBSERVATION = {
  hostPluginHeartbeat: 'GuestAgentPluginHeartbeat',
  imdsHeartbeat: 'InstanceMetadataHeartbeat',
} as const;

export interface Observation {
  name: string;
  isHealthy: boolean;
  description?: string;
  value?: string;
}

/** The request body, byte for byte as upstream's json.dumps makes it (its field caps: 64 / 128 / 128 characters). */
export function healthServiceBody(observations: readonly Observation[]): string {
  return pythonJsonDumps({
    Api: 'reporttargethealth',
    Version: '1.0',
    Source: 'WALinuxAgent',
    Observations: observations.map(observationObject),
  });
}

/** upstream Observation.as_obj: the observation as sent, its fields capped. */
export function observationObject(o: Observation): { ObservationName: string; IsHealthy: boolean; Description: string; Value: string } {
  return {
    ObservationName: o.name.slice(0, 64),
    IsHealthy: o.isHealthy,
    Description: (o.description ?? '').slice(0, 128),
    Value: (o.value ?? '').slice(0, 128),
  };
}

/** POSTs one observation; one attempt (the next heartbeat comes a minute later). Throws when the POST fails. */
export async function reportObservation(http: HttpClient, endpoints: PlatformEndpoints, observation: Observation): Promise<void> {
  await http.request({
    url: wireServerUrl(endpoints, '/HealthService'),
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: healthServiceBody([observation]),
    maxAttempts: 1,
    maxBodyBytes: 64 * 1024,
  });
}
