import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from '../../../src/os/atomic-file.ts';

test('writeFileAtomic: the mode asked for, missing directories made 0700, no temporary file left', () => {
  const root = mkdtempSync(join(tmpdir(), 'atomic-'));
  const path = join(root, 'lib/waagent/TransportPrivate.pem');
  writeFileAtomic(path, 'secret', { mode: 0o600, mkdir: true });
  assert.equal(readFileSync(path, 'utf8'), 'secret');
  assert.equal(statSync(path).mode & 0o7777, 0o600);
  assert.equal(statSync(join(root, 'lib/waagent')).mode & 0o7777, 0o700);
  assert.equal(statSync(join(root, 'lib')).mode & 0o7777, 0o700);
  writeFileAtomic(path, 'new', { mode: 0o600 });
  assert.equal(readFileSync(path, 'utf8'), 'new');
  assert.deepEqual(readdirSync(join(root, 'lib/waagent')), ['TransportPrivate.pem']);
});
