// The telemetry formats (src/telemetry): upstream's event file JSON, the §2.11 XML of an event (param types, Python's
// quoteattr and str()), the batching under 64,512 bytes by provider, the oversize event dropped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AGENT_EVENTS_PROVIDER, agentEvent, type TelemetryEvent } from '../../../src/telemetry/event.ts';
import { eventToV1, makeBatches, MAX_EVENT_BUFFER_SIZE, paramToV1, quoteAttr, telemetryBody } from '../../../src/telemetry/encode.ts';
import { extensionOperationEvent } from '../../../src/telemetry/extension-operation.ts';
import { parseEventFile } from '../../../src/telemetry/send.ts';

const when = new Date('2026-12-02T14:30:15.326Z');

test('agent event: upstream add_event parameters in order, then the common ones (GAVersion, ContainerId, OpcodeName, …)', () => {
  const e = agentEvent(
    { op: 'Provision', isSuccess: true, message: 'Provisioning succeeded (12.5s)', durationMs: 1234.4 },
    { containerId: 'c-1', now: when },
  );
  assert.equal(e.eventId, 1);
  assert.equal(e.providerId, '69B669B9-4AF8-4C50-BDC4-6006FA76E975');
  assert.deepEqual(
    e.parameters.map((p) => p.name),
    [
      'Name',
      'Version',
      'Operation',
      'OperationSuccess',
      'Message',
      'Duration',
      'GAVersion',
      'ContainerId',
      'OpcodeName',
      'EventTid',
      'EventPid',
      'TaskName',
      'ExtensionType',
      'IsInternal',
    ],
  );
  const v = Object.fromEntries(e.parameters.map((p) => [p.name, p.value]));
  assert.equal(v.Name, 'WALinuxAgent');
  assert.equal(v.Version, '2.15.0.1');
  assert.equal(v.OperationSuccess, true);
  assert.equal(v.Duration, 1234);
  assert.equal(v.GAVersion, 'WALinuxAgent-2.15.0.1');
  assert.equal(v.ContainerId, 'c-1');
  assert.equal(v.OpcodeName, '2026-12-02T14:30:15.326000Z');
  assert.equal(e.file_type, '');
});

test('param XML: T from the value type, values as Python str() and saxutils.quoteattr', () => {
  assert.equal(paramToV1({ name: 'Name', value: 'WALinuxAgent' }), '<Param Name="Name" Value="WALinuxAgent" T="mt:wstr" />');
  assert.equal(paramToV1({ name: 'Duration', value: 12 }), '<Param Name="Duration" Value="12" T="mt:uint64" />');
  assert.equal(paramToV1({ name: 'OperationSuccess', value: false }), '<Param Name="OperationSuccess" Value="False" T="mt:bool" />');
  assert.equal(paramToV1({ name: 'Value', value: 1.5 }), '<Param Name="Value" Value="1.5" T="mt:float64" />');
  assert.equal(quoteAttr('a<b>&c'), '"a&lt;b&gt;&amp;c"');
  assert.equal(quoteAttr('say "hi"'), `'say "hi"'`);
  assert.equal(quoteAttr(`it's "x"`), `"it's &quot;x&quot;"`);
  assert.equal(quoteAttr('l1\nl2\tx'), '"l1&#10;l2&#9;x"');
});

test('event XML: <Event id><![CDATA[params]]></Event>; a "]]>" in a value cannot close the section (quoteattr escapes it)', () => {
  const e: TelemetryEvent = { eventId: 1, providerId: AGENT_EVENTS_PROVIDER, parameters: [{ name: 'Message', value: 'x' }], file_type: '' };
  assert.equal(eventToV1(e).toString(), '<Event id="1"><![CDATA[<Param Name="Message" Value="x" T="mt:wstr" />]]></Event>');
  const tricky = eventToV1({ ...e, parameters: [{ name: 'Message', value: 'a]]>b' }] }).toString();
  assert.equal(tricky.match(/]]>/g)?.length, 1, "only the CDATA section's own end");
  assert.ok(tricky.includes('Value="a]]&gt;b"'));
  assert.equal(
    telemetryBody(AGENT_EVENTS_PROVIDER, Buffer.from('<Event/>')).toString(),
    '<?xml version="1.0"?><TelemetryData version="1.0"><Provider id="69B669B9-4AF8-4C50-BDC4-6006FA76E975"><Event/></Provider></TelemetryData>',
  );
});

function sized(providerId: string, messageBytes: number): TelemetryEvent {
  return { eventId: 1, providerId, parameters: [{ name: 'Message', value: 'm'.repeat(messageBytes) }], file_type: '' };
}

test('batches: one provider per batch, events below 64,512 bytes each batch, input order kept, oversize events left out', () => {
  const other = 'FFF0196F-EE4C-4EAF-9AA5-776F622DEB4F';
  const events = [
    sized(AGENT_EVENTS_PROVIDER, 30_000),
    sized(other, 100),
    sized(AGENT_EVENTS_PROVIDER, 30_000),
    sized(AGENT_EVENTS_PROVIDER, 30_000),
    sized(AGENT_EVENTS_PROVIDER, 70_000),
  ];
  const { batches, oversize } = makeBatches(events);
  assert.deepEqual(oversize, [4]);
  assert.deepEqual(
    batches.map((b) => [b.providerId, b.items]),
    [
      [AGENT_EVENTS_PROVIDER, [0, 2]],
      [other, [1]],
      [AGENT_EVENTS_PROVIDER, [3]],
    ],
  );
  for (const b of batches) {
    const header = `<?xml version="1.0"?><TelemetryData version="1.0"><Provider id="${b.providerId}">`.length;
    assert.ok(b.body.length - header - '</Provider></TelemetryData>'.length < MAX_EVENT_BUFFER_SIZE);
  }
  assert.equal(MAX_EVENT_BUFFER_SIZE, 64_512);
});

test('batches: the limit counts encoded bytes (UTF-8), not characters', () => {
  // 3 bytes per character: 12,000 characters are 36,000 bytes, so two of them do not fit one batch
  const wide = (): TelemetryEvent => ({
    eventId: 1,
    providerId: AGENT_EVENTS_PROVIDER,
    parameters: [{ name: 'Message', value: '€'.repeat(12_000) }],
    file_type: '',
  });
  assert.equal(makeBatches([wide(), wide()]).batches.length, 2);
});

test('event files: upstream recorded file parses; malformed ones are rejected', () => {
  const upstream =
    '{"eventId": 1, "providerId": "69B669B9-4AF8-4C50-BDC4-6006FA76E975", "parameters": [{"name": "Name", "value": "WALinuxAgent"}, {"name": "OperationSuccess", "value": false}, {"name": "Duration", "value": 0}], "file_type": ""}';
  const e = parseEventFile(upstream);
  assert.ok(e);
  assert.equal(e.parameters.length, 3);
  assert.equal(parseEventFile('{not json'), null);
  assert.equal(parseEventFile('{"eventId": 1, "providerId": "x", "parameters": [{"name": "a", "value": {}}]}'), null);
  assert.equal(parseEventFile('[]'), null);
});

test('extension operation event: handler name (or Handler.Extension for multi-config), version, upstream operation names', () => {
  const base = { name: 'Microsoft.Azure.Extensions.CustomScript', version: '2.1.10', success: false, message: 'exit 3', durationMs: 1500 };
  assert.deepEqual(extensionOperationEvent({ ...base, operation: 'uninstall' }), {
    name: 'Microsoft.Azure.Extensions.CustomScript',
    version: '2.1.10',
    op: 'UnInstall',
    isSuccess: false,
    message: 'exit 3',
    durationMs: 1500,
  });
  const mc = extensionOperationEvent({ ...base, extensionName: 'second', operation: 'enable', success: true });
  assert.equal(mc.name, 'Microsoft.Azure.Extensions.CustomScript.second');
  assert.equal(mc.op, 'Enable');
});
