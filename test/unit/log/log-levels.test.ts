// src/log/logger.ts: each sink gets the lines at or above its level, formatted and redacted; a level no sink takes
// is dropped before any formatting (the idle loop's VERBOSE lines cost nothing unless Logs.Verbose is on).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Logger } from '../../../src/log/logger.ts';

test('each sink gets the lines at or above its level; a level no sink takes reaches none', () => {
  const log = new Logger();
  const info: string[] = [];
  const all: string[] = [];
  log.addSink({ write: (l) => void info.push(l) }, 'INFO');
  log.verbose('only for verbose');
  assert.deepEqual(info, []);
  log.addSink({ write: (l) => void all.push(l) }, 'VERBOSE');
  log.verbose('GET https://x.blob.core.windows.net/c/b?sv=2020&sig=SECRET');
  log.warn('a warning');
  assert.equal(info.length, 1);
  assert.match(info[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z WARNING Daemon a warning$/);
  assert.equal(all.length, 2);
  assert.match(all[0]!, / VERBOSE Daemon GET https:\/\/x\.blob\.core\.windows\.net\/c\/b\?/);
  assert.doesNotMatch(all[0]!, /SECRET/);
});
