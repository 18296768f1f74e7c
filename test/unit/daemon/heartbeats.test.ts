// The heartbeats of upstream's monitor thread (src/daemon/heartbeats.ts): the periods, the grace before an endpoint
// is reported unhealthy (ErrorState), the HealthService body byte for byte, and which IMDS answers count as unhealthy.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorState, HEARTBEAT_PERIOD_MS, heartbeatTasks, type HeartbeatPorts } from '../../../src/daemon/heartbeats.ts';
import { platformEndpoints } from '../../../src/fabric/endpoints.ts';
import { healthServiceBody } from '../../../src/fabric/health-service.ts';
import type { HostPluginClient } from '../../../src/fabric/hostplugin.ts';
import type { HttpClient, HttpRequest, HttpResponse } from '../../../src/fabric/http.ts';
import { validateInstanceMetadata } from '../../../src/fabric/imds-health.ts';
import { Config } from '../../../src/config/index.ts';
import { AgentError } from '../../../src/util/errors.ts';
import { TelemetryRecorder } from '../../../src/telemetry/recorder.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readQueuedEvents } from '../../helpers/telemetry-queue.ts';

test('HealthService body: the field names, order and separators of upstream json.dumps, fields capped at 64/128/128', () => {
  assert.equal(
    healthServiceBody([{ name: 'GuestAgentPluginHeartbeat', isHealthy: true }]),
    '{"Api": "reporttargethealth", "Version": "1.0", "Source": "WALinuxAgent", "Observations": [{"ObservationName": "GuestAgentPluginHeartbeat", "IsHealthy": true, "Description": "", "Value": ""}]}',
  );
  const long = JSON.parse(
    healthServiceBody([{ name: 'n'.repeat(100), isHealthy: false, description: 'd'.repeat(200), value: 'v'.repeat(200) }]),
  ) as {
    Observations: Array<Record<string, string | boolean>>;
  };
  assert.deepEqual(long.Observations[0], {
    ObservationName: 'n'.repeat(64),
    IsHealthy: false,
    Description: 'd'.repeat(128),
    Value: 'v'.repeat(128),
  });
});

test('ErrorState: healthy until failures have lasted the whole grace period; one success resets it', () => {
  let t = 0;
  const s = new ErrorState(5 * 60_000, () => t);
  s.record(false);
  t = 4 * 60_000;
  s.record(false);
  assert.equal(s.triggered, false);
  t = 5 * 60_000;
  assert.equal(s.triggered, true);
  s.record(true);
  assert.equal(s.triggered, false);
  s.record(false);
  t += 60_000;
  assert.equal(s.triggered, false);
});

test('IMDS validation: JSON with the primary interface MAC and private IP is healthy; anything less names what is missing', () => {
  const good = { network: { interface: [{ macAddress: '000D3A', ipv4: { ipAddress: [{ privateIpAddress: '10.0.0.4' }] } }] } };
  assert.deepEqual(validateInstanceMetadata(JSON.stringify(good)), { healthy: true, response: '' });
  assert.equal(validateInstanceMetadata('{').healthy, false);
  assert.match(validateInstanceMetadata('{').response, /^JSON parsing failed: /);
  assert.deepEqual(validateInstanceMetadata('{"compute": {}}'), { healthy: false, response: 'Missing field: [network]' });
  const noIp = { network: { interface: [{ macAddress: 'x', ipv4: { ipAddress: [{}] } }] } };
  assert.deepEqual(validateInstanceMetadata(JSON.stringify(noIp)), { healthy: false, response: 'Missing field: [privateIpAddress]' });
});

/** A fake platform: /health answers per `hgapUp`, IMDS per `imds`, and every request is kept. */
function fakePorts(state: { hgapUp: boolean; hgapNoAnswer?: boolean; imds: () => HttpResponse | Error }) {
  const sent: HttpRequest[] = [];
  const ok = (text: string): HttpResponse => ({
    status: 200,
    headers: {},
    body: Buffer.from(text),
    bodyBytes: text.length,
    attempts: 1,
    text: () => text,
  });
  const http: HttpClient = {
    async request(req) {
      sent.push(req);
      if (req.url.includes('/metadata/')) {
        const r = state.imds();
        if (r instanceof Error) throw r;
        return r;
      }
      return ok('');
    },
    requestCount: 0,
    close: async () => {},
  };
  const hostPlugin = {
    async health() {
      if (state.hgapNoAnswer) throw new AgentError('http', 'GET http://127.0.0.1:32526/health failed: socket hang up', { status: 0 });
      return state.hgapUp;
    },
  } as unknown as HostPluginClient;
  const endpoints = platformEndpoints(Config.from({ 'Protocol.WireServerEndpoint': '127.0.0.1:8080' }), '168.63.129.16');
  const ports: HeartbeatPorts = { http, endpoints, hostPlugin };
  return { sent, ports, ok };
}

test('heartbeats: every minute; the HostGAPlugin down for 5 minutes and IMDS failing (5xx) for 3 are reported unhealthy, a connection failure is not', async () => {
  let t = 0;
  let imdsAnswer: () => HttpResponse | Error = () => new Error('unset');
  const state = { hgapUp: true, imds: () => imdsAnswer() };
  const { sent, ports, ok } = fakePorts(state);
  const doc = JSON.stringify({ network: { interface: [{ macAddress: 'm', ipv4: { ipAddress: [{ privateIpAddress: '10.0.0.4' }] } }] } });
  imdsAnswer = () => ok(doc);
  const tasks = heartbeatTasks(
    () => ports,
    () => t,
  );
  assert.deepEqual(
    tasks.map((x) => [x.name, x.periodMs, x.firstAfterMs ?? 0]),
    [
      ['HostGAPlugin heartbeat', HEARTBEAT_PERIOD_MS, 0],
      ['IMDS heartbeat', HEARTBEAT_PERIOD_MS, 0],
    ],
  );
  assert.equal(HEARTBEAT_PERIOD_MS, 60_000);
  const observations = async () => {
    sent.length = 0;
    for (const task of tasks) await task.run();
    return sent
      .filter((r) => r.url.endsWith('/HealthService'))
      .map((r) => {
        assert.equal(r.method, 'POST');
        assert.equal(r.headers?.['Content-Type'], 'application/json');
        const o = (JSON.parse(String(r.body)) as { Observations: Array<{ ObservationName: string; IsHealthy: boolean; Value: string }> })
          .Observations;
        assert.equal(o.length, 1, 'one observation per request, as upstream');
        return `${o[0]!.ObservationName}=${o[0]!.IsHealthy}${o[0]!.Value ? ` (${o[0]!.Value})` : ''}`;
      });
  };
  assert.deepEqual(await observations(), ['GuestAgentPluginHeartbeat=true', 'InstanceMetadataHeartbeat=true']);
  const imdsReq = sent.find((r) => r.url.includes('/metadata/'))!;
  assert.equal(imdsReq.url, 'http://169.254.169.254/metadata/instance?api-version=2018-02-01');
  assert.deepEqual(imdsReq.headers, { Metadata: 'True', 'User-Agent': 'WALinuxAgent/2.15.0.1+health' });
  assert.equal(sent.find((r) => r.url.endsWith('/HealthService'))!.url, 'http://127.0.0.1:8080/HealthService');

  state.hgapUp = false;
  imdsAnswer = () => new AgentError('http', 'GET failed: HTTP status 500', { status: 500 });
  assert.deepEqual(await observations(), [
    'GuestAgentPluginHeartbeat=true',
    'InstanceMetadataHeartbeat=true (IMDS error in /metadata/instance: HTTP status 500)',
  ]);
  t = 3 * 60_000;
  assert.deepEqual(await observations(), [
    'GuestAgentPluginHeartbeat=true',
    'InstanceMetadataHeartbeat=false (IMDS error in /metadata/instance: HTTP status 500)',
  ]);
  t = 5 * 60_000;
  imdsAnswer = () => new AgentError('http', 'GET failed: connection refused', { status: 0 });
  assert.deepEqual(await observations(), [
    'GuestAgentPluginHeartbeat=false',
    'InstanceMetadataHeartbeat=true (IMDS error in /metadata/instance: Unable to connect to endpoint)',
  ]);
  state.hgapUp = true;
  assert.deepEqual((await observations())[0], 'GuestAgentPluginHeartbeat=true');
});

test('heartbeats: nothing is sent before the platform was reached', async () => {
  const tasks = heartbeatTasks(() => null);
  for (const task of tasks) await task.run();
});

test('ErrorState.failTime: upstream fail_time, minutes with up to 2 decimals, hours from 60 minutes, "unknown" when healthy', () => {
  let t = 0;
  const s = new ErrorState(5 * 60_000, () => t);
  assert.equal(s.failTime, 'unknown');
  s.record(false);
  assert.equal(s.failTime, '0.0 min');
  t = 5 * 60_000 + 20_000;
  assert.equal(s.failTime, '5.33 min');
  t = 90 * 60_000;
  assert.equal(s.failTime, '1.5 hr');
  s.record(true);
  assert.equal(s.failTime, 'unknown');
});

/** The events a recorder queued, as "Operation|OperationSuccess|Message|TaskName", in the order they were written. */
function queuedEvents(dir: string): string[] {
  return readQueuedEvents(dir).map(({ params: p }) => `${p.Operation}|${p.OperationSuccess}|${p.Message}|${p.TaskName}`);
}

test('heartbeat events: HostPluginHeartbeatExtended each minute once unhealthy, exceptions as HostPluginHeartbeat/ImdsHeartbeat, unhealthy observations as HealthObservation', async () => {
  let t = 0;
  const dir = join(mkdtempSync(join(tmpdir(), 'hb-events-')), 'events');
  const rec = new TelemetryRecorder(() => 1_700_000_000_000 + t);
  rec.start(dir);
  const doc = JSON.stringify({ network: { interface: [{ macAddress: 'm', ipv4: { ipAddress: [{ privateIpAddress: '10.0.0.4' }] } }] } });
  const state = { hgapUp: false, hgapNoAnswer: false, imds: (): HttpResponse | Error => ok(doc) };
  const { ports, ok } = fakePorts(state);
  const [hgap, imds] = heartbeatTasks(
    () => ports,
    () => t,
    () => true,
    rec,
  );
  const minute = async () => {
    await hgap!.run();
    await imds!.run();
    t += 60_000;
  };
  // failing /health, but within the 5-minute grace: no event at all (minutes 0..4)
  for (let i = 0; i < 5; i++) await minute();
  assert.deepEqual(queuedEvents(dir), []);
  // minute 5: unhealthy, so the observation is sent as a HealthObservation event and the failure time as Extended
  await minute();
  const unhealthy = [
    'HealthObservation|false|{"ObservationName": "GuestAgentPluginHeartbeat", "IsHealthy": false, "Description": "", "Value": ""}|MonitorHandler',
    'HostPluginHeartbeatExtended|false|5.0 min since successful heartbeat|MonitorHandler',
  ];
  assert.deepEqual(queuedEvents(dir), unhealthy);
  await minute();
  assert.deepEqual(queuedEvents(dir).slice(2), [
    unhealthy[0],
    'HostPluginHeartbeatExtended|false|6.0 min since successful heartbeat|MonitorHandler',
  ]);
  // healthy again: nothing more
  state.hgapUp = true;
  await minute();
  assert.equal(queuedEvents(dir).length, 4);
  // no answer at all: upstream's exception event, the run fails (the task runner logs it)
  state.hgapNoAnswer = true;
  await assert.rejects(hgap!.run(), /socket hang up/);
  assert.deepEqual(queuedEvents(dir).slice(4), [
    'HostPluginHeartbeat|false|Exception sending host plugin heartbeat: GET http://127.0.0.1:32526/health failed: socket hang up|MonitorHandler',
  ]);
  // IMDS answering 5xx for 3 minutes: its observation is unhealthy, with the reason as the value
  state.imds = () => new AgentError('http', 'GET failed: HTTP status 503', { status: 503 });
  for (let i = 0; i < 4; i++) await imds!.run().then(() => (t += 60_000));
  assert.deepEqual(queuedEvents(dir).slice(5), [
    'HealthObservation|false|{"ObservationName": "InstanceMetadataHeartbeat", "IsHealthy": false, "Description": "", "Value": "IMDS error in /metadata/instance: HTTP status 503"}|MonitorHandler',
  ]);
});

test('heartbeat events: a HealthService that cannot be reached is a warning, the unhealthy observation is still an event', async () => {
  let t = 0;
  const dir = join(mkdtempSync(join(tmpdir(), 'hb-events-')), 'events');
  const rec = new TelemetryRecorder(() => 1_700_000_000_000 + t);
  rec.start(dir);
  const state = { hgapUp: false, imds: (): HttpResponse | Error => new Error('unused') };
  const { ports } = fakePorts(state);
  const http = ports.http;
  ports.http = {
    ...http,
    async request(req) {
      if (req.url.endsWith('/HealthService')) throw new AgentError('http', 'POST /HealthService failed: HTTP status 500', { status: 500 });
      return http.request(req);
    },
  };
  const [hgap] = heartbeatTasks(
    () => ports,
    () => t,
    () => true,
    rec,
  );
  await hgap!.run();
  t = 5 * 60_000;
  await hgap!.run();
  assert.deepEqual(
    queuedEvents(dir).map((e) => e.split('|')[0]),
    ['HealthObservation', 'HostPluginHeartbeatExtended'],
  );
});
