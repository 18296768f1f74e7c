// The status blob document (docs/protocol.md §6.1, §10 item 12) field by field: names and their order, the string
// "1.1" vs the float 1.0, timestamps without fractions, optional parts (updateStatus, formattedMessage,
// runtimeSettingsStatus, substatus, extensionName, vmArtifactsAggregateStatus, FastTrack), one entry per extension
// for multi-config handlers, SAS redaction, and the Python json.dumps text form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  agentSupportedFeatures,
  buildAggregateStatus,
  formatAggregateStatus,
  statusTimestamp,
  type AggregateStatusInput,
} from '../../../src/status/aggregate.ts';
import { PyFloat, pythonJsonDumps } from '../../../src/util/python-json.ts';
import type { ExtensionStatus, HandlerStatus } from '../../../src/status/types.ts';
import { readExtensionStatus } from '../../../src/extensions/status-file.ts';
import { FIXTURES } from '../../helpers/paths.ts';
import type { HandlerEntryJson, RuntimeSettingsStatusJson } from '../../helpers/status-json.ts';

const NOW = new Date('2025-03-04T05:06:07.891Z');
const OS = { computerName: 'vm-1', osName: 'debian', osVersion: '12' };

const ext = (over: Partial<ExtensionStatus> = {}): ExtensionStatus => ({
  name: 'Pub.Handler',
  sequenceNumber: 2,
  configurationAppliedTime: null,
  operation: 'Enable',
  status: 'success',
  code: 0,
  message: 'Enable succeeded',
  substatus: [],
  ...over,
});
const handler = (over: Partial<HandlerStatus> = {}): HandlerStatus => ({
  name: 'Pub.Handler',
  version: '1.2.3',
  status: 'Ready',
  code: 0,
  message: 'Plugin enabled',
  isMultiConfig: false,
  extensions: [],
  ...over,
});
const input = (over: Partial<AggregateStatusInput> = {}): AggregateStatusInput => ({
  agentVersion: '2.15.0.1',
  handlers: [],
  os: OS,
  now: NOW,
  ...over,
});

test('top level: version "1.1", timestamp without fraction, field order, guestOSInfo, default features', () => {
  const doc = buildAggregateStatus(input());
  assert.deepEqual(Object.keys(doc), ['version', 'timestampUTC', 'aggregateStatus', 'guestOSInfo', 'supportedFeatures']);
  assert.equal(doc.version, '1.1');
  assert.equal(doc.timestampUTC, '2025-03-04T05:06:07Z');
  assert.deepEqual(Object.keys(doc.aggregateStatus), ['guestAgentStatus', 'handlerAggregateStatus']);
  assert.deepEqual(doc.aggregateStatus.guestAgentStatus, {
    version: '2.15.0.1',
    status: 'Ready',
    formattedMessage: { lang: 'en-US', message: 'Guest Agent is running' },
  });
  assert.deepEqual(Object.keys(doc.aggregateStatus.guestAgentStatus), ['version', 'status', 'formattedMessage']);
  assert.deepEqual(doc.aggregateStatus.handlerAggregateStatus, []);
  assert.equal(doc.aggregateStatus.vmArtifactsAggregateStatus, undefined, 'absent before the first goal state');
  assert.deepEqual(doc.guestOSInfo, { computerName: 'vm-1', osName: 'debian', osVersion: '12', version: '2.15.0.1' });
  assert.deepEqual(Object.keys(doc.guestOSInfo), ['computerName', 'osName', 'osVersion', 'version']);
  assert.deepEqual(doc.supportedFeatures, [
    { Key: 'MultipleExtensionsPerHandler', Value: '1.0' },
    { Key: 'VersioningGovernance', Value: '1.0' },
  ]);
});

test('FastTrack is advertised only when asked; updateStatus and vmArtifactsAggregateStatus when given', () => {
  assert.deepEqual(
    agentSupportedFeatures({ fastTrack: true }).map((f) => f.Key),
    ['MultipleExtensionsPerHandler', 'VersioningGovernance', 'FastTrack'],
  );
  assert.deepEqual(
    agentSupportedFeatures({ fastTrack: false, versioningGovernance: false }).map((f) => f.Key),
    ['MultipleExtensionsPerHandler'],
  );
  const doc = buildAggregateStatus(
    input({
      supportedFeatures: agentSupportedFeatures({ fastTrack: true }),
      updateStatus: { expectedVersion: '2.16.0.0', status: 'Transitioning', code: 0, message: 'updating' },
      goalState: {
        status: 'Success',
        code: 0,
        message: 'GoalState executed successfully',
        inSvdSeqNo: '7',
        timestamp: new Date('2025-03-04T05:00:00.999Z'),
      },
    }),
  );
  const ga = doc.aggregateStatus.guestAgentStatus;
  assert.deepEqual(Object.keys(ga), ['version', 'status', 'formattedMessage', 'updateStatus']);
  assert.deepEqual(ga.updateStatus, {
    expectedVersion: '2.16.0.0',
    status: 'Transitioning',
    code: 0,
    formattedMessage: { lang: 'en-US', message: 'updating' },
  });
  assert.deepEqual(Object.keys(ga.updateStatus as object), ['expectedVersion', 'status', 'code', 'formattedMessage']);
  const gs = doc.aggregateStatus.vmArtifactsAggregateStatus!.goalStateAggregateStatus;
  assert.deepEqual(Object.keys(doc.aggregateStatus), ['guestAgentStatus', 'handlerAggregateStatus', 'vmArtifactsAggregateStatus']);
  assert.deepEqual(Object.keys(gs), ['formattedMessage', 'timestampUTC', 'inSvdSeqNo', 'status', 'code']);
  assert.deepEqual(gs, {
    formattedMessage: { lang: 'en-US', message: 'GoalState executed successfully' },
    timestampUTC: '2025-03-04T05:00:00Z',
    inSvdSeqNo: '7',
    status: 'Success',
    code: 0,
  });
  assert.equal(doc.supportedFeatures!.at(-1)!.Key, 'FastTrack');
});

test('single-config handler: entry fields in order, runtimeSettingsStatus with settingsStatus, no extensionName', () => {
  const doc = buildAggregateStatus(input({ handlers: [handler({ extensions: [ext()] })] }));
  const [h] = doc.aggregateStatus.handlerAggregateStatus;
  assert.deepEqual(Object.keys(h!), [
    'handlerVersion',
    'handlerName',
    'status',
    'code',
    'useExactVersion',
    'formattedMessage',
    'runtimeSettingsStatus',
  ]);
  assert.equal(h!.handlerVersion, '1.2.3');
  assert.equal(h!.handlerName, 'Pub.Handler');
  assert.equal(h!.useExactVersion, true);
  assert.deepEqual(h!.formattedMessage, { lang: 'en-US', message: 'Plugin enabled' });
  const rs = h!.runtimeSettingsStatus as RuntimeSettingsStatusJson;
  assert.deepEqual(Object.keys(rs), ['settingsStatus', 'sequenceNumber']);
  assert.equal(rs.sequenceNumber, 2);
  assert.deepEqual(Object.keys(rs.settingsStatus), ['status', 'version', 'timestampUTC']);
  assert.ok(rs.settingsStatus.version instanceof PyFloat && rs.settingsStatus.version.value === 1);
  assert.equal(rs.settingsStatus.timestampUTC, '2025-03-04T05:06:07Z');
  assert.deepEqual(Object.keys(rs.settingsStatus.status), [
    'name',
    'configurationAppliedTime',
    'operation',
    'status',
    'code',
    'formattedMessage',
  ]);
  assert.deepEqual(rs.settingsStatus.status, {
    name: 'Pub.Handler',
    configurationAppliedTime: null,
    operation: 'Enable',
    status: 'success',
    code: 0,
    formattedMessage: { lang: 'en-US', message: 'Enable succeeded' },
  });
});

test('no extension status → no runtimeSettingsStatus; null message → no formattedMessage', () => {
  const doc = buildAggregateStatus(input({ handlers: [handler({ message: null, status: 'NotReady', code: 1009 })] }));
  assert.deepEqual(doc.aggregateStatus.handlerAggregateStatus, [
    { handlerVersion: '1.2.3', handlerName: 'Pub.Handler', status: 'NotReady', code: 1009, useExactVersion: true },
  ]);
});

test('multi-config: one entry per extension with extensionName; none → the single handler entry', () => {
  const mc = handler({
    name: 'Pub.Multi',
    isMultiConfig: true,
    extensions: [ext({ name: 'first', sequenceNumber: 1 }), ext({ name: 'second', sequenceNumber: 5, status: 'error', code: 1009 })],
  });
  const doc = buildAggregateStatus(input({ handlers: [mc, handler({ name: 'Pub.Empty', isMultiConfig: true })] }));
  const entries = doc.aggregateStatus.handlerAggregateStatus as unknown as HandlerEntryJson[];
  assert.equal(entries.length, 3);
  assert.deepEqual(
    entries.map((e) => e.handlerName),
    ['Pub.Multi', 'Pub.Multi', 'Pub.Empty'],
  );
  assert.deepEqual(Object.keys(entries[0]!.runtimeSettingsStatus), ['settingsStatus', 'sequenceNumber', 'extensionName']);
  assert.deepEqual(
    entries
      .slice(0, 2)
      .map((e) => [
        e.runtimeSettingsStatus.extensionName,
        e.runtimeSettingsStatus.sequenceNumber,
        e.runtimeSettingsStatus.settingsStatus.status.name,
      ]),
    [
      ['first', 1, 'first'],
      ['second', 5, 'second'],
    ],
  );
  assert.equal(entries[1]!.runtimeSettingsStatus.settingsStatus.status.status, 'error');
  assert.equal(entries[2]!.runtimeSettingsStatus, undefined);
});

test('substatus only when non-empty, entries in order name/status/code/formattedMessage; from the recorded status file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'agg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'status'));
  copyFileSync(join(FIXTURES, 'tests', 'data', 'ext', 'sample-status.json'), join(dir, 'status', '0.status'));
  const st = await readExtensionStatus({ baseDir: dir, handlerName: 'Microsoft.Azure.Extension.VMExtension', seqNo: 0 });
  const doc = buildAggregateStatus(input({ handlers: [handler({ name: 'Microsoft.Azure.Extension.VMExtension', extensions: [st] })] }));
  const s = (doc.aggregateStatus.handlerAggregateStatus[0]!.runtimeSettingsStatus as RuntimeSettingsStatusJson).settingsStatus.status;
  assert.deepEqual(Object.keys(s), ['name', 'configurationAppliedTime', 'operation', 'status', 'code', 'formattedMessage', 'substatus']);
  assert.equal(s.substatus.length, 1);
  assert.deepEqual(Object.keys(s.substatus[0]), ['name', 'status', 'code', 'formattedMessage']);
  assert.equal(s.substatus[0].code, '0', "the extension's string code is passed on as written");
  assert.deepEqual(s.substatus[0].formattedMessage, { lang: 'en-US', message: null });
  const text = formatAggregateStatus(doc);
  assert.deepEqual(
    JSON.parse(text).aggregateStatus.handlerAggregateStatus[0].runtimeSettingsStatus.settingsStatus.status.substatus[0].name,
    st.substatus[0]!.name,
  );
});

test('messages are SAS-redacted (extension, substatus, handler, agent, goal state)', () => {
  const sas = 'see https://acct.blob.core.windows.net/c/b?sv=2020-01-01&sig=SECRETSIG&se=2030';
  const doc = buildAggregateStatus(
    input({
      agentMessage: sas,
      goalState: { status: 'Failed', code: 1, message: sas, inSvdSeqNo: '1', timestamp: NOW },
      handlers: [
        handler({ message: sas, extensions: [ext({ message: sas, substatus: [{ name: 'n', status: 'error', code: 1, message: sas }] })] }),
      ],
    }),
  );
  const text = formatAggregateStatus(doc);
  assert.ok(!text.includes('SECRETSIG'));
  assert.equal(text.split('sig=***REDACTED***').length - 1, 5);
});

test('the text is json.dumps-shaped: ", " / ": " separators, 1.0 kept, non-ASCII escaped', () => {
  const doc = buildAggregateStatus(
    input({ supportedFeatures: [], handlers: [handler({ message: 'café ✓', extensions: [ext({ message: 'line1\nline2 "q" \u007f' })] })] }),
  );
  const expected =
    '{"version": "1.1", "timestampUTC": "2025-03-04T05:06:07Z", "aggregateStatus": {"guestAgentStatus": {"version": "2.15.0.1", ' +
    '"status": "Ready", "formattedMessage": {"lang": "en-US", "message": "Guest Agent is running"}}, "handlerAggregateStatus": ' +
    '[{"handlerVersion": "1.2.3", "handlerName": "Pub.Handler", "status": "Ready", "code": 0, "useExactVersion": true, ' +
    '"formattedMessage": {"lang": "en-US", "message": "caf\\u00e9 \\u2713"}, "runtimeSettingsStatus": {"settingsStatus": ' +
    '{"status": {"name": "Pub.Handler", "configurationAppliedTime": null, "operation": "Enable", "status": "success", "code": 0, ' +
    '"formattedMessage": {"lang": "en-US", "message": "line1\\nline2 \\"q\\" \\u007f"}}, "version": 1.0, "timestampUTC": ' +
    '"2025-03-04T05:06:07Z"}, "sequenceNumber": 2}}]}, "guestOSInfo": {"computerName": "vm-1", "osName": "debian", ' +
    '"osVersion": "12", "version": "2.15.0.1"}}';
  assert.equal(formatAggregateStatus(doc), expected);
  assert.equal(JSON.parse(expected).aggregateStatus.handlerAggregateStatus[0].formattedMessage.message, 'café ✓');
  assert.equal(JSON.stringify({ v: new PyFloat(1) }), '{"v":1}');
  assert.equal(pythonJsonDumps([new PyFloat(2.5), 3, true, null, '😀']), '[2.5, 3, true, null, "\\ud83d\\ude00"]');
});

test('statusTimestamp drops the fraction and keeps UTC', () => {
  assert.equal(statusTimestamp(new Date(Date.UTC(2024, 0, 1, 23, 59, 59, 999))), '2024-01-01T23:59:59Z');
});
