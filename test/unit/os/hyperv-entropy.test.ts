import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { consumeHypervEntropy } from '../../../src/os/hyperv-entropy.ts';

test('Hyper-V entropy: the OEM0 table is written to the random device; no table, nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'entropy-'));
  const table = join(dir, 'OEM0');
  const random = join(dir, 'random'); // stands in for /dev/random
  writeFileSync(random, '');
  assert.equal(consumeHypervEntropy(join(dir, 'absent'), random), 0);
  assert.equal(readFileSync(random).length, 0);
  const bytes = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff));
  writeFileSync(table, bytes);
  assert.equal(consumeHypervEntropy(table, random), 64);
  assert.deepEqual(readFileSync(random), bytes);
  assert.equal(consumeHypervEntropy(table, join(dir, 'no-such-dir', 'random')), 0, 'an unwritable device is a warning, not a failure');
});
