// The journal sink: under systemd (JOURNAL_STREAM names stderr), INFO and above also go to stderr with the
// journal's `<N>` priority prefixes and without our own timestamp.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Logger, stderrIsJournal } from '../../../src/log/logger.ts';

test('stderrIsJournal: only when JOURNAL_STREAM names the very device and inode of stderr', () => {
  const fd2 = { dev: 27, ino: 4711 };
  assert.equal(stderrIsJournal({ JOURNAL_STREAM: '27:4711' }, fd2), true);
  assert.equal(stderrIsJournal({ JOURNAL_STREAM: '27:4712' }, fd2), false, 'stderr redirected after systemd started us');
  assert.equal(stderrIsJournal({ JOURNAL_STREAM: '28:4711' }, fd2), false);
  assert.equal(stderrIsJournal({}, fd2), false);
  assert.equal(stderrIsJournal({ JOURNAL_STREAM: 'garbage' }, fd2), false);
  assert.equal(stderrIsJournal({ JOURNAL_STREAM: '27:4711' }, null), false);
});

test('journal lines: priority prefix per level, no timestamp, INFO and above, secrets redacted', (t) => {
  const written: string[] = [];
  t.mock.method(process.stderr, 'write', (chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  const log = new Logger();
  log.addJournal('INFO');
  log.verbose('not for the journal');
  log.info('provisioning finished');
  log.warn('the platform cannot be reached');
  log.error('failed: https://a.blob.core.windows.net/c/b?sv=2020&sig=SECRETSIG');
  t.mock.restoreAll();
  assert.equal(written.length, 3, written.join(''));
  assert.equal(written[0], '<6>INFO Daemon provisioning finished\n');
  assert.equal(written[1], '<4>WARNING Daemon the platform cannot be reached\n');
  assert.match(written[2]!, /^<3>ERROR Daemon failed: /);
  assert.doesNotMatch(written[2]!, /SECRETSIG/);
});
