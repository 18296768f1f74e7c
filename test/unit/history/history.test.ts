// The goal-state history (docs/protocol.md §7.3, §6.1; WALinuxAgent issue #2836): one folder per new goal state,
// status saves into the current folder only, redaction, and the bounds in entries and in bytes — including a
// WireServer unreachable for a long time and a goal state that keeps changing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { GoalStateHistory, historyTag, STATUS_FILE } from '../../../src/history/history.ts';

function setup(t: { after(fn: () => void): void }, opts: { maxEntries?: number; maxBytes?: number } = {}) {
  const lib = mkdtempSync(join(tmpdir(), 'history-'));
  t.after(() => rmSync(lib, { recursive: true, force: true }));
  let clock = Date.parse('2025-01-02T03:04:05.678Z');
  const history = new GoalStateHistory({ libDir: lib, now: () => new Date(clock), ...opts });
  const entries = () => (existsSync(history.dir) ? readdirSync(history.dir).sort() : []);
  const tick = (s: number) => {
    clock += s * 1000;
  };
  return { lib, history, entries, tick };
}

test('a folder per new goal state, named <timestamp>__<tag>; the same goal state reuses it', (t) => {
  const { history, entries, tick } = setup(t);
  assert.equal(history.current, null);
  const a = history.beginGoalState('1');
  assert.equal(basename(a), '2025-01-02T03-04-05__1');
  tick(6);
  assert.equal(history.beginGoalState('1'), a, 'a re-fetch of the same goal state makes nothing');
  const b = history.beginGoalState(historyTag('2', '8584716355544722414'));
  assert.equal(basename(b), '2025-01-02T03-04-11__2-8584716355544722414');
  assert.equal(history.current, b);
  assert.deepEqual(entries(), ['2025-01-02T03-04-05__1', '2025-01-02T03-04-11__2-8584716355544722414']);
});

test('documents are saved redacted; waagent_status.json is replaced in the current folder', (t) => {
  const { history } = setup(t);
  const dir = history.beginGoalState('3');
  const ec =
    '<StatusUploadBlob>https://a.blob.core.windows.net/c/s?sv=1&amp;sig=SECRETSIG</StatusUploadBlob><ProtectedSettings>BASE64SECRET</ProtectedSettings>';
  assert.equal(history.save('ExtensionsConfig.xml', ec), true);
  const saved = readFileSync(join(dir, 'ExtensionsConfig.xml'), 'utf8');
  assert.ok(!saved.includes('SECRETSIG') && !saved.includes('BASE64SECRET'), saved);
  assert.equal(history.saveStatus('{"n": 1}'), true);
  assert.equal(history.saveStatus('{"n": 2}'), true);
  assert.equal(readFileSync(join(dir, STATUS_FILE), 'utf8'), '{"n": 2}');
  assert.deepEqual(readdirSync(dir).sort(), ['ExtensionsConfig.xml', STATUS_FILE]);
  assert.equal(history.save('../escape.xml', 'x'), false, 'only plain file names');
  assert.equal(history.save('a/b.xml', 'x'), false);
});

test('status saves before any goal state make no folder', (t) => {
  const { history, entries } = setup(t);
  for (let i = 0; i < 100; i++) assert.equal(history.saveStatus(`{"cycle": ${i}}`), false);
  assert.deepEqual(entries(), []);
});

test('WireServer unreachable for days: a status save every 6 s adds nothing to the history', (t) => {
  const { history, entries, tick } = setup(t);
  history.beginGoalState('5');
  // three days of cycles, every one re-entering the same goal state and saving the status
  for (let i = 0; i < (3 * 86400) / 6; i += 433) {
    tick(6 * 433);
    history.beginGoalState('5');
    history.saveStatus(`{"cycle": ${i}}`);
  }
  assert.equal(entries().length, 1);
  assert.deepEqual(readdirSync(history.current!), [STATUS_FILE]);
});

test('bounded in entries: the oldest go first, the current stays, legacy zips count, unknown names are left alone', (t) => {
  const { history, entries, tick } = setup(t, { maxEntries: 5 });
  mkdirSync(history.dir, { recursive: true });
  writeFileSync(join(history.dir, '2020-01-01T00-00-00__old.zip'), 'zip');
  writeFileSync(join(history.dir, 'README'), 'not ours');
  for (let i = 1; i <= 12; i++) {
    history.beginGoalState(String(i));
    history.saveStatus('{}');
    tick(60);
  }
  const left = entries();
  assert.ok(left.includes('README'));
  const ours = left.filter((n) => n !== 'README');
  assert.equal(ours.length, 5);
  assert.deepEqual(
    ours.map((n) => n.split('__')[1]),
    ['8', '9', '10', '11', '12'],
  );
  assert.equal(basename(history.current!), ours.at(-1));
});

test('bounded in bytes: old folders are removed until the total fits; the current folder is never removed', (t) => {
  const { history, entries, tick } = setup(t, { maxBytes: 10_000 });
  for (let i = 1; i <= 6; i++) {
    history.beginGoalState(`g${i}`);
    history.save('ExtensionsConfig.xml', 'e'.repeat(3000));
    tick(1);
  }
  history.beginGoalState('g7');
  let total = 0;
  for (const n of entries()) for (const f of readdirSync(join(history.dir, n))) total += readFileSync(join(history.dir, n, f)).length;
  assert.ok(total <= 10_000, `total ${total}`);
  assert.deepEqual(
    entries().map((n) => n.split('__')[1]),
    ['g4', 'g5', 'g6', 'g7'],
  );
  // one huge current folder alone over the bound stays
  history.save('VmSettings.json', 'v'.repeat(20_000));
  tick(1);
  history.beginGoalState('g8');
  assert.deepEqual(
    entries().map((n) => n.split('__')[1]),
    ['g8'],
    'g7 went: alone it is over the bound',
  );
});

test('a goal state that changes every cycle stays within the entry bound', (t) => {
  const { history, entries, tick } = setup(t, { maxEntries: 50 });
  for (let i = 0; i < 120; i++) {
    history.beginGoalState(`inc${i}`);
    history.saveStatus('{"x": 1}');
    tick(6);
  }
  assert.equal(entries().length, 50);
});

test('historyTag keeps file names safe', () => {
  assert.equal(historyTag('1'), '1');
  assert.equal(historyTag('1', '"etag/../x"'), '1-_etag_.._x_');
  assert.equal(historyTag(''), '_');
  assert.equal(historyTag('x'.repeat(300)).length, 100);
});

test('waagent_status.json is rewritten only when more than its timestamps changed', () => {
  const lib = mkdtempSync(join(tmpdir(), 'history-status-'));
  const history = new GoalStateHistory({ libDir: lib });
  history.beginGoalState('1');
  const doc = (t: string, status: string) =>
    `{"timestampUTC": "${t}", "aggregateStatus": {"guestAgentStatus": {"status": "${status}", "timestamp": "${t}"}}}`;
  const file = join(history.current!, 'waagent_status.json');
  assert.equal(history.saveStatus(doc('2025-01-01T00:00:00Z', 'Ready')), true);
  const first = statSync(file).ino;
  assert.equal(history.saveStatus(doc('2025-01-01T00:00:06Z', 'Ready')), true);
  assert.equal(statSync(file).ino, first, 'not rewritten for new timestamps alone');
  assert.match(readFileSync(file, 'utf8'), /00:00:00Z/);
  assert.equal(history.saveStatus(doc('2025-01-01T00:00:12Z', 'NotReady')), true);
  assert.match(readFileSync(file, 'utf8'), /NotReady/);
  history.beginGoalState('2');
  assert.equal(history.saveStatus(doc('2025-01-01T00:00:18Z', 'NotReady')), true);
  assert.ok(existsSync(join(history.current!, 'waagent_status.json')), 'a new goal state folder gets its own copy');
});
