// Extension status files (docs/protocol.md §5.11) read from the recorded fixtures verbatim: valid, invalid JSON,
// malformed, oversized (message / substatus truncation, substatus dropping), missing and unreadable files, the
// retry rule, multi-config names; the "most recently modified settings file" rule; heartbeat.log (§5.7).
import { describe, it, test, type TestContext } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CODE_STATUS_INVALID,
  MAX_STATUS_FILE_BYTES,
  MAX_STATUS_MESSAGE_CHARS,
  MAX_SUBSTATUS_FIELD_CHARS,
  TRUNCATED_SUFFIX,
  readExtensionStatus,
  seqNoFromSettingsFiles,
  statusFilePath,
} from '../../../src/extensions/status-file.ts';
import { readHeartbeat, UNRESPONSIVE } from '../../../src/extensions/heartbeat.ts';
import { isAgentError } from '../../../src/util/errors.ts';
import { FIXTURES } from '../../helpers/paths.ts';

const EXT = join(FIXTURES, 'tests', 'data', 'ext');
const HANDLER = 'Microsoft.Azure.Extension.VMExtension';

function handlerDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ext-status-'));
  mkdirSync(join(dir, 'status'));
  mkdirSync(join(dir, 'config'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Copies a fixture to <dir>/status/<seq>.status and reads it, counting the retry sleeps. */
async function readFixture(t: { after(fn: () => void): void }, fixture: string, seqNo = 0) {
  const dir = handlerDir(t);
  copyFileSync(join(EXT, fixture), statusFilePath(dir, seqNo));
  const sleeps: number[] = [];
  const st = await readExtensionStatus({ baseDir: dir, handlerName: HANDLER, seqNo, sleep: async (ms) => void sleeps.push(ms) });
  return { st, sleeps, raw: JSON.parse(readFileSync(join(EXT, fixture), 'utf8').replace(/^\uFEFF/, '')) as unknown };
}

/** `[0].status` of a fixture, as the extension wrote it (the fields the tests read). */
interface RawStatus {
  formattedMessage: { message: string };
  substatus: { name: string; formattedMessage: { message: string | null } }[];
}

test('a valid status file: [0].status fields, string codes kept, null formattedMessage gives a null message', async (t) => {
  const { st, sleeps, raw } = await readFixture(t, 'sample-status.json', 3);
  const s = (raw as { status: RawStatus }[])[0]!.status;
  assert.equal(st.name, HANDLER);
  assert.equal(st.sequenceNumber, 3);
  assert.equal(st.status, 'success');
  assert.equal(st.code, 1);
  assert.equal(st.operation, 'Enable');
  assert.equal(st.configurationAppliedTime, null);
  assert.equal(st.message, s.formattedMessage.message);
  assert.equal(st.substatus.length, 1);
  assert.deepEqual(st.substatus[0], { name: s.substatus[0].name, status: 'success', code: '0', message: null });
  assert.deepEqual(sleeps, []);
});

// The Python agent sends the first 2000 bytes of an unparsable status file to the platform; we send its size only
// (a status file can be a link to any file on the VM, see the symlink tests below).
test('invalid JSON is error 1012 with the file size but none of its bytes, after 5 attempts 2 s apart', async (t) => {
  for (const fixture of ['sample-status-invalid-json-format.json', 'sample-status-invalid-format-emptykey-line7.json']) {
    const dir = handlerDir(t);
    copyFileSync(join(EXT, fixture), statusFilePath(dir, 0));
    const sleeps: number[] = [];
    const st = await readExtensionStatus({ baseDir: dir, handlerName: HANDLER, seqNo: 0, sleep: async (ms) => void sleeps.push(ms) });
    assert.equal(st.status, 'error', fixture);
    assert.equal(st.code, CODE_STATUS_INVALID);
    assert.match(
      st.message!,
      new RegExp(
        `^The status reported by the extension ${HANDLER.replaceAll('.', '\\.')}\\(Sequence number 0\\), was in an incorrect format`,
      ),
    );
    const content = readFileSync(join(EXT, fixture), 'utf8');
    assert.ok(
      st.message!.includes(`Failed due to the file is not valid JSON (the status file has ${Buffer.byteLength(content)} bytes;`),
      String(st.message),
    );
    for (const line of content.split('\n').filter((l) => l.trim().length > 3))
      assert.ok(!st.message!.includes(line.trim()), `the message quotes "${line}"`);
    assert.deepEqual(sleeps, [2000, 2000, 2000, 2000]);
  }
});

test('a status without status/status is malformed: error 1012, not retried', async (t) => {
  const { st, sleeps } = await readFixture(t, 'sample-status-invalid-status-no-status-status-key.json');
  assert.equal(st.status, 'error');
  assert.equal(st.code, CODE_STATUS_INVALID);
  assert.equal(
    st.message,
    `Could not get a valid status from the extension ${HANDLER}. Encountered the following error: Invalid status format by extension: Missing status/status key`,
  );
  assert.deepEqual(sleeps, []);
});

test('over 128 KiB: message cut to 1024 chars, substatus name to 10 KiB, status and code kept', async (t) => {
  const { st, raw } = await readFixture(t, 'sample-status-very-large.json');
  const s = (raw as { status: RawStatus }[])[0]!.status;
  assert.ok(readFileSync(join(EXT, 'sample-status-very-large.json')).length > MAX_STATUS_FILE_BYTES);
  assert.equal(st.status, 'success');
  assert.equal(st.code, 1);
  assert.equal(st.message, s.formattedMessage.message.slice(0, 1024) + ' ... [TRUNCATED]');
  assert.equal(st.substatus.length, 1);
  assert.equal(st.substatus[0]!.name, s.substatus[0].name.slice(0, 10240) + ' ... [TRUNCATED]');
  assert.equal(st.substatus[0]!.message, s.substatus[0].formattedMessage.message, 'a 1102-char substatus message is under 10 KiB');
});

test('over 128 KiB with many substatuses: they are dropped once the running size passes 128 KiB', async (t) => {
  const { st, raw } = await readFixture(t, 'sample-status-very-large-multiple-substatuses.json');
  const s = (raw as { status: RawStatus }[])[0]!.status;
  const cut = (x: string | null, n: number) => (x === null ? 0 : x.length < n ? x.length : n + TRUNCATED_SUFFIX.length);
  let size = cut(s.formattedMessage.message, MAX_STATUS_MESSAGE_CHARS);
  let kept = 0;
  for (const sub of s.substatus) {
    size += cut(sub.name, MAX_SUBSTATUS_FIELD_CHARS) + cut(sub.formattedMessage?.message ?? null, MAX_SUBSTATUS_FIELD_CHARS);
    if (size > MAX_STATUS_FILE_BYTES) break;
    kept++;
  }
  assert.equal(s.substatus.length, 42);
  assert.equal(kept, 12, '1040 + n × 10587 ≤ 131072 holds for n ≤ 12');
  assert.equal(st.substatus.length, kept);
  assert.equal(st.substatus[11]!.name, s.substatus[11].name);
});

test("a missing status file is transitioning / 0 with the agent's message, and is not waited for", async (t) => {
  const dir = handlerDir(t);
  const sleeps: number[] = [];
  const st = await readExtensionStatus({ baseDir: dir, handlerName: HANDLER, seqNo: 7, sleep: async (ms) => void sleeps.push(ms) });
  assert.equal(st.status, 'transitioning');
  assert.equal(st.code, 0);
  assert.equal(st.sequenceNumber, 7);
  assert.match(
    st.message!,
    /no status file was reported by extension Microsoft\.Azure\.Extension\.VMExtension: Status file .*\/status\/7\.status does not exist/,
  );
  assert.deepEqual(sleeps, []);
});

test('a status file that is not a regular file is error / -1 at once (reading it again would not help)', async (t) => {
  const dir = handlerDir(t);
  mkdirSync(statusFilePath(dir, 0)); // a directory where the file should be
  const sleeps: number[] = [];
  const st = await readExtensionStatus({
    baseDir: dir,
    handlerName: HANDLER,
    seqNo: 0,
    attempts: 3,
    retryDelayMs: 5,
    sleep: async (ms) => void sleeps.push(ms),
  });
  assert.equal(st.status, 'error');
  assert.equal(st.code, -1);
  assert.match(
    st.message!,
    /^We couldn't read any status for Microsoft\.Azure\.Extension\.VMExtension extension, for the sequence number 0\. It failed due to \S+0\.status is a directory, not a regular file$/,
  );
  assert.deepEqual(sleeps, []);
});

test('malformed shapes: non-array, missing keys, bad substatus; unknown status value becomes error; nulls accepted', async (t) => {
  const dir = handlerDir(t);
  const read = async (content: unknown) => {
    writeFileSync(statusFilePath(dir, 0), typeof content === 'string' ? content : JSON.stringify(content));
    return readExtensionStatus({ baseDir: dir, handlerName: HANDLER, seqNo: 0, sleep: async () => {} });
  };
  const ok = (status: Record<string, unknown>) => [{ version: 1.0, timestampUTC: '2024-01-01T00:00:00Z', status }];
  const malformed = async (content: unknown, why: RegExp) => {
    const st = await read(content);
    assert.equal(st.status, 'error');
    assert.equal(st.code, CODE_STATUS_INVALID);
    assert.match(st.message!, why);
  };
  await malformed({ status: { status: 'success' } }, /The extension status must be an array: \{"status"/);
  await malformed([{ nostatus: 1 }], /Missing status key/);
  await malformed(ok({ status: 'success', formattedMessage: { message: 'x' } }), /Missing formattedMessage\/lang key/);
  await malformed(ok({ status: 'success', substatus: [{ name: 'a' }] }), /Missing substatus\/status key/);
  await malformed(ok({ status: 'success', substatus: [{ status: 'bogus' }] }), /substatus\/status "bogus" is not one of/);
  await malformed(ok({ status: 'success', substatus: { status: 'success' } }), /substatus is not an array/);

  const odd = await read(ok({ status: 'Enabled!', code: 5 }));
  assert.equal(odd.status, 'error');
  assert.equal(odd.code, 5);
  const nulls = await read(ok({ status: 'warning', substatus: null }));
  assert.equal(nulls.status, 'warning');
  assert.equal(nulls.code, 0, 'code defaults to 0');
  assert.deepEqual(nulls.substatus, []);
  const skipped = await read(
    ok({
      status: 'success',
      configurationAppliedTime: '2024-01-01T00:00:01Z',
      substatus: [null, { status: 'error', code: 3, formattedMessage: { lang: 'en-US', message: 'm' } }],
    }),
  );
  assert.deepEqual(skipped.substatus, [{ name: null, status: 'error', code: 3, message: 'm' }]);
  assert.equal(skipped.configurationAppliedTime, '2024-01-01T00:00:01Z');
  const empty = await read('[]');
  assert.equal(empty.status, 'transitioning');
});

test('multi-config: <ext>.<seq>.status, named after the extension', async (t) => {
  const dir = handlerDir(t);
  copyFileSync(join(EXT, 'sample-status.json'), join(dir, 'status', 'secondExt.4.status'));
  const st = await readExtensionStatus({ baseDir: dir, handlerName: HANDLER, extensionName: 'secondExt', seqNo: 4 });
  assert.equal(st.name, 'secondExt');
  assert.equal(st.status, 'success');
  const missing = await readExtensionStatus({ baseDir: dir, handlerName: HANDLER, extensionName: 'firstExt', seqNo: 4 });
  assert.match(missing.message!, /extension Microsoft\.Azure\.Extension\.VMExtension\.firstExt:/);
});

test('seqNoFromSettingsFiles takes the most recently modified settings file, not the largest number', (t) => {
  const dir = handlerDir(t);
  assert.equal(seqNoFromSettingsFiles(dir), null);
  const at = (name: string, secs: number) => {
    writeFileSync(join(dir, 'config', name), '{}');
    utimesSync(join(dir, 'config', name), secs, secs);
  };
  at('9.settings', 1_000);
  at('2.settings', 3_000);
  at('5.settings', 2_000);
  at('ext.7.settings', 9_000);
  at('ext.1.settings', 8_000);
  assert.equal(seqNoFromSettingsFiles(dir), 2);
  assert.equal(seqNoFromSettingsFiles(dir, 'ext'), 7);
  assert.equal(seqNoFromSettingsFiles(dir, 'other'), null);
});

test('heartbeat.log: fresh file gives its status and message; older than 600 s is Unresponsive; bad files throw', (t) => {
  const dir = handlerDir(t);
  const file = join(dir, 'heartbeat.log');
  assert.throws(
    () => readHeartbeat(dir),
    (e) => isAgentError(e, 'extension') && /cannot read the heartbeat file/.test(e.message),
  );
  writeFileSync(
    file,
    JSON.stringify([{ version: 1.0, heartbeat: { status: 'Ready', code: 0, formattedMessage: { lang: 'en-US', message: 'all good' } } }]),
  );
  const now = Date.now();
  assert.deepEqual(readHeartbeat(dir, now), { status: 'Ready', code: 0, message: 'all good' });
  utimesSync(file, (now - 600_000) / 1000, (now - 600_000) / 1000);
  assert.equal(readHeartbeat(dir, now).status, 'Ready', 'exactly 600 s is still responsive');
  utimesSync(file, (now - 601_000) / 1000, (now - 601_000) / 1000);
  assert.deepEqual(readHeartbeat(dir, now), UNRESPONSIVE);
  assert.equal(UNRESPONSIVE.code, -1);
  writeFileSync(file, '{not json');
  assert.throws(
    () => readHeartbeat(dir),
    (e) => isAgentError(e, 'extension') && /is not valid JSON/.test(e.message),
  );
  writeFileSync(file, JSON.stringify({ heartbeat: { status: 'Ready' } }));
  assert.throws(
    () => readHeartbeat(dir),
    (e) => isAgentError(e, 'extension') && /should be an array/.test(e.message),
  );
  writeFileSync(file, JSON.stringify([{ heartbeat: { code: 0 } }]));
  assert.throws(
    () => readHeartbeat(dir),
    (e) => isAgentError(e, 'extension') && /heartbeat\.status is missing/.test(e.message),
  );
});

// Hostile handlers (the agent reads their files as root every cycle): links are not followed, FIFOs do not block.
describe('a status file the handler turned into something else', () => {
  const SECRET = 'root:$6$planted-secret-hash:19000:0:99999:7:::';
  const secretFile = (t: TestContext) => {
    const d = handlerDir(t);
    const f = join(d, 'shadow-stand-in');
    writeFileSync(f, SECRET + '\n');
    return f;
  };
  const read = (dir: string) =>
    readExtensionStatus({ baseDir: dir, handlerName: HANDLER, seqNo: 0, attempts: 2, retryDelayMs: 1, sleep: async () => {} });

  it('a symlink to another file is not followed, and nothing of that file is reported', async (t) => {
    const dir = handlerDir(t);
    symlinkSync(secretFile(t), statusFilePath(dir, 0));
    const st = await read(dir);
    assert.equal(st.status, 'error');
    assert.equal(st.code, -1);
    assert.match(st.message!, /0\.status is a symbolic link, which the agent does not follow$/);
    assert.ok(!JSON.stringify(st).includes('planted-secret'));
  });

  it('a status folder that is a link out of the handler directory is refused', async (t) => {
    const dir = handlerDir(t);
    const elsewhere = handlerDir(t);
    writeFileSync(
      statusFilePath(elsewhere, 0),
      JSON.stringify([{ status: { status: 'success', operation: 'Enable', formattedMessage: { lang: 'en-US', message: SECRET } } }]),
    );
    rmSync(join(dir, 'status'), { recursive: true, force: true });
    symlinkSync(join(elsewhere, 'status'), join(dir, 'status'));
    const st = await read(dir);
    assert.equal(st.status, 'error');
    assert.match(st.message!, /leads outside .* through a symbolic link, which the agent does not follow$/);
    assert.ok(!JSON.stringify(st).includes('planted-secret'));
  });

  it('a FIFO is refused at once instead of blocking the agent', async (t) => {
    const dir = handlerDir(t);
    const r = spawnSync('mkfifo', [statusFilePath(dir, 0)]);
    assert.equal(r.status, 0, String(r.stderr));
    const started = Date.now();
    const st = await read(dir);
    assert.ok(Date.now() - started < 5000);
    assert.equal(st.status, 'error');
    assert.match(st.message!, /0\.status is a FIFO, not a regular file$/);
  });
});
