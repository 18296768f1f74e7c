// Telemetry end to end: the BUILT daemon provisions against the emulator and queues upstream's *.waagent.tld event
// files under /var/lib/waagent/events (the provisioning result, the agent's heartbeat); while the WireServer refuses
// telemetrydata the events wait on disk, and once it accepts, one §2.11 batch carries them (providers, event ids,
// param types, the VM's identity from the goal state and IMDS) and the files are gone, with upstream's goal-state
// events. An extension's event file is collected from its events folder, held in memory (never in the agent's disk
// queue) and sent as a log event. -provision queues the Provision event, which the daemon then sends once; ten busy
// extensions (10 × 360 events in one period) do not push the agent's queued events out.
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
      // the emulator's Fast Track goal state is on hold: processed all the same, for its ExtensionProcessing events
      EnableOverProvisioning: 'n',
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
    for (const f of listing) assert.match(f, /^\d{16}\.waagent\.tld$/, "only the agent's own events are on disk");
    await waitFor(
      'the extension folder emptied',
      async () => (await sb.exec(['sh', '-c', `ls ${EXT_EVENTS} | wc -l`])).stdout.trim() === '0',
    );
    const files = (await sb.exec(['sh', '-c', `cat ${EVENTS}/*.waagent.tld`])).stdout;
    assert.match(files, /"name":"Operation","value":"Provision"/);
    assert.match(files, /"name":"OperationSuccess","value":true/);
    assert.match(files, /"name":"Operation","value":"HeartBeat"/);
    await sleep(1500);
    const attempts = await emu.control.telemetryBatches();
    // the agent's queue (its events, and the collector's warning as a Log event) and the extension's events from memory
    const tries = new Map<string, number>();
    for (const b of attempts) tries.set(b.body, (tries.get(b.body) ?? 0) + 1);
    assert.equal(tries.size, 3, 'three batches: agent events, the Log event from the queue, the extension events from memory');
    for (const n of tries.values()) assert.equal(n, 3, 'upstream: 3 attempts of a refused batch, then it waits for the next period');

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
    // agent events (1) and upstream's hourly memory counters (4, queued at start)
    assert.ok(sent.providers[0]!.events.every((e) => e.id === '1' || e.id === '4'));
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
    // upstream's goal-state events: the new incarnation, then the extensions goal state processed, with its duration
    const agentEvents = await waitFor(
      'the goal-state events sent',
      async () => {
        const all = (await emu.control.telemetryBatches())
          .filter((b) => b.status === 200 && b.providers[0]?.id === AGENT_PROVIDER)
          .flatMap(eventsOf);
        return all.some((e) => /^ProcessExtensionsGoalState completed/.test(e.Message?.value ?? '')) ? all : null;
      },
      120_000,
    ).catch(async (e: unknown) => {
      process.stderr.write((await sb.exec(['sh', '-c', 'grep -v VERBOSE /var/log/waagent.log | tail -60'])).stdout);
      throw e;
    });
    const messages = agentEvents.map((e) => `${e.Operation?.value}|${e.OperationSuccess?.value}|${e.Message?.value}`);
    assert.ok(
      messages.some((m) => /^GoalState\|True\|Fetched a new incarnation for the WireServer goal state \[incarnation \d+\]$/.test(m)),
      messages.join('\n'),
    );
    assert.ok(
      messages.some((m) =>
        /^ExtensionProcessing\|True\|ProcessExtensionsGoalState started \[(incarnation|etag)_\S+ channel: (WireServer|HostGAPlugin) source: /.test(
          m,
        ),
      ),
      messages.join('\n'),
    );
    assert.ok(
      messages.some((m) =>
        /^GoalState\|True\|Fetched new vmSettings \[HostGAPlugin correlation ID: [0-9a-f-]{36} eTag: \S+ source: FastTrack\]$/.test(m),
      ),
    );
    assert.ok(messages.some((m) => /^GoalState\|True\|Extension status: /.test(m)));
    const completed = agentEvents.find((e) => /^ProcessExtensionsGoalState completed \[\S+ \d+ ms\]/.test(e.Message?.value ?? ''))!;
    assert.equal(completed.Operation!.value, 'ExtensionProcessing');
    assert.equal(completed.Duration!.type, 'mt:uint64');
    const memory = agentEvents.filter((e) => e.Category?.value === 'Memory');
    assert.deepEqual(memory.map((e) => e.Counter!.value).sort(), ['Available Memory (MB)', 'Used Memory (MB)']);
    for (const m of memory) {
      assert.equal(m.Value!.type, 'mt:float64');
      assert.ok(Number(m.Value!.value) > 0);
      assert.equal(m.TaskName!.value, 'MonitorHandler');
    }
    const heartbeat = events.find((e) => e.Operation?.value === 'HeartBeat');
    assert.ok(heartbeat);
    assert.match(
      heartbeat.Message!.value,
      /^HeartbeatCounter: 0;HeartbeatId: [0-9A-F-]{36};UpdateGSErrors: 0;AutoUpdate: [01];UpdateMode: SelfUpdate;$/,
    );
    const logBatch = await waitFor(
      'the extension events batch',
      async () =>
        (await emu.control.telemetryBatches()).find(
          (b) =>
            b.status === 200 && b.providers[0]?.id === LOG_PROVIDER && eventsOf(b).some((e) => e.EventName?.value === 'Test.Handler-1.2.3'),
        ) ?? null,
    );
    assert.deepEqual(
      logBatch.providers.map((p) => p.events.map((e) => e.id)),
      [['7']],
    );
    // the collector's warning about the invalid event, forced through as upstream's "Log" event
    const warning = await waitFor('the collector warning as a Log event', async () => {
      const sentLogs = (await emu.control.telemetryBatches()).filter((b) => b.status === 200 && b.providers[0]?.id === LOG_PROVIDER);
      return sentLogs.flatMap(eventsOf).find((e) => e.EventName?.value === 'Log') ?? null;
    });
    assert.equal(warning.CapabilityUsed!.value, 'WARNING');
    assert.match(
      warning.Context1!.value,
      /^Dropped events for Extension: Test\.Handler; Details:\n\tReason: EmptyMessageError: Message should not be empty; Dropped Count: 1$/,
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

test('-provision queues the Provision event that the daemon sends once; 10 extensions × 360 events in one period push no agent event out', {
  timeout: 240_000,
}, async () => {
  const sb = await createSandbox({ hostname: 'before-provisioning' });
  try {
    await fakeVmId(sb, '5B1D2C3E-1111-4A4B-9954-5BDF3ED5C3B8');
    const emu = await sb.startEmulator();
    await emu.control.refuseTelemetry(503);
    sb.writeConfig({
      'DVD.Device': udfMedia(sb, ovfEnvXml({ hostname: 'telemetry-vm2' })),
      'Extensions.GoalStatePeriod': '1',
      'Extensions.InitialGoalStatePeriod': '1',
      ...FAST_RETRIES,
    });
    const prov = await sb.exec([WAAGENT, '-provision'], { timeoutMs: 120_000 });
    assert.equal(prov.code, 0, prov.stderr);
    const afterProvision = (await sb.exec(['sh', '-c', `cat ${EVENTS}/*.waagent.tld`])).stdout;
    assert.equal(afterProvision.match(/"name":"Operation","value":"Provision"/g)?.length, 1, 'one Provision event queued by -provision');

    // 900 older agent events waiting (as if the WireServer had refused them for a while), and 10 busy extensions
    const FILLERS = 900;
    const script = `
      const fs = require('node:fs');
      for (let i = 0; i < ${FILLERS}; i++) {
        const ev = { eventId: 1, providerId: '${AGENT_PROVIDER}', file_type: '', parameters: [
          { name: 'Name', value: 'WALinuxAgent' }, { name: 'Version', value: '2.15.0.1' }, { name: 'Operation', value: 'Enable' },
          { name: 'OperationSuccess', value: true }, { name: 'Message', value: 'filler ' + i }, { name: 'Duration', value: 0 } ] };
        fs.writeFileSync('${EVENTS}/' + (1000000000000000 + i) + '.waagent.tld', JSON.stringify(ev));
      }
      for (let h = 0; h < 10; h++) {
        const dir = '/var/log/azure/Publisher.Busy' + h + '/events';
        fs.mkdirSync(dir, { recursive: true });
        for (let f = 0; f < 4; f++) {
          const events = Array.from({ length: 100 }, (_, i) => ({ Version: '1.0', Timestamp: '2026-12-02T14:00:00.000000Z', TaskName: 'T',
            EventLevel: 'Informational', Message: 'busy ' + h + ' ' + (f * 100 + i), EventPid: '1', EventTid: '2', OperationId: 'o' }));
          fs.writeFileSync(dir + '/' + (1700000000000 + f) + '.json', JSON.stringify(events));
        }
      }`;
    const w = await sb.exec([process.execPath, '-e', script]);
    assert.equal(w.code, 0, w.stderr);

    const child = sb.spawn([WAAGENT, '-daemon']);
    child.stdout!.resume();
    child.stderr!.resume();
    const logBatches = async () => (await emu.control.telemetryBatches()).filter((b) => b.providers[0]?.id === LOG_PROVIDER);
    await waitFor('refused extension batches', async () => (await logBatches()).length > 0, 60_000);
    await waitFor(
      'the busy folders emptied',
      async () => (await sb.exec(['sh', '-c', 'ls /var/log/azure/Publisher.Busy*/events | grep -c json || true'])).stdout.trim() === '0',
    );
    const listing = (await sb.exec(['sh', '-c', `ls ${EVENTS}`])).stdout.trim().split('\n');
    assert.ok(
      listing.every((f) => f.endsWith('.waagent.tld')),
      'no extension event in the agent queue',
    );
    assert.equal(listing.filter((f) => f.startsWith('1000000')).length, FILLERS, 'every older agent event still queued');

    await emu.control.refuseTelemetry(null);
    const accepted = async () => (await emu.control.telemetryBatches()).filter((b) => b.status === 200);
    const all = await waitFor(
      'every event sent',
      async () => {
        const a = await accepted();
        const ext = a.filter((b) => b.providers[0]?.id === LOG_PROVIDER).flatMap(eventsOf);
        const agent = a.filter((b) => b.providers[0]?.id === AGENT_PROVIDER).flatMap(eventsOf);
        const fillers = agent.filter((e) => e.Message?.value.startsWith('filler ')).length;
        return ext.length >= 3600 && fillers >= FILLERS ? { ext, agent } : null;
      },
      120_000,
    );
    const busy = all.ext.filter((e) => e.Context1?.value.startsWith('busy '));
    assert.equal(busy.length, 3600, '360 from each of the 10 extensions');
    assert.equal(new Set(busy.map((e) => e.Context1!.value)).size, 3600, 'none twice');
    for (const b of await accepted()) assert.ok(b.bytes < 64_512 + 200, `batch of ${b.bytes} bytes`);
    await sleep(2000);
    const provisions = (await accepted())
      .filter((b) => b.providers[0]?.id === AGENT_PROVIDER)
      .flatMap(eventsOf)
      .filter((e) => e.Operation?.value === 'Provision');
    assert.equal(provisions.length, 1, 'the Provision event sent once: the daemon found the VM provisioned');
    assert.equal(provisions[0]!.TaskName!.value, 'Daemon');
  } finally {
    await sb.close();
  }
});
