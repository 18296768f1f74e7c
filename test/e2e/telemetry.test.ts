// Telemetry end to end: the BUILT daemon provisions against the emulator and queues upstream's *.waagent.tld event
// files under /var/lib/waagent/events (the provisioning result, the agent's heartbeat); while the WireServer refuses
// telemetrydata the events wait on disk, and once it accepts, one §2.11 batch carries them (providers, event ids,
// param types, the VM's identity from the goal state and IMDS) and the files are gone. An extension's event file is
// collected from its events folder and sent as a log event.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FAST_RETRIES } from '../helpers/fast-retries.ts';
import { fakeVmId, ovfEnvXml, udfMedia } from '../helpers/provisioning.ts';
import { createSandbox, WAAGENT } from '../sandbox/sandbox.ts';
import type { TelemetryBatch } from '../fabric/types.ts';

const EVENTS = '/var/lib/waagent/events';
const EXT_EVENTS = '/var/log/azure/Test.Handler/events';
const AGENT_PROVIDER = '69B669B9-4AF8-4C50-BDC4-6006FA76E975';
const LOG_PROVIDER = 'FFF0196F-EE4C-4EAF-9AA5-776F622DEB4F';

async function waitFor<T>(what: string, probe: () => Promise<T | null | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

type Params = Record<string, { value: string; type: string }>;
function eventsOf(batch: TelemetryBatch): Params[] {
  return batch.providers.flatMap((p) =>
    p.events.map((e) => Object.fromEntries(e.params.map((x) => [x.name, { value: x.value, type: x.type }]))),
  );
}

test("daemon: provisioning and heartbeat events queued as .waagent.tld files, held while refused, then sent as §2.11 batches with an extension's events", {
  timeout: 180_000,
}, async () => {
  const sb = await createSandbox({ hostname: 'before-provisioning' });
  try {
    await fakeVmId(sb, 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8');
    const emu = await sb.startEmulator();
    await emu.control.refuseTelemetry(503);
    sb.writeConfig({
      'DVD.Device': udfMedia(sb, ovfEnvXml({ hostname: 'telemetry-vm' })),
      'Extensions.GoalStatePeriod': '1',
      'Extensions.InitialGoalStatePeriod': '1',
      ...FAST_RETRIES,
    });
    // an extension's event, waiting in its events folder (HandlerEnvironment.json's eventsFolder) when the daemon starts
    await sb.exec(['mkdir', '-p', `${EXT_EVENTS}`]);
    sb.writeFile(
      `${EXT_EVENTS}/1700000000000.json`,
      JSON.stringify([
        {
          Version: '1.2.3',
          Timestamp: '2026-12-02T14:00:00.000000Z',
          TaskName: 'Run',
          EventLevel: 'Informational',
          Message: 'from the extension',
          EventPid: '7',
          EventTid: '8',
          OperationId: 'op-1',
        },
        {
          Version: '1.2.3',
          Timestamp: '2026-12-02T14:00:00.000000Z',
          TaskName: 'Run',
          EventLevel: 'Error',
          Message: '',
          EventPid: '7',
          EventTid: '8',
          OperationId: 'op-2',
        },
      ]),
    );
    const child = sb.spawn([WAAGENT, '-daemon']);
    child.stdout!.resume();
    child.stderr!.resume();

    // refused: every attempt recorded with 503, the events stay on disk
    const refused = await waitFor('a refused telemetry batch', async () => {
      const b = await emu.control.telemetryBatches();
      return b.length > 0 ? b : null;
    });
    assert.equal(refused[0]!.status, 503);
    const listing = (await sb.exec(['sh', '-c', `ls ${EVENTS}`])).stdout.trim().split('\n');
    assert.ok(listing.length >= 3, `event files: ${listing.join(' ')}`);
    for (const f of listing) assert.match(f, /^\d{16}(\.waagent)?\.tld$/);
    assert.equal(listing.filter((f) => !f.endsWith('.waagent.tld')).length, 1, 'the extension event, its invalid sibling dropped');
    assert.equal((await sb.exec(['sh', '-c', `ls ${EXT_EVENTS} | wc -l`])).stdout.trim(), '0', 'the extension folder emptied');
    const files = (await sb.exec(['sh', '-c', `cat ${EVENTS}/*.waagent.tld`])).stdout;
    assert.match(files, /"name":"Operation","value":"Provision"/);
    assert.match(files, /"name":"OperationSuccess","value":true/);
    assert.match(files, /"name":"Operation","value":"HeartBeat"/);
    await sleep(1500);
    const attempts = await emu.control.telemetryBatches();
    for (const provider of [AGENT_PROVIDER, LOG_PROVIDER]) {
      const n = attempts.filter((b) => b.providers[0]?.id === provider).length;
      assert.equal(n, 3, `upstream: 3 attempts of a refused batch (${provider}), then it waits for the next period`);
    }

    // accepted at the next period (a minute later): one batch with both events, the files removed
    await emu.control.refuseTelemetry(null);
    const sent = await waitFor(
      'an accepted telemetry batch',
      async () => (await emu.control.telemetryBatches()).find((b) => b.status === 200 && b.providers[0]?.id === AGENT_PROVIDER) ?? null,
      90_000,
    );
    assert.equal(sent.error, undefined);
    assert.ok(sent.bytes < 64_512 + 200);
    assert.deepEqual(
      sent.providers.map((p) => p.id),
      ['69B669B9-4AF8-4C50-BDC4-6006FA76E975'],
    );
    assert.ok(sent.providers[0]!.events.every((e) => e.id === '1'));
    const events = eventsOf(sent);
    const provision = events.find((e) => e.Operation?.value === 'Provision');
    assert.ok(provision, 'the provisioning event was sent');
    assert.deepEqual(provision.OperationSuccess, { value: 'True', type: 'mt:bool' });
    assert.equal(provision.Duration!.type, 'mt:uint64');
    assert.match(provision.Message!.value, /^Provisioning succeeded \([\d.]+s\)$/);
    assert.equal(provision.Name!.value, 'WALinuxAgent');
    assert.equal(provision.GAVersion!.value, 'WALinuxAgent-2.15.0.1');
    assert.equal(provision.ExecutionMode!.value, 'IAAS');
    assert.equal(provision.RAM!.type, 'mt:uint64');
    assert.notEqual(provision.ContainerId!.value, '');
    assert.notEqual(provision.RoleInstanceName!.value, 'RoleInstanceName_UNINITIALIZED');
    assert.notEqual(provision.VMId!.value, 'VMId_UNINITIALIZED', 'the VM id from IMDS');
    const heartbeat = events.find((e) => e.Operation?.value === 'HeartBeat');
    assert.ok(heartbeat);
    assert.match(
      heartbeat.Message!.value,
      /^HeartbeatCounter: 0;HeartbeatId: [0-9A-F-]{36};UpdateGSErrors: 0;AutoUpdate: [01];UpdateMode: SelfUpdate;$/,
    );
    const logBatch = await waitFor(
      'the extension events batch',
      async () => (await emu.control.telemetryBatches()).find((b) => b.status === 200 && b.providers[0]?.id === LOG_PROVIDER) ?? null,
    );
    assert.deepEqual(
      logBatch.providers.map((p) => p.events.map((e) => e.id)),
      [['7']],
    );
    const ext = eventsOf(logBatch)[0]!;
    assert.equal(ext.EventName!.value, 'Test.Handler-1.2.3');
    assert.equal(ext.Context1!.value, 'from the extension');
    assert.equal(ext.CapabilityUsed!.value, 'Informational');
    assert.equal(ext.OSVersion!.type, 'mt:wstr');
    await waitFor('the sent files removed', async () => (await sb.exec(['sh', '-c', `ls ${EVENTS} | wc -l`])).stdout.trim() === '0');
  } finally {
    await sb.close();
  }
});
