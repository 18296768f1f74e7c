import assert from 'node:assert/strict';
import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  appendKvpRecords,
  decodeRecords,
  encodeRecord,
  MAX_RECORDS,
  provisioningReportValue,
  RECORD_SIZE,
  SAFE_VALUE_BYTES,
  splitRecords,
  truncateUtf8,
  writeProvisioningReport,
} from '../../../src/provisioning/kvp.ts';
import { OUR_VERSION } from '../../../src/util/version.ts';
import { rejectsWith, tempRoot } from './prov-helpers.ts';

const VM = 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8';
const AT = new Date('2026-11-25T10:00:00.000Z');

describe('KVP records (docs/peers.md §7)', () => {
  it('encodes a 512-byte key and a 2048-byte value, NUL-padded', () => {
    const rec = encodeRecord('PROVISIONING_REPORT', 'result=success');
    assert.equal(rec.length, 2560);
    assert.equal(rec.subarray(0, 19).toString(), 'PROVISIONING_REPORT');
    assert.ok(rec.subarray(19, 512).every((b) => b === 0));
    assert.equal(rec.subarray(512, 526).toString(), 'result=success');
    assert.ok(rec.subarray(526).every((b) => b === 0));
    assert.deepEqual(decodeRecords(Buffer.concat([rec, rec])), [
      { key: 'PROVISIONING_REPORT', value: 'result=success' },
      { key: 'PROVISIONING_REPORT', value: 'result=success' },
    ]);
  });

  it('keeps values within 1022 bytes without splitting a character, and rejects bad keys', async () => {
    const rec = encodeRecord('k', 'é'.repeat(600)); // 1200 bytes
    const value = decodeRecords(rec)[0]!.value;
    assert.equal(value, 'é'.repeat(511));
    assert.equal(truncateUtf8('aé', 2), 'a');
    await rejectsWith(() => encodeRecord('k'.repeat(255), 'v'), 'provisioning', /KVP key .* must have 1 to 254 bytes/);
    await rejectsWith(() => encodeRecord('', 'v'), 'provisioning', /must have 1 to 254 bytes/);
  });

  it('splits long values into key|i records', () => {
    const parts = splitRecords('EVENT', 'x'.repeat(2500));
    assert.deepEqual(
      parts.map((p) => [p.key, p.value.length]),
      [
        ['EVENT|0', 1022],
        ['EVENT|1', 1022],
        ['EVENT|2', 456],
      ],
    );
    assert.deepEqual(splitRecords('E', 'short'), [{ key: 'E', value: 'short' }]);
  });
});

describe('PROVISIONING_REPORT', () => {
  it('success', () => {
    assert.equal(
      provisioningReportValue({ vmId: VM, timestamp: AT }),
      `result=success|agent=waagent-ts/${OUR_VERSION}|pps_type=None|vm_id=${VM}|timestamp=2026-11-25T10:00:00.000Z`,
    );
  });

  it('failure with supporting fields, quoted where they hold the delimiter', () => {
    const v = provisioningReportValue({
      vmId: VM,
      timestamp: AT,
      reason: "useradd failed: can't | lock",
      details: [
        ['kind', 'command'],
        ['user', 'alice'],
      ],
    });
    assert.equal(
      v,
      `result=error|'reason=useradd failed: can''t | lock'|agent=waagent-ts/${OUR_VERSION}|kind=command|user=alice|pps_type=None|vm_id=${VM}|timestamp=2026-11-25T10:00:00.000Z|documentation_url=https://aka.ms/linuxprovisioningerror`,
    );
  });

  it('shortens a long reason so the identifying fields still arrive in one record', () => {
    const v = provisioningReportValue({ vmId: VM, timestamp: AT, reason: 'boom '.repeat(400), details: [['detail', 'd'.repeat(2000)]] });
    assert.ok(Buffer.byteLength(v) <= SAFE_VALUE_BYTES, String(Buffer.byteLength(v)));
    assert.match(
      v,
      /^result=error\|reason=boom boom .*\.\.\.\|agent=waagent-ts\/.*\|pps_type=None\|vm_id=D0DF4C54-.*\|documentation_url=https:\/\/aka\.ms\/linuxprovisioningerror$/,
    );
    assert.ok(!v.includes('detail='), 'a detail too long to fit is dropped');
    // even fixed fields too long for one record end (the record writer cuts the value at 1022 bytes)
    const huge = provisioningReportValue({ vmId: VM, timestamp: AT, reason: 'r', ppsType: 'p'.repeat(2000) });
    assert.match(huge, /^result=error\|reason=\|agent=/);
  });

  it('appends to the pool without touching records already there', async () => {
    const pool = join(tempRoot(), 'hyperv', '.kvp_pool_1');
    await writeProvisioningReport({ vmId: VM, timestamp: AT }, { poolPath: pool, bootTime: new Date(0) });
    await writeProvisioningReport({ vmId: VM, timestamp: AT, reason: 'no media' }, { poolPath: pool, bootTime: new Date(0) });
    const recs = decodeRecords(readFileSync(pool));
    assert.equal(statSync(pool).size, 2 * RECORD_SIZE);
    assert.equal(recs.length, 2);
    assert.match(recs[0]!.value, /^result=success\|/);
    assert.match(recs[1]!.value, /^result=error\|reason=no media\|/);
  });

  it('empties a pool left from an earlier boot first', async () => {
    const pool = join(tempRoot(), '.kvp_pool_1');
    writeFileSync(pool, encodeRecord('OLD', 'x'));
    utimesSync(pool, new Date(1000), new Date(1000));
    await appendKvpRecords([{ key: 'NEW', value: 'y' }], { poolPath: pool, bootTime: new Date(2_000_000) });
    assert.deepEqual(decodeRecords(readFileSync(pool)), [{ key: 'NEW', value: 'y' }]);
  });

  it('does not grow a full pool', async () => {
    const pool = join(tempRoot(), '.kvp_pool_1');
    writeFileSync(pool, Buffer.alloc(MAX_RECORDS * RECORD_SIZE));
    assert.equal(await appendKvpRecords([{ key: 'K', value: 'v' }], { poolPath: pool, bootTime: new Date(0) }), false);
    assert.equal(statSync(pool).size, MAX_RECORDS * RECORD_SIZE);
  });

  it('appends whole records when writers race', async () => {
    const pool = join(tempRoot(), '.kvp_pool_1');
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        appendKvpRecords([{ key: `K${i}`, value: 'v'.repeat(1000) }], { poolPath: pool, bootTime: new Date(0) }),
      ),
    );
    const recs = decodeRecords(readFileSync(pool));
    assert.equal(statSync(pool).size, 20 * RECORD_SIZE);
    assert.deepEqual(recs.map((r) => r.key).sort(), Array.from({ length: 20 }, (_, i) => `K${i}`).sort());
    assert.ok(recs.every((r) => r.value === 'v'.repeat(1000)));
  });
});
