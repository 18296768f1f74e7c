// The extensions' events (src/telemetry/extension-events.ts, upstream collect_telemetry_events.py): the schema
// accepted, the reasons an event is dropped, the caps (360 events per handler per period, 4 MiB per file, 6 KiB per
// event, 3 KiB per message), the files removed after every run, the log event in upstream's columns, a file being
// written read again (3 attempts), the warnings sent as "Log" events, and the events held in memory apart from the
// agent's queue on disk so that busy extensions cannot push the agent's own events out.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { collectExtensionEvents, readEventFile, validateExtensionEvent } from '../../../src/telemetry/extension-events.ts';
import { agentEvent, type TelemetryEvent } from '../../../src/telemetry/event.ts';
import { MAX_EVENT_FILES, saveEvent } from '../../../src/telemetry/queue.ts';
import { telemetry } from '../../../src/telemetry/recorder.ts';
import { ExtensionEventBuffer } from '../../../src/telemetry/send.ts';

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

const paramsOf = (e: TelemetryEvent) => Object.fromEntries(e.parameters.map((p) => [p.name, p.value]));

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

test('collect: events become upstream log events (provider FFF0196F…, id 7), returned for the sender; the folder is emptied', async () => {
  const { logDir, queue, events } = setup();
  writeFileSync(join(events, '1700000000001.json'), JSON.stringify([good(1), good(2)]));
  writeFileSync(
    join(events, '1700000000002.json'),
    JSON.stringify({ ...good(3), Message: 'see https://a.blob.core.windows.net/c?sv=1&sig=SECRET' }),
  );
  writeFileSync(join(events, 'notes.txt'), 'not an event file');
  const r = await collectExtensionEvents(logDir, 'container-1');
  assert.deepEqual(r.collected, { 'Microsoft.Azure.Extensions.CustomScript': 3 });
  assert.deepEqual(readdirSync(events), []);
  assert.throws(() => readdirSync(queue), /ENOENT/, 'nothing written to the agent queue on disk');
  const raw = r.events[0]!;
  assert.equal(raw.eventId, 7);
  assert.equal(raw.providerId, 'FFF0196F-EE4C-4EAF-9AA5-776F622DEB4F');
  assert.equal(raw.file_type, 'json');
  const all = r.events.map(paramsOf);
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

test('collect: at most 360 events per handler per period; malformed, invalid and oversize files dropped without stopping', async () => {
  const { logDir, events } = setup();
  writeFileSync(join(events, '1.json'), '{not json');
  writeFileSync(join(events, '2.json'), JSON.stringify([{ ...good(), Message: '' }, good(0)]));
  writeFileSync(join(events, '3.json'), Buffer.alloc(4 * 1024 * 1024 + 1, 0x20));
  writeFileSync(join(events, '4.json'), JSON.stringify(Array.from({ length: 400 }, (_, i) => good(i))));
  const r = await collectExtensionEvents(logDir, 'c', { retryDelayMs: 1 });
  assert.deepEqual(r.collected, { 'Microsoft.Azure.Extensions.CustomScript': 360 });
  assert.equal(r.events.length, 360);
  assert.deepEqual(readdirSync(events), [], 'every file is removed, the ones beyond the cap too');

  // the next period starts again from zero, and the bad ones alone still do not stop the run
  writeFileSync(join(events, '5.json'), '{not json');
  writeFileSync(join(events, '6.json'), JSON.stringify([{ ...good(), Message: '' }, good(9)]));
  const again = await collectExtensionEvents(logDir, 'c', { retryDelayMs: 1 });
  assert.deepEqual(again.collected, { 'Microsoft.Azure.Extensions.CustomScript': 1 });
  assert.deepEqual(again.dropped, { 'Microsoft.Azure.Extensions.CustomScript': { 'EmptyMessageError: Message should not be empty': 1 } });
});

test('collect: no extension log folder, or a handler without an events folder, is no error', async () => {
  const { logDir } = setup();
  mkdirSync(join(logDir, 'Other.Handler'), { recursive: true });
  assert.deepEqual(await collectExtensionEvents(join(logDir, 'missing'), 'c'), { collected: {}, dropped: {}, events: [] });
  assert.deepEqual(await collectExtensionEvents(logDir, 'c'), { collected: {}, dropped: {}, events: [] });
});

test('a file being written is read again: 3 attempts, 1 s apart by default, as upstream', async () => {
  const { logDir, events } = setup();
  const path = join(events, '100.json');
  writeFileSync(path, '[{"Version": "1.0", "Mess'); // the extension is half-way through writing it
  const started = Date.now();
  const pending = readEventFile(path, logDir, 200);
  setTimeout(() => writeFileSync(path, JSON.stringify([good(5)])), 100);
  const parsed = (await pending) as Array<{ Message: string }>;
  assert.equal(parsed[0]!.Message, 'event 5');
  assert.ok(Date.now() - started >= 150, 'waited for the second attempt');

  // still broken after 3 attempts: the error, which the collector logs and drops the file for
  writeFileSync(path, '{broken');
  let attempts = 0;
  const t0 = Date.now();
  await assert.rejects(readEventFile(path, logDir, 50), SyntaxError);
  attempts = Math.round((Date.now() - t0) / 50) + 1;
  assert.ok(attempts >= 3 && attempts <= 5, `about 3 attempts (${attempts})`);
  // gone for good: ENOENT three times, then the error
  await assert.rejects(readEventFile(join(events, '404.json'), logDir, 1), /does not exist/);
  // a link the extension planted is never followed, and not retried
  const { symlinkSync } = await import('node:fs');
  symlinkSync('/etc/shadow', join(events, '200.json'));
  await assert.rejects(readEventFile(join(events, '200.json'), logDir, 1000), /symbolic link/);
});

test('one run waits at most its retry budget: 20 broken files are each read once after it is spent', async () => {
  const { logDir, events } = setup();
  for (let i = 0; i < 20; i++) writeFileSync(join(events, `${100 + i}.json`), '{broken');
  const started = Date.now();
  await collectExtensionEvents(logDir, 'c', { retryDelayMs: 200, retryBudgetMs: 400 });
  const took = Date.now() - started;
  // 2 waits of 200 ms fit the budget; without it 20 files × 2 waits would take 8 s (a wide bound: the machine is busy)
  assert.ok(took >= 400 && took < 5000, `${took} ms`);
  assert.deepEqual(readdirSync(events), []);
});

test('the collector\'s warnings go out as forced "Log" events (upstream add_log_event(..., forced=True))', async () => {
  const { logDir, queue, events } = setup();
  telemetry.start(queue);
  try {
    writeFileSync(join(events, '1.json'), JSON.stringify(Array.from({ length: 361 }, (_, i) => good(i))));
    writeFileSync(join(events, '0.json'), JSON.stringify([{ ...good(), Message: '' }]));
    await collectExtensionEvents(logDir, 'c', { retryDelayMs: 1 });
    const logs = readdirSync(queue)
      .sort()
      .map((n) => JSON.parse(readFileSync(join(queue, n), 'utf8')) as TelemetryEvent)
      .map(paramsOf);
    assert.deepEqual(
      logs.map((l) => [l.EventName, l.CapabilityUsed, String(l.Context1).split(';')[0]]),
      [['Log', 'WARNING', 'Reached max count for the extension: Microsoft.Azure.Extensions.CustomScript']],
      'the cap reached before the file with the invalid event was read',
    );
  } finally {
    telemetry.start(null);
  }
});

test("10 extensions × 360 events in one period: all collected into memory, none of the agent's queued events dropped", async () => {
  const { logDir, queue } = setup();
  const agentEvents = MAX_EVENT_FILES - 1;
  for (let i = 0; i < agentEvents; i++)
    saveEvent(queue, agentEvent({ op: 'Enable', isSuccess: true, message: `agent ${i}` }, { containerId: 'c' }));
  for (let h = 0; h < 10; h++) {
    const dir = join(logDir, `Publisher.Ext${h}`, 'events');
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 4; f++)
      writeFileSync(join(dir, `${1000 + f}.json`), JSON.stringify(Array.from({ length: 90 }, (_, i) => good(f * 90 + i))));
  }
  const r = await collectExtensionEvents(logDir, 'c');
  assert.equal(r.events.length, 3600);
  const buffer = new ExtensionEventBuffer();
  buffer.push(r.events);
  assert.equal(buffer.length, 3600);
  const left = readdirSync(queue);
  assert.equal(left.length, agentEvents, 'every agent event still queued');
  assert.ok(left.every((n) => n.endsWith('.waagent.tld')));
});

test('the buffer in memory is bounded: beyond its size the oldest extension events are dropped', () => {
  const ev = (i: number) => ({
    eventId: 7,
    providerId: 'p',
    parameters: [{ name: 'Context1', value: `${i}`.padStart(100, '0') }],
    file_type: 'json',
  });
  const buffer = new ExtensionEventBuffer(10 * 108);
  buffer.push(Array.from({ length: 25 }, (_, i) => ev(i)));
  assert.equal(buffer.length, 10);
  assert.ok(buffer.bytes <= 10 * 108);
});
