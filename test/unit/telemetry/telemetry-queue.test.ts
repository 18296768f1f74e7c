// The event queue on disk and its sending (src/telemetry/queue.ts, send.ts): upstream's *.waagent.tld files, the
// folder capped at 1000 with the oldest dropped, secrets redacted before the write; a batch's files removed once the
// WireServer accepted it, kept while it refuses; unreadable and oversize files dropped.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { platformEndpoints } from '../../../src/fabric/endpoints.ts';
import type { HttpClient, HttpRequest, HttpResponse } from '../../../src/fabric/http.ts';
import { Config } from '../../../src/config/index.ts';
import { agentEvent } from '../../../src/telemetry/event.ts';
import { capEventFolder, saveEvent } from '../../../src/telemetry/queue.ts';
import { ExtensionEventBuffer, sendQueuedEvents } from '../../../src/telemetry/send.ts';
import { AgentError } from '../../../src/util/errors.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'events-'));
const ev = (message: string) => agentEvent({ op: 'Enable', isSuccess: true, message }, { containerId: 'c' });

test('saveEvent: one <microseconds>.waagent.tld JSON file per event, names increasing, no temporary left', () => {
  const dir = join(tmp(), 'events');
  const a = saveEvent(dir, ev('one'), 1_000);
  const b = saveEvent(dir, ev('two'), 1_000);
  assert.ok(a && b);
  assert.match(a, /\/1000000\.waagent\.tld$/);
  assert.match(b, /\/1000001\.waagent\.tld$/);
  assert.deepEqual(readdirSync(dir).sort(), ['1000000.waagent.tld', '1000001.waagent.tld']);
  const saved = JSON.parse(readFileSync(a, 'utf8')) as { eventId: number; parameters: Array<{ name: string; value: unknown }> };
  assert.equal(saved.eventId, 1);
  assert.equal(saved.parameters.find((p) => p.name === 'Message')?.value, 'one');
});

test('saveEvent: SAS tokens and passwords are redacted before the event reaches the disk', () => {
  const dir = tmp();
  const path = saveEvent(dir, ev('download https://x.blob.core.windows.net/c/p.zip?sv=2020&sig=SECRETSIG failed; password=hunter22'));
  const text = readFileSync(path!, 'utf8');
  assert.ok(!text.includes('SECRETSIG'));
  assert.ok(!text.includes('hunter22'));
  assert.ok(text.includes('sig=***REDACTED***'));
});

test('the folder holds at most 1000 files: the oldest (by name) are dropped before a new one is written', () => {
  const dir = tmp();
  for (let i = 0; i < 1005; i++) writeFileSync(join(dir, `${1_000_000 + i}.waagent.tld`), '{}');
  capEventFolder(dir);
  const left = readdirSync(dir).sort();
  assert.equal(left.length, 999);
  assert.equal(left[0], `${1_000_000 + 6}.waagent.tld`);
  saveEvent(dir, ev('new'), 2_000_000);
  assert.equal(readdirSync(dir).length, 1000);
});

function fakeHttp(answer: (req: HttpRequest) => HttpResponse | Error): { http: HttpClient; sent: HttpRequest[] } {
  const sent: HttpRequest[] = [];
  return {
    sent,
    http: {
      requestCount: 0,
      async request(req) {
        sent.push(req);
        const a = answer(req);
        if (a instanceof Error) throw a;
        return a;
      },
      async close() {},
    },
  };
}
const ok: HttpResponse = { status: 200, headers: {}, body: Buffer.alloc(0), bodyBytes: 0, attempts: 1, text: () => '' };
const endpoints = platformEndpoints(Config.defaults(), '168.63.129.16');
const sysInfo = { osVersion: 'Linux:debian-12-:6.1', roleName: 'role1', location: 'westeurope', vmId: 'vm-id' };

test('send: one batch POSTed to /machine?comp=telemetrydata with the system parameters; accepted files removed', async () => {
  const dir = tmp();
  saveEvent(dir, ev('one'));
  saveEvent(dir, ev('two'));
  const { http, sent } = fakeHttp(() => ok);
  const r = await sendQueuedEvents(dir, { http, endpoints }, sysInfo);
  assert.deepEqual(r, { sent: 2, batches: 1, dropped: 0, failedBatches: 0 });
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.url, 'http://168.63.129.16/machine?comp=telemetrydata');
  assert.equal(sent[0]!.method, 'POST');
  assert.equal(sent[0]!.maxAttempts, 3);
  const body = Buffer.from(sent[0]!.body!).toString('utf8');
  assert.equal(body.match(/<Event id="1">/g)?.length, 2);
  assert.ok(body.includes('<Param Name="Location" Value="westeurope" T="mt:wstr" />'));
  assert.ok(body.includes('<Param Name="RoleName" Value="role1" T="mt:wstr" />'));
  assert.match(body, /<Param Name="KeywordName" Value='\{"CpuArchitecture": "[\w-]+"\}' T="mt:wstr" \/>/);
  assert.ok(!body.includes('VMName'), 'upstream 2.15 sends no VMName');
  assert.ok(body.includes('<Param Name="SubscriptionId" Value="SubscriptionId_UNINITIALIZED" T="mt:wstr" />'));
  assert.deepEqual(readdirSync(dir), []);
});

test('send: while the WireServer refuses, the events stay on disk and go out later', async () => {
  const dir = tmp();
  saveEvent(dir, ev('waits'));
  const refuse = fakeHttp(() => new AgentError('http', 'HTTP 503', { status: 503 }));
  const r = await sendQueuedEvents(dir, { http: refuse.http, endpoints }, sysInfo);
  assert.equal(r.failedBatches, 1);
  assert.equal(readdirSync(dir).length, 1);
  const accept = fakeHttp(() => ok);
  assert.equal((await sendQueuedEvents(dir, { http: accept.http, endpoints }, sysInfo)).sent, 1);
  assert.deepEqual(readdirSync(dir), []);
});

test('send: malformed, oversize-on-disk and too-large-to-send events are dropped, the rest sent', async () => {
  const dir = tmp();
  writeFileSync(join(dir, '1.tld'), '{broken');
  writeFileSync(join(dir, '2.tld'), 'x'.repeat(4 * 1024 * 1024 + 1));
  saveEvent(dir, ev('m'.repeat(70_000)));
  saveEvent(dir, ev('fine'));
  writeFileSync(join(dir, 'notes.txt'), 'not an event');
  const { http, sent } = fakeHttp(() => ok);
  const r = await sendQueuedEvents(dir, { http, endpoints }, sysInfo);
  assert.deepEqual(r, { sent: 1, batches: 1, dropped: 1, failedBatches: 0 });
  assert.equal(sent.length, 1);
  assert.deepEqual(readdirSync(dir), ['notes.txt']);
});

test('send: an event queued before the goal state was known gets the container id when it is sent', async () => {
  const dir = tmp();
  saveEvent(dir, agentEvent({ op: 'Provision', isSuccess: true }, { containerId: '' }));
  saveEvent(dir, agentEvent({ op: 'Enable', isSuccess: true }, { containerId: 'older' }));
  const { http, sent } = fakeHttp(() => ok);
  await sendQueuedEvents(dir, { http, endpoints }, { ...sysInfo, containerId: 'c-42' });
  const body = Buffer.from(sent[0]!.body!).toString('utf8');
  assert.deepEqual(
    [...body.matchAll(/<Param Name="ContainerId" Value="([^"]*)"/g)].map((m) => m[1]),
    ['c-42', 'older'],
  );
});

test("send from memory: the extensions' events go out in batches; refused ones wait in memory (in order) for the next run", async () => {
  const ext = (i: number) => ({
    eventId: 7,
    providerId: 'FFF0196F-EE4C-4EAF-9AA5-776F622DEB4F',
    parameters: [{ name: 'Context1', value: `ext ${i} ${'x'.repeat(1000)}` }],
    file_type: 'json',
  });
  const buffer = new ExtensionEventBuffer();
  buffer.push(Array.from({ length: 100 }, (_, i) => ext(i)));
  let n = 0;
  // the second batch is refused
  const some = fakeHttp(() => (++n === 2 ? new AgentError('http', 'HTTP 503', { status: 503 }) : ok));
  const r = await buffer.send({ http: some.http, endpoints }, sysInfo);
  assert.equal(r.failedBatches, 1);
  assert.ok(r.batches >= 1 && r.sent > 0 && r.sent < 100, JSON.stringify(r));
  assert.equal(buffer.length, 100 - r.sent);
  const accept = fakeHttp(() => ok);
  const again = await buffer.send({ http: accept.http, endpoints }, sysInfo);
  assert.equal(again.sent, 100 - r.sent);
  assert.equal(buffer.length, 0);
  const firstBody = Buffer.from(accept.sent[0]!.body!).toString('utf8');
  assert.match(
    firstBody,
    /^<\?xml version="1.0"\?><TelemetryData version="1.0"><Provider id="FFF0196F-EE4C-4EAF-9AA5-776F622DEB4F"><Event id="7">/,
  );
  const second = Buffer.from(some.sent[1]!.body!).toString('utf8');
  const firstRefused = /Value="(ext \d+) /.exec(second)![1];
  assert.equal(/Value="(ext \d+) /.exec(firstBody)![1], firstRefused, 'the refused events come first next time');
});
