// Telemetry volume, computed with the agent's own event builders and encoder (src/telemetry/): how many
// telemetrydata batches, and how many bytes, the agent sends in an idle hour, for a goal state with 10 extensions,
// and for 10 busy extensions (360 events each in one period). Nothing is run or sent: the events the daemon would
// queue in each case are built and batched exactly as the sender does (system parameters included).
//
//   ./node_modules/.bin/node bench/telemetry-batches.ts
import { makeBatches } from '../src/telemetry/encode.ts';
import { agentEvent, metricEvent, OPERATION, type TelemetryEvent } from '../src/telemetry/event.ts';
import { extensionOperationEvent } from '../src/telemetry/extension-operation.ts';
import { extensionTelemetryEvent } from '../src/telemetry/extension-events.ts';
import { sysInfoParams, type SysInfo } from '../src/telemetry/send.ts';

const ctx = { containerId: '2b3a4c5d-6e7f-4a1b-9c2d-3e4f5a6b7c8d', taskName: 'ExtHandler' };
const sysInfo: SysInfo = {
  osVersion: 'Linux:debian-12-bookworm:6.1.0-28-cloud-amd64',
  tenantName: 'f1e2d3c4b5a6978812345678abcdef01',
  roleName: 'my-vm-name',
  roleInstanceName: '2b3a4c5d-6e7f-4a1b-9c2d-3e4f5a6b7c8d.my-vm-name',
  location: 'westeurope',
  subscriptionId: '01234567-89ab-cdef-0123-456789abcdef',
  resourceGroupName: 'my-resource-group',
  vmId: '5b1d2c3e-1111-4a4b-9954-5bdf3ed5c3b8',
  imageOrigin: 1,
};

/** What the sender adds to every event before batching (send.ts withSendTimeParams). */
function asSent(events: TelemetryEvent[]): TelemetryEvent[] {
  const common = sysInfoParams(sysInfo);
  return events.map((e) => ({ ...e, parameters: [...e.parameters, ...common] }));
}

function measure(label: string, sends: TelemetryEvent[][]): void {
  let batches = 0;
  let bytes = 0;
  let largest = 0;
  let events = 0;
  for (const send of sends) {
    const { batches: b } = makeBatches(asSent(send));
    batches += b.length;
    events += send.length;
    for (const x of b) {
      bytes += x.body.length;
      largest = Math.max(largest, x.body.length);
    }
  }
  console.log(
    `| ${label} | ${events} | ${batches} | ${bytes.toLocaleString('en')} | ${largest.toLocaleString('en')} | ${batches ? Math.round(bytes / batches).toLocaleString('en') : 0} |`,
  );
}

const heartbeat = (n: number) =>
  agentEvent(
    {
      op: OPERATION.heartbeat,
      isSuccess: true,
      message: `HeartbeatCounter: ${n};HeartbeatId: 319F16E0-3535-47D3-8C95-F5AB9FA54D2B;UpdateGSErrors: 0;AutoUpdate: 1;UpdateMode: SelfUpdate;`,
    },
    ctx,
  );
const metrics = () => [
  metricEvent('Memory', 'Used Memory (MB)', '', 871.5234375, { ...ctx, taskName: 'MonitorHandler' }),
  metricEvent('Memory', 'Available Memory (MB)', '', 7082.26953125, { ...ctx, taskName: 'MonitorHandler' }),
];

// an idle hour, steady state: the heartbeat every 30 minutes, the memory counters every hour; the queue is sent every
// minute when it holds anything, so these go out in the minute after they were queued: two sends an hour
const idle = [[heartbeat(4), ...metrics()], [heartbeat(5)]];

function goalState(outputChars: number): TelemetryEvent[] {
  const ev = (op: string, message: string, durationMs = 0) => agentEvent({ op, isSuccess: true, message, durationMs }, ctx);
  const names = Array.from({ length: 10 }, (_, i) => `Publisher.Extension${i}`);
  const output = (what: string) => {
    const base = `[stdout]\n${what} succeeded\n\n[stderr]\n`;
    return base + 'x'.repeat(Math.max(0, outputChars - base.length));
  };
  const summary = `[${names.map((n) => `('${n}', 'success')`).join(', ')}]`;
  return [
    ev(OPERATION.goalState, 'Fetched a new incarnation for the WireServer goal state [incarnation 2]'),
    ev(
      OPERATION.extensionProcessing,
      'ProcessExtensionsGoalState started [incarnation_2 channel: WireServer source: Fabric activity: 8e9f0a1b-2c3d-4e5f-8a9b-0c1d2e3f4a5b correlation 1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d created: 2026-12-02T14:00:00.000Z]',
    ),
    ...names.flatMap((name) =>
      (['install', 'enable'] as const).map((operation) =>
        agentEvent(
          extensionOperationEvent({ name, version: '1.2.3', operation, success: true, message: output(operation), durationMs: 1200 }),
          ctx,
        ),
      ),
    ),
    ev(OPERATION.extensionProcessing, 'ProcessExtensionsGoalState completed [incarnation_2 31250 ms]\n', 31250),
    ev(OPERATION.goalState, `Extension status: ${summary}`),
    ev(OPERATION.goalState, `All extensions in the goal state have reached a terminal state: ${summary}`),
  ];
}

function busyExtensions(messageChars: number): TelemetryEvent[] {
  const events: TelemetryEvent[] = [];
  for (let h = 0; h < 10; h++) {
    for (let i = 0; i < 360; i++) {
      events.push(
        extensionTelemetryEvent(
          `Publisher.Busy${h}`,
          {
            eventlevel: 'Informational',
            eventpid: '1234',
            eventtid: '5678',
            message: `event ${i} `.padEnd(messageChars, 'm'),
            operationid: '7c2f9b7e-0c43-4c53-8a3a-3b1d0c6b3a5e',
            taskname: 'Run',
            timestamp: '2026-12-02T14:00:00.000000Z',
            version: '1.0.0',
          },
          new Date(),
          ctx.containerId,
        ),
      );
    }
  }
  return events;
}

console.log('| case | events | batches | bytes | largest batch | bytes per batch |');
console.log('|---|---|---|---|---|---|');
measure('idle hour (2 heartbeats, 2 memory counters)', idle);
measure('10-extension goal state, short command output (~40 chars)', [goalState(40)]);
measure('10-extension goal state, full command output (3,200 chars each)', [goalState(3200)]);
measure('10 busy extensions × 360 events, 100-char messages', [busyExtensions(100)]);
measure('10 busy extensions × 360 events, 3,072-char messages (the cap)', [busyExtensions(3072)]);
