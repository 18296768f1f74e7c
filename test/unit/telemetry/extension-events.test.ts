// The extensions' events (src/telemetry/extension-events.ts, upstream collect_telemetry_events.py): the schema
// accepted, the reasons an event is dropped, the caps (360 events per handler per period, 4 MiB per file, 6 KiB per
// event, 3 KiB per message), the files removed after every run, and the log event queued in upstream's columns.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { collectExtensionEvents, validateExtensionEvent } from '../../../src/telemetry/extension-events.ts';

const good = (n = 0) => ({
  Version: '1.0.0.23',
  Timestamp: '2026-12-02T14:00:00.000000Z',
  TaskName: 'TestRun',
  EventLevel: 'Informational',
  Message: `event ${n}`,
  EventPid: 12,
  EventTid: '34',
  OperationId: '7c2f9b7e-0c43-4c53-8a3a-3b1d0c6b3a5e',
});

function setup(): { logDir: string; queue: string; events: string } {
  const root = mkdtempSync(join(tmpdir(), 'etp-'));
  const logDir = join(root, 'azure');
  const events = join(logDir, 'Microsoft.Azure.Extensions.CustomScript', 'events');
  mkdirSync(events, { recursive: true });
  return { logDir, queue: join(root, 'queue'), events };
}

function queued(queue: string): Array<Record<string, unknown>> {
  return readdirSync(queue)
    .sort()
    .map((n) => {
      const e = JSON.parse(readFileSync(join(queue, n), 'utf8')) as { parameters: Array<{ name: string; value: unknown }> };
      return Object.fromEntries(e.parameters.map((p) => [p.name, p.value]));
    });
}

test('schema: case-insensitive keys, integer pids as strings, values trimmed, the message capped at 3072', () => {
  const e = validateExtensionEvent({ ...good(), message: undefined, MESSAGE: `  ${'m'.repeat(4000)} `, extra: 'ignored' });
  assert.equal(e.message.length, 3072);
  assert.equal(e.eventpid, '12');
  assert.equal(e.version, '1.0.0.23');
  assert.ok(!('extra' in e));
});

test('schema: the reasons upstream drops an event', () => {
  const { Message: _m, ...noMessage } = good();
  assert.throws(() => validateExtensionEvent(noMessage), /^Error: MissingKeyError: Message not found$/);
  assert.throws(() => validateExtensionEvent({ ...good(), Message: '   ' }), /EmptyMessageError: Message should not be empty/);
  const { OperationId: _o, ...noOp } = good();
  assert.throws(() => validateExtensionEvent(noOp), /MissingKeyError: operationid not found/);
  assert.throws(
    () => validateExtensionEvent({ ...good(), TaskName: 't'.repeat(7000) }),
    /OversizeEventError: max event size allowed: 6144/,
  );
});

test('collect: events become upstream log events (provider FFF0196F…, id 7) in the queue; the folder is emptied', () => {
  const { logDir, queue, events } = setup();
  writeFileSync(join(events, '1700000000001.json'), JSON.stringify([good(1), good(2)]));
  writeFileSync(
    join(events, '1700000000002.json'),
    JSON.stringify({ ...good(3), Message: 'see https://a.blob.core.windows.net/c?sv=1&sig=SECRET' }),
  );
  writeFileSync(join(events, 'notes.txt'), 'not an event file');
  const r = collectExtensionEvents(logDir, queue, 'container-1');
  assert.deepEqual(r.collected, { 'Microsoft.Azure.Extensions.CustomScript': 3 });
  assert.deepEqual(readdirSync(events), []);
  const files = readdirSync(queue);
  assert.ok(files.every((n) => /^\d+\.tld$/.test(n) && !n.endsWith('.waagent.tld')));
  const raw = JSON.parse(readFileSync(join(queue, files.sort()[0]!), 'utf8')) as { eventId: number; providerId: string; file_type: string };
  assert.equal(raw.eventId, 7);
  assert.equal(raw.providerId, 'FFF0196F-EE4C-4EAF-9AA5-776F622DEB4F');
  assert.equal(raw.file_type, 'json');
  const all = queued(queue);
  // newest file first, as upstream
  assert.match(String(all[0]!.Context1), /sig=\*\*\*REDACTED\*\*\*/);
  assert.deepEqual(
    { ...all[1], OpcodeName: undefined },
    {
      GAVersion: 'WALinuxAgent-2.15.0.1',
      ContainerId: 'container-1',
      OpcodeName: undefined,
      EventTid: '34',
      EventPid: '12',
      TaskName: 'TestRun',
      EventName: 'Microsoft.Azure.Extensions.CustomScript-1.0.0.23',
      CapabilityUsed: 'Informational',
      Context1: 'event 1',
      Context2: '2026-12-02T14:00:00.000000Z',
      Context3: '7c2f9b7e-0c43-4c53-8a3a-3b1d0c6b3a5e',
    },
  );
});

test('collect: at most 360 events per handler per period; malformed, invalid and oversize files dropped without stopping', () => {
  const { logDir, queue, events } = setup();
  writeFileSync(join(events, '1.json'), '{not json');
  writeFileSync(join(events, '2.json'), JSON.stringify([{ ...good(), Message: '' }, good(0)]));
  writeFileSync(join(events, '3.json'), Buffer.alloc(4 * 1024 * 1024 + 1, 0x20));
  writeFileSync(join(events, '4.json'), JSON.stringify(Array.from({ length: 400 }, (_, i) => good(i))));
  const r = collectExtensionEvents(logDir, queue, 'c');
  assert.deepEqual(r.collected, { 'Microsoft.Azure.Extensions.CustomScript': 360 });
  assert.equal(readdirSync(queue).length, 360);
  assert.deepEqual(readdirSync(events), [], 'every file is removed, the ones beyond the cap too');

  // the next period starts again from zero, and the bad ones alone still do not stop the run
  writeFileSync(join(events, '5.json'), '{not json');
  writeFileSync(join(events, '6.json'), JSON.stringify([{ ...good(), Message: '' }, good(9)]));
  const again = collectExtensionEvents(logDir, queue, 'c');
  assert.deepEqual(again.collected, { 'Microsoft.Azure.Extensions.CustomScript': 1 });
  assert.deepEqual(again.dropped, { 'Microsoft.Azure.Extensions.CustomScript': { 'EmptyMessageError: Message should not be empty': 1 } });
});

test('collect: no extension log folder, or a handler without an events folder, is no error', () => {
  const { logDir, queue } = setup();
  mkdirSync(join(logDir, 'Other.Handler'), { recursive: true });
  assert.deepEqual(collectExtensionEvents(join(logDir, 'missing'), queue, 'c'), { collected: {}, dropped: {} });
  assert.deepEqual(collectExtensionEvents(logDir, queue, 'c'), { collected: {}, dropped: {} });
});
