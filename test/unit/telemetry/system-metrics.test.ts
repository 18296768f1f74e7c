// upstream's system-wide performance counters (monitor.py PollSystemWideResourceUsage, event.py add_metric): the
// used and available memory in MB from /proc/meminfo, as metric events (id 4 of the agent's provider) whose Value is
// a float (mt:float64) even when whole, with the common parameters but not the agent table's ExtensionType/IsInternal.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { eventToV1 } from '../../../src/telemetry/encode.ts';
import { metricEvent } from '../../../src/telemetry/event.ts';
import { TelemetryRecorder } from '../../../src/telemetry/recorder.ts';
import { parseEventFile } from '../../../src/telemetry/send.ts';
import { memoryFromMeminfo } from '../../../src/telemetry/system-metrics.ts';

const MEMINFO = `MemTotal:        8144672 kB
MemFree:         5114072 kB
MemAvailable:    7252260 kB
Buffers:          132820 kB
Cached:          2201000 kB
`;

test('memory from /proc/meminfo: used = MemTotal − MemAvailable, both in MB as floats', () => {
  const m = memoryFromMeminfo(MEMINFO)!;
  assert.equal(m.availableMb, (7252260 * 1024) / 1024 ** 2);
  assert.equal(m.usedMb, ((8144672 - 7252260) * 1024) / 1024 ** 2);
  assert.equal(memoryFromMeminfo('MemTotal: 1 kB\n'), null, 'no MemAvailable: nothing reported');
});

test('a metric event: Category, Counter, Instance, Value as mt:float64 (whole values too: "2048.0"), then the common parameters', () => {
  const xml = eventToV1(metricEvent('Memory', 'Used Memory (MB)', '', 2048, { containerId: 'c', taskName: 'MonitorHandler' })).toString();
  assert.match(
    xml,
    /^<Event id="4"><!\[CDATA\[<Param Name="Category" Value="Memory" T="mt:wstr" \/><Param Name="Counter" Value="Used Memory \(MB\)" T="mt:wstr" \/><Param Name="Instance" Value="" T="mt:wstr" \/><Param Name="Value" Value="2048\.0" T="mt:float64" \/><Param Name="GAVersion"/,
  );
  assert.match(xml, /<Param Name="TaskName" Value="MonitorHandler" T="mt:wstr" \/>\]\]><\/Event>$/);
  assert.ok(!xml.includes('ExtensionType'));
  const frac = eventToV1(metricEvent('Memory', 'Available Memory (MB)', '', 7082.27, { containerId: 'c' })).toString();
  assert.ok(frac.includes('<Param Name="Value" Value="7082.27" T="mt:float64" />'));
});

test('a metric queued on disk keeps its float type when read back for sending', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'metrics-')), 'events');
  const rec = new TelemetryRecorder();
  rec.start(dir);
  assert.ok(rec.addMetric('Memory', 'Available Memory (MB)', '', 4096));
  const [name] = readdirSync(dir);
  const event = parseEventFile(readFileSync(join(dir, name!), 'utf8'))!;
  assert.equal(event.eventId, 4);
  assert.ok(eventToV1(event).toString().includes('<Param Name="Value" Value="4096.0" T="mt:float64" />'));
  assert.equal(rec.addMetric('Memory', 'x', '', Number.NaN), null, 'no value, no event');
});
